// The handshake's state machines and the sealed frame stream. Byte 0 picks the mode:
//   0: the rest is the stub's hello (JSON) to the coordinator's machine: accepted exactly when its
//      proof is the HMAC for the challenge's nonce, its own well-formed nonce and its node id;
//   1: the rest is the coordinator's answer (JSON) to a stub that sent its hello: keys come out
//      exactly when it is `accepted` with the coordinator's proof;
//   2: bytes 1-2 are ignored, the rest is cut at '\n' into messages, sealed, and decoded in chunks:
//      every message comes back, in order, identical (strings that are not UTF-8: repaired);
//   3: as 2, then bytes 1-2 pick one bit of the stream to flip: the frames before it decode, the frame
//      it hits and every later one never do.
#include "fuzz_support.hpp"
#include "protocol/frame.hpp"
#include "protocol/handshake.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace {

namespace p = rty::protocol;
namespace json = boost::json;

const std::string secret = "fuzz-secret";
const std::string nonce_c = "0123456789abcdef0123456789abcdef";
const std::string nonce_s = "ffeeddccbbaa99887766554433221100";

std::optional<json::object> object_of(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

void coordinator_side(std::string_view text) {
  auto o = object_of(text);
  if (!o) return;
  auto verdict = p::coordinator_handshake(secret, nonce_c).on_hello(*o);
  auto h = p::hello::from_json(*o);
  const bool right = h && p::well_formed_nonce(h->nonce) && h->nonce != nonce_c &&
                     h->proof == p::stub_proof(secret, nonce_c, h->nonce, h->node_id);
  RTY_FUZZ_CHECK(bool(verdict) == right, "coordinator handshake: verdict differs from the proof rule");
  if (verdict) {
    const auto keys = p::derive_session_keys(secret, nonce_c, h->nonce, h->node_id);
    RTY_FUZZ_CHECK(verdict->keys.coordinator_to_stub == keys.coordinator_to_stub, "wrong session key");
    RTY_FUZZ_CHECK(verdict->reply.proof == p::coordinator_proof(secret, nonce_c, h->nonce, h->node_id),
                   "wrong coordinator proof");
  }
}

void stub_side(std::string_view text) {
  auto o = object_of(text);
  if (!o) return;
  p::hello id;
  id.node_id = "nid001";
  p::stub_handshake stub(secret, id, nonce_s);
  RTY_FUZZ_CHECK(stub.on_challenge(p::challenge{p::version, nonce_c}.to_json()), "a valid challenge refused");
  auto keys = stub.on_accepted(*o);
  auto a = p::accepted::from_json(*o);
  const bool right = a && a->proof == p::coordinator_proof(secret, nonce_c, nonce_s, "nid001");
  RTY_FUZZ_CHECK(bool(keys) == right, "stub handshake: keys without the coordinator's proof, or refused it");
}

void stream(std::string_view text, bool flip, std::size_t where) {
  std::vector<json::object> sent;
  for (std::size_t at = 0; at <= text.size();) {
    const auto end = std::min(text.find('\n', at), text.size());
    const auto piece = text.substr(at, end - at);
    auto o = object_of(piece);
    if (!o || !o->if_contains("type") || !o->at("type").is_string()) o = json::object{{"type", "x"}, {"d", piece}};
    sent.push_back(std::move(*o));
    at = end + 1;
  }
  const auto keys = p::derive_session_keys(secret, nonce_c, nonce_s, "nid001");
  p::frame_sealer out(keys.stub_to_coordinator);
  std::string bytes;
  std::vector<std::size_t> ends;  // where each frame ends in `bytes`
  for (auto& m : sent) {
    bytes += out.seal(m);
    ends.push_back(bytes.size());
  }
  std::size_t hit = sent.size();
  if (flip) {
    const std::size_t bit = where % (bytes.size() * 8);
    bytes[bit / 8] = static_cast<char>(bytes[bit / 8] ^ (1 << (bit % 8)));
    hit = 0;
    while (ends[hit] <= bit / 8) ++hit;
  }
  p::frame_decoder in(p::default_max_frame);
  in.require_mac(keys.stub_to_coordinator);
  std::size_t got = 0;
  for (std::size_t fed = 0; fed < bytes.size(); fed += 7) {
    in.feed(std::string_view(bytes).substr(fed, 7));
    for (;;) {
      auto m = in.next();
      if (!m || !*m) break;
      RTY_FUZZ_CHECK(got < hit, "a frame at or after a flipped bit was accepted");
      // Strings that are not UTF-8 come back with U+FFFD (protocol/frame.cpp); all else unchanged.
      const auto original = json::serialize(sent[got]);
      if (object_of(original))
        RTY_FUZZ_CHECK(json::serialize(**m) == original, "a sealed frame came back changed");
      ++got;
    }
  }
  RTY_FUZZ_CHECK(got == hit, "frames before the damage were lost, or an intact stream was not fully decoded (" +
                                 std::to_string(got) + " of " + std::to_string(hit) + (in.failed() ? ", decoder failed" : "") + ")");
}

}  // namespace

RTY_FUZZ_QUIET_INIT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const auto mode = data[0] & 3;
  if (mode == 0) coordinator_side(rty::fuzz::as_text(data + 1, size - 1));
  if (mode == 1) stub_side(rty::fuzz::as_text(data + 1, size - 1));
  if (mode >= 2) stream(rty::fuzz::as_text(data + 3, size - 3), mode == 3, (std::size_t(data[1]) << 8) | data[2]);
  return 0;
}
