#include <boost/test/unit_test.hpp>

#include "protocol/auth.hpp"

#include <algorithm>
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
  const auto s = make_secret().value();
  const auto n = make_nonce().value();
  BOOST_TEST(s.size() == 64u);
  BOOST_TEST(n.size() == 32u);
  BOOST_TEST(s.find_first_not_of("0123456789abcdef") == std::string::npos);
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(make_nonce().value());
  BOOST_TEST(seen.size() == 100u);
}

BOOST_AUTO_TEST_CASE(sha256_in_pieces_equals_in_one) {
  // update() takes whole blocks straight from its input and tops up partial ones: every split of a
  // message across calls gives the same digest.
  std::string m;
  for (int i = 0; i < 300; ++i) m.push_back(static_cast<char>(i * 7));
  const auto whole = sha256(m);
  for (std::size_t a = 0; a <= m.size(); a += 13)
    for (std::size_t b = a; b <= m.size(); b += 29) {
      sha256_hasher h;
      h.update(std::string_view(m).substr(0, a)).update(std::string_view(m).substr(a, b - a)).update(std::string_view(m).substr(b));
      BOOST_TEST_REQUIRE((h.finish() == whole), "split at " << a << ", " << b);
    }
}

BOOST_AUTO_TEST_CASE(hmac_key_reuse) {
  // A precomputed key gives the same MAC for every message, any number of times.
  const hmac_sha256_key key("Jefe");
  for (int i = 0; i < 3; ++i)
    BOOST_TEST(to_hex(as_bytes(key("what do ya want for nothing?"))) ==
               "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  BOOST_TEST(equal_constant_time("abc", "abc"));
  BOOST_TEST(!equal_constant_time("abc", "abd"));
  BOOST_TEST(!equal_constant_time("abc", "ab"));
}

BOOST_AUTO_TEST_CASE(sha_extensions_agree_with_the_portable_code) {
  // Whichever compression function the CPU gets, both must agree on every input; on a CPU without
  // the SHA extensions compress_shani is the portable code and this checks nothing more.
  BOOST_TEST_MESSAGE("x86 SHA extensions: " << (rty::protocol::detail::have_shani() ? "yes" : "no"));
  std::uint32_t seed = 12345;
  for (int round = 0; round < 200; ++round) {
    std::uint8_t blocks[64 * 5];
    for (auto& b : blocks) b = static_cast<std::uint8_t>((seed = seed * 1103515245u + 12345u) >> 16);
    std::uint32_t a[8], b[8];
    for (int i = 0; i < 8; ++i) a[i] = b[i] = (seed = seed * 1103515245u + 12345u);
    const std::size_t n = 1 + round % 5;
    rty::protocol::detail::compress_portable(a, blocks, n);
    if (rty::protocol::detail::have_shani()) rty::protocol::detail::compress_shani(b, blocks, n);
    else rty::protocol::detail::compress_portable(b, blocks, n);
    BOOST_TEST_REQUIRE(std::equal(a, a + 8, b), "round " << round);
  }
}
