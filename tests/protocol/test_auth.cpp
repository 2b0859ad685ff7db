#include <boost/test/unit_test.hpp>

#include "protocol/auth.hpp"

#include <set>

using namespace rty::protocol;

namespace {
std::string unhex(std::string_view h) {
  std::string out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  return out;
}
}  // namespace

BOOST_AUTO_TEST_CASE(sha256_fips_vectors) {
  BOOST_TEST(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  BOOST_TEST(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  BOOST_TEST(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
             "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  BOOST_TEST(sha256_hex(std::string(1000000, 'a')) ==
             "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Lengths around the padding boundary (55, 56, 64 bytes).
  BOOST_TEST(sha256_hex(std::string(55, 'a')) == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  BOOST_TEST(sha256_hex(std::string(56, 'a')) == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  BOOST_TEST(sha256_hex(std::string(64, 'a')) == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

BOOST_AUTO_TEST_CASE(hmac_rfc4231_vectors) {
  // Test case 1
  BOOST_TEST(hmac_sha256_hex(std::string(20, '\x0b'), "Hi There") ==
             "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 2
  BOOST_TEST(hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
             "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 3
  BOOST_TEST(hmac_sha256_hex(std::string(20, '\xaa'), std::string(50, '\xdd')) ==
             "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  // Test case 4
  BOOST_TEST(hmac_sha256_hex(unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"), std::string(50, '\xcd')) ==
             "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
  // Test case 6: key longer than the block size
  BOOST_TEST(hmac_sha256_hex(std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First") ==
             "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // Test case 7
  BOOST_TEST(hmac_sha256_hex(std::string(131, '\xaa'),
                             "This is a test using a larger than block-size key and a larger than block-size data. "
                             "The key needs to be hashed before being used by the HMAC algorithm.") ==
             "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

BOOST_AUTO_TEST_CASE(random_material_is_hex_and_fresh) {
  const auto s = make_secret();
  const auto n = make_nonce();
  BOOST_TEST(s.size() == 64u);
  BOOST_TEST(n.size() == 32u);
  BOOST_TEST(s.find_first_not_of("0123456789abcdef") == std::string::npos);
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(make_nonce());
  BOOST_TEST(seen.size() == 100u);
}

BOOST_AUTO_TEST_CASE(proof_verifies_and_rejects) {
  const auto secret = make_secret();
  const auto nonce = make_nonce();
  const auto proof = auth_proof(secret, nonce, "node-3");
  BOOST_TEST(proof.size() == 64u);
  BOOST_TEST(proof.find(secret) == std::string::npos);
  BOOST_TEST(verify_proof(secret, nonce, "node-3", proof));
  BOOST_TEST(!verify_proof(make_secret(), nonce, "node-3", proof));   // wrong secret
  BOOST_TEST(!verify_proof(secret, make_nonce(), "node-3", proof));   // replay under a new nonce
  BOOST_TEST(!verify_proof(secret, nonce, "node-4", proof));          // proof bound to the node id
  BOOST_TEST(!verify_proof(secret, nonce, "node-3", proof.substr(1)));
  BOOST_TEST(!verify_proof(secret, nonce, "node-3", ""));
  std::string flipped = proof;
  flipped[10] = flipped[10] == '0' ? '1' : '0';
  BOOST_TEST(!verify_proof(secret, nonce, "node-3", flipped));
  // Separator keeps (nonce, node) pairs distinct.
  BOOST_TEST(auth_proof(secret, "ab", "c") != auth_proof(secret, "a", "bc"));
  // Empty secret is never accepted, even with a matching proof.
  BOOST_TEST(!verify_proof("", nonce, "n", auth_proof("", nonce, "n")));
}
