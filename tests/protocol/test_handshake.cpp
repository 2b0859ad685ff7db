// The handshake's two state machines and the sealed frames, byte by byte. The expected bytes were
// computed independently, with Python's hmac/hashlib/json from the formulas in protocol/handshake.hpp
// (secret, nonces and node id below), so these tests pin the wire format, not just self-consistency.
#include <boost/test/unit_test.hpp>

#include "protocol/auth.hpp"
#include "protocol/frame.hpp"
#include "protocol/handshake.hpp"

#include <string>

using namespace rty::protocol;
namespace json = boost::json;

namespace {

const std::string secret = "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7";
const std::string nonce_c = "00112233445566778899aabbccddeeff";
const std::string nonce_s = "ffeeddccbbaa99887766554433221100";

std::string hex(std::string_view bytes) { return to_hex(bytes); }

hello identity() {
  hello h;
  h.node_id = "node-0";
  h.host = "h";
  h.pid = 7;
  return h;
}

json::object decode_one(const std::string& frame, frame_decoder& d) {
  d.feed(frame);
  auto m = d.next();
  BOOST_TEST_REQUIRE(m.has_value(), (m ? "" : m.error().message()));
  BOOST_TEST_REQUIRE(m->has_value());
  return std::move(**m);
}

const char* const challenge_hex =
    "0000004b7b2274797065223a226368616c6c656e6765222c2276657273696f6e223a332c226e6f6e6365223a2230303131323233"
    "3334343535363637373838393961616262636364646565666622" "7d";
const char* const hello_hex =
    "000000b87b2274797065223a2268656c6c6f222c2276657273696f6e223a332c226e6f64655f6964223a226e6f64652d30222c22"
    "686f7374223a2268222c22706964223a372c226e6f6e6365223a22666665656464636362626161393938383737363635353434333332"
    "3231313030222c2270726f6f66223a2230306165303338326364633539643135333233383639393035656462393237326466373031"
    "396637363331313437366131383535333536646432303134323434227d";
const char* const accepted_hex =
    "0000005e7b2274797065223a226163636570746564222c2270726f6f66223a223665636362613130653631383236343366396462"
    "3339323937653234376261313965346437306666653864353733323361346461376437386664616133376338227d";

}  // namespace

BOOST_AUTO_TEST_CASE(handshake_bytes_match_the_spec) {
  coordinator_handshake coordinator(secret, nonce_c);
  stub_handshake stub(secret, identity(), nonce_s);

  const auto c_frame = encode(coordinator.first_frame());
  BOOST_TEST(hex(c_frame) == challenge_hex);

  frame_decoder stub_in(handshake_max_frame), coord_in(handshake_max_frame);
  auto h = stub.on_challenge(decode_one(c_frame, stub_in));
  BOOST_TEST_REQUIRE(h.has_value(), (h ? "" : h.error().message()));
  const auto h_frame = encode(*h);
  BOOST_TEST(hex(h_frame) == hello_hex);
  BOOST_TEST(h_frame.find(secret) == std::string::npos);
  BOOST_TEST(h_frame.size() < handshake_max_frame);

  auto verified = coordinator.on_hello(decode_one(h_frame, coord_in));
  BOOST_TEST_REQUIRE(verified.has_value(), (verified ? "" : verified.error().message()));
  BOOST_TEST(verified->peer.node_id == "node-0");
  BOOST_TEST(verified->peer.pid == 7);
  const auto a_frame = encode(verified->reply);
  BOOST_TEST(hex(a_frame) == accepted_hex);

  auto keys = stub.on_accepted(decode_one(a_frame, stub_in));
  BOOST_TEST_REQUIRE(keys.has_value(), (keys ? "" : keys.error().message()));
  BOOST_TEST(hex(as_bytes(keys->coordinator_to_stub)) ==
             "4c3210846c3ea37a4fbbb2e219f3f773f2ea92292e4381c526c8b87ebe7026da");
  BOOST_TEST(hex(as_bytes(keys->stub_to_coordinator)) ==
             "a1ed508ff93468fcaeb6eb3072e3a25d107f7a559df1792fd73b0d5e9c83ecfd");
  BOOST_TEST((keys->coordinator_to_stub == verified->keys.coordinator_to_stub));
  BOOST_TEST((keys->stub_to_coordinator == verified->keys.stub_to_coordinator));
}

