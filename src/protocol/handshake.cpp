#include "protocol/handshake.hpp"

#include "protocol/auth.hpp"

namespace rty::protocol {
namespace {

std::string transcript(std::string_view label, std::string_view nonce_c, std::string_view nonce_s,
                       std::string_view node_id) {
  std::string m(label);
  m.append(nonce_c).append("\n").append(nonce_s).append("\n").append(node_id);
  return m;
}

std::string hex(const digest& d) { return to_hex(as_bytes(d)); }

}  // namespace

std::string stub_proof(std::string_view secret, std::string_view nonce_c, std::string_view nonce_s,
                       std::string_view node_id) {
  return hex(hmac_sha256_key(secret)(transcript("raythenad-auth-v2\nstub\n", nonce_c, nonce_s, node_id)));
}

std::string coordinator_proof(std::string_view secret, std::string_view nonce_c, std::string_view nonce_s,
                              std::string_view node_id) {
  return hex(hmac_sha256_key(secret)(transcript("raythenad-auth-v2\ncoordinator\n", nonce_c, nonce_s, node_id)));
}

session_keys derive_session_keys(std::string_view secret, std::string_view nonce_c, std::string_view nonce_s,
                                 std::string_view node_id) {
  const auto base = hmac_sha256_key(secret)(transcript("raythenad-session-v2\n", nonce_c, nonce_s, node_id));
  const hmac_sha256_key k(as_bytes(base));
  return {k("coordinator-to-stub"), k("stub-to-coordinator")};
}

bool well_formed_nonce(std::string_view nonce) {
  return nonce.size() == 32 && nonce.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

coordinator_handshake::coordinator_handshake(std::string secret, std::string nonce)
    : secret_(std::move(secret)), nonce_(std::move(nonce)) {}

challenge coordinator_handshake::first_frame() const {
  challenge c;
  c.nonce = nonce_;
  return c;
}

rty::result<coordinator_handshake::result> coordinator_handshake::on_hello(const boost::json::object& frame) {
  if (done_) return rty::fail("a second hello on one connection");
  done_ = true;  // one attempt per connection: a wrong proof is never retried against the same nonce
  auto h = hello::from_json(frame);
  if (!h) return h.error();
  if (!well_formed_nonce(h->nonce)) return rty::fail("hello's nonce is not 32 lowercase hex digits");
  if (h->nonce == nonce_) return rty::fail("hello's nonce repeats the challenge's (a reflected handshake)");
  if (secret_.empty() ||
      !equal_constant_time(stub_proof(secret_, nonce_, h->nonce, h->node_id), h->proof))
    return rty::fail("wrong proof of the run's secret for node '" + h->node_id + "'");
  result r;
  r.reply.proof = coordinator_proof(secret_, nonce_, h->nonce, h->node_id);
  r.keys = derive_session_keys(secret_, nonce_, h->nonce, h->node_id);
  r.peer = std::move(*h);
  return r;
}

stub_handshake::stub_handshake(std::string secret, hello identity, std::string nonce)
    : secret_(std::move(secret)), hello_(std::move(identity)) {
  hello_.version = version;
  hello_.nonce = std::move(nonce);
}

rty::result<hello> stub_handshake::on_challenge(const boost::json::object& frame) {
  if (state_ != state::awaiting_challenge) return rty::fail("unexpected challenge");
  auto c = challenge::from_json(frame);
  if (!c) return c.error();
  if (!well_formed_nonce(c->nonce)) return rty::fail("challenge's nonce is not 32 lowercase hex digits");
  if (c->nonce == hello_.nonce) return rty::fail("challenge's nonce repeats ours (a reflected handshake)");
  nonce_c_ = c->nonce;
  hello_.proof = stub_proof(secret_, nonce_c_, hello_.nonce, hello_.node_id);
  state_ = state::awaiting_accepted;
  return hello_;
}

rty::result<session_keys> stub_handshake::on_accepted(const boost::json::object& frame) {
  if (state_ != state::awaiting_accepted) return rty::fail("unexpected accepted");
  state_ = state::done;
  if (auto type = message_type(frame); type && *type == error::type) {
    auto e = error::from_json(frame);
    return rty::fail("the coordinator refused this stub: " + (e ? e->message : e.error().message()));
  }
  auto a = accepted::from_json(frame);
  if (!a) return a.error();
  if (!equal_constant_time(coordinator_proof(secret_, nonce_c_, hello_.nonce, hello_.node_id), a->proof))
    return rty::fail("the peer did not prove the run's secret: it is not this run's coordinator");
  return derive_session_keys(secret_, nonce_c_, hello_.nonce, hello_.node_id);
}

}  // namespace rty::protocol
