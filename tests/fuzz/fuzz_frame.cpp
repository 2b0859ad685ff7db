// Control-channel input: the frame decoder fed in chunks, then every typed message's from_json on what
// it yields. Layout: byte 0 picks the chunk size the bytes arrive in (1..256) and a small or the default
// frame limit; the rest is the byte stream.
// Properties: a failed decoder stays failed and buffers nothing; a message that parses re-encodes to a
// frame that decodes and parses to the same JSON (what the peer sends is what we understood); the
// coordinator's handshake accepts a hello exactly when its proof is the HMAC for its nonces and node.
#include "fuzz_support.hpp"
#include "protocol/auth.hpp"
#include "protocol/frame.hpp"
#include "protocol/handshake.hpp"
#include "protocol/messages.hpp"

#include <boost/json/serialize.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace {

namespace p = rty::protocol;

template <class Message>
void round_trip(const boost::json::object& o) {
  auto m = Message::from_json(o);
  if (!m) {
    RTY_FUZZ_CHECK(!m.error().message().empty(), "from_json error without a message");
    return;
  }
  const boost::json::object first = m->to_json();
  p::frame_decoder again;
  again.feed(p::encode(*m));
  auto decoded = again.next();
  RTY_FUZZ_CHECK(decoded && *decoded, "re-encoded message does not decode: " +
                                          (decoded ? std::string("incomplete") : decoded.error().message()));
  auto m2 = Message::from_json(**decoded);
  RTY_FUZZ_CHECK(m2, "re-encoded message does not parse: " + (m2 ? std::string() : m2.error().message()));
  RTY_FUZZ_CHECK(boost::json::serialize(m2->to_json()) == boost::json::serialize(first),
                 "round trip changed the message: " + boost::json::serialize(first));
}

// The coordinator checks a hello's proof against the nonce it sent and the stub's: only the exact HMAC
// passes, whatever length or bytes the peer put there.
void check_proof(const boost::json::object& o) {
  const std::string nonce_c = "0123456789abcdef0123456789abcdef";
  auto verdict = p::coordinator_handshake("fuzz-secret", nonce_c).on_hello(o);
  auto h = p::hello::from_json(o);
  if (!h) {
    RTY_FUZZ_CHECK(!verdict, "a hello that does not parse was accepted");
    return;
  }
  const bool right = p::well_formed_nonce(h->nonce) && h->nonce != nonce_c &&
                     h->proof == p::stub_proof("fuzz-secret", nonce_c, h->nonce, h->node_id);
  RTY_FUZZ_CHECK(bool(verdict) == right, "the handshake disagrees with the proof it computes");
}

void typed(const boost::json::object& o) {
  auto type = p::message_type(o);
  RTY_FUZZ_CHECK(type, "decoder returned a message without a string type");
  // Every parser sees every message: a mismatched type must be refused, not misread.
  round_trip<p::challenge>(o);
  round_trip<p::hello>(o);
  round_trip<p::accepted>(o);
  round_trip<p::welcome>(o);
  round_trip<p::heartbeat>(o);
  round_trip<p::ranges_request>(o);
  round_trip<p::ranges_reply>(o);
  round_trip<p::ranges_cancel>(o);
  round_trip<p::ranges_return>(o);
  round_trip<p::ranges_update>(o);
  round_trip<p::job_update>(o);
  round_trip<p::pilot_exit>(o);
  round_trip<p::stop>(o);
  round_trip<p::error>(o);
  check_proof(o);
}

}  // namespace

RTY_FUZZ_QUIET_INIT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = 1 + (data[0] & 0x7f) * 2;
  const std::size_t max_frame = (data[0] & 0x80) ? 64 : p::default_max_frame;
  const auto stream = rty::fuzz::as_text(data + 1, size - 1);

  p::frame_decoder dec(max_frame);
  std::size_t fed = 0;
  while (true) {
    auto r = dec.next();
    if (!r) {
      RTY_FUZZ_CHECK(dec.failed() && dec.buffered() == 0, "error but decoder not failed or still buffering");
      dec.feed(stream.substr(fed));
      RTY_FUZZ_CHECK(!dec.next() && dec.buffered() == 0, "failed decoder accepted more bytes");
      break;
    }
    if (*r) {
      typed(**r);
      continue;
    }
    if (fed >= stream.size()) break;
    const auto piece = stream.substr(fed, chunk);
    fed += piece.size();
    dec.feed(piece);
  }
  return 0;
}