BOOST_AUTO_TEST_CASE(sealed_frames_match_the_spec) {
  const auto keys = derive_session_keys(secret, nonce_c, nonce_s, "node-0");
  frame_sealer to_stub(keys.coordinator_to_stub), to_coordinator(keys.stub_to_coordinator);
  const auto hb = heartbeat{}.to_json();
  BOOST_TEST(hex(to_stub.seal(hb)) ==
             "000000347b2274797065223a22686561727462656174227d"
             "4f06955a9492dbc5290fc7033fd54ef68412095590f916bffc8dcf6d787a2716");
  BOOST_TEST(hex(to_stub.seal(hb)) ==  // the same message, the next sequence number: another tag
             "000000347b2274797065223a22686561727462656174227d"
             "2d9d2be842530fa96bc1cf33abe295700a85145d6037d18d1f17c2d9a72d5b9b");
  BOOST_TEST(hex(to_coordinator.seal(hb)) ==
             "000000347b2274797065223a22686561727462656174227d"
             "00251c968e38105f4faf5bab68953eb9928d76c61c1537b91901c84f6c0225e3");
}

BOOST_AUTO_TEST_CASE(a_coordinator_without_the_secret_gets_nothing_used) {
  // The stub answers a challenge (its proof covers its own fresh nonce too, so it is useless on any
  // other connection), then refuses an accepted whose proof is not the coordinator's.
  stub_handshake stub(secret, identity(), nonce_s);
  BOOST_TEST_REQUIRE(stub.on_challenge(challenge{version, nonce_c}.to_json()).has_value());
  const auto forged = accepted{coordinator_proof("not-the-secret", nonce_c, nonce_s, "node-0")}.to_json();
  auto r = stub.on_accepted(forged);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().message().find("not this run's coordinator") != std::string::npos);

  // The stub's own proof sent back as the coordinator's (a reflection) is refused too.
  stub_handshake stub2(secret, identity(), nonce_s);
  auto h = stub2.on_challenge(challenge{version, nonce_c}.to_json());
  BOOST_TEST(!stub2.on_accepted(accepted{h->proof}.to_json()).has_value());

  // A welcome instead of accepted: the machine never yields keys without the proof.
  stub_handshake stub3(secret, identity(), nonce_s);
  BOOST_TEST_REQUIRE(stub3.on_challenge(challenge{version, nonce_c}.to_json()).has_value());
  welcome w;
  BOOST_TEST(!stub3.on_accepted(w.to_json()).has_value());
  // An explicit refusal names itself.
  stub_handshake stub4(secret, identity(), nonce_s);
  BOOST_TEST_REQUIRE(stub4.on_challenge(challenge{version, nonce_c}.to_json()).has_value());
  auto refused = stub4.on_accepted(error{"authentication failed"}.to_json());
  BOOST_TEST(refused.error().message() == "the coordinator refused this stub: authentication failed");
}

BOOST_AUTO_TEST_CASE(a_stub_without_the_secret_is_refused) {
  const auto fresh = [] { return coordinator_handshake(secret, nonce_c); };
  hello h = identity();
  h.nonce = nonce_s;
  h.proof = stub_proof("wrong", nonce_c, nonce_s, "node-0");
  BOOST_TEST(fresh().on_hello(h.to_json()).error().message() == "wrong proof of the run's secret for node 'node-0'");
  // A proof recorded on another connection (another challenge nonce) is refused: no replay.
  h.proof = stub_proof(secret, "0123456789abcdef0123456789abcdef", nonce_s, "node-0");
  BOOST_TEST(!fresh().on_hello(h.to_json()).has_value());
  // Bound to the node id.
  h.proof = stub_proof(secret, nonce_c, nonce_s, "node-1");
  BOOST_TEST(!fresh().on_hello(h.to_json()).has_value());
  // The stub's nonce must be fresh-looking and not the coordinator's own (a reflected challenge).
  h.nonce = nonce_c;
  h.proof = stub_proof(secret, nonce_c, nonce_c, "node-0");
  BOOST_TEST(fresh().on_hello(h.to_json()).error().message().find("reflected") != std::string::npos);
  h.nonce = "short";
  BOOST_TEST(fresh().on_hello(h.to_json()).error().message().find("32 lowercase hex") != std::string::npos);
  // Old protocol version: named.
  json::object v1 = h.to_json();
  v1["version"] = 1;
  BOOST_TEST(fresh().on_hello(v1).error().message().find("protocol version mismatch") != std::string::npos);
  // An empty secret never authenticates anybody.
  coordinator_handshake empty("", nonce_c);
  h.nonce = nonce_s;
  h.proof = stub_proof("", nonce_c, nonce_s, "node-0");
  BOOST_TEST(!empty.on_hello(h.to_json()).has_value());
  // One attempt per connection: the right proof after a wrong one is refused as well.
  auto once = fresh();
  h.proof = std::string(64, '0');
  BOOST_TEST(!once.on_hello(h.to_json()).has_value());
  h.proof = stub_proof(secret, nonce_c, nonce_s, "node-0");
  BOOST_TEST(once.on_hello(h.to_json()).error().message() == "a second hello on one connection");
}

BOOST_AUTO_TEST_CASE(sealed_stream_refuses_injection_replay_and_reflection) {
  const auto keys = derive_session_keys(secret, nonce_c, nonce_s, "node-0");
  const auto msg = [](int n) { return json::object{{"type", "ranges_request"}, {"request_id", n}, {"n_ranges", 1}}; };

  {  // in order: every frame decodes, split at any byte
    frame_sealer out(keys.stub_to_coordinator);
    std::string stream;
    for (int i = 0; i < 5; ++i) stream += out.seal(msg(i));
    frame_decoder in;
    in.require_mac(keys.stub_to_coordinator);
    int got = 0;
    for (char c : stream) {
      in.feed(std::string_view(&c, 1));
      for (auto m = in.next(); m && *m; m = in.next()) BOOST_TEST((**m).at("request_id").as_int64() == got++);
    }
    BOOST_TEST(got == 5);
    BOOST_TEST(!in.failed());
  }
  const auto refused = [&](const std::string& stream, const digest& key, int good) {
    frame_decoder in;
    in.require_mac(key);
    in.feed(stream);
    int n = 0;
    for (;;) {
      auto m = in.next();
      if (!m) return n == good && in.failed();
      if (!*m) return false;  // the bad frame must be an error, not "need more bytes"
      ++n;
    }
  };
  frame_sealer out(keys.stub_to_coordinator);
  const auto f0 = out.seal(msg(0)), f1 = out.seal(msg(1));
  // An unsealed frame (an injected one, written without the key).
  BOOST_TEST(refused(f0 + encode_frame(msg(9)), keys.stub_to_coordinator, 1));
  // A replayed frame, and a reordered pair.
  BOOST_TEST(refused(f0 + f0, keys.stub_to_coordinator, 1));
  BOOST_TEST(refused(f1 + f0, keys.stub_to_coordinator, 0));
  // A frame reflected back to its sender (the other direction's key).
  BOOST_TEST(refused(f0, keys.coordinator_to_stub, 0));
  // One flipped bit in the JSON, or in the tag.
  for (std::size_t at : {std::size_t(10), f0.size() - 1}) {
    auto bad = f0;
    bad[at] = static_cast<char>(bad[at] ^ 1);
    BOOST_TEST(refused(bad, keys.stub_to_coordinator, 0));
  }
  // A frame shorter than a tag.
  BOOST_TEST(refused(std::string("\0\0\0\x03{}x", 7), keys.stub_to_coordinator, 0));
}

BOOST_AUTO_TEST_CASE(handshake_frame_limit) {
  // Until the hello is verified a frame may hold 4 KiB: a 16 MiB length prefix is refused at once.
  frame_decoder in(handshake_max_frame);
  in.feed(std::string("\x00\x00\x10\x01", 4));
  auto m = in.next();
  BOOST_TEST_REQUIRE(!m.has_value());
  BOOST_TEST(m.error().message().find("exceeds the limit of 4096") != std::string::npos);
  // After require_mac + set_max_frame a large sealed frame passes.
  const auto keys = derive_session_keys(secret, nonce_c, nonce_s, "node-0");
  frame_decoder big(handshake_max_frame);
  big.require_mac(keys.coordinator_to_stub);
  big.set_max_frame(default_max_frame);
  frame_sealer out(keys.coordinator_to_stub);
  big.feed(out.seal(json::object{{"type", "welcome"}, {"pad", std::string(100000, 'x')}}));
  auto w = big.next();
  BOOST_TEST_REQUIRE(w.has_value());
  BOOST_TEST(w->has_value());
}

BOOST_AUTO_TEST_CASE(framing_in_two_steps_is_the_same_frame) {
  // The stub sizes a frame before sending it (a frame past the limit would lose the node): encoding
  // the body first and framing it after must give the very bytes encode_frame / seal give.
  const json::object m{{"type", "job_update"}, {"state", "running"}, {"fields", json::object{{"x", "y\x80"}}}};
  BOOST_TEST(frame_body(encode_body(m)) == encode_frame(m));
  const auto keys = derive_session_keys(secret, nonce_c, nonce_s, "node-0");
  frame_sealer a(keys.stub_to_coordinator), b(keys.stub_to_coordinator);
  BOOST_TEST(a.seal_body(encode_body(m)) == b.seal(m));
  BOOST_TEST(a.sent() == 1u);
  // Sealing in place the frame whose size was checked (net/channel.hpp's send_within): the same bytes.
  frame_sealer c(keys.stub_to_coordinator), d(keys.stub_to_coordinator);
  auto frame = encode_frame(m);
  c.seal_frame(frame);
  BOOST_TEST(frame == d.seal(m));
  BOOST_TEST(c.sent() == 1u);
}
