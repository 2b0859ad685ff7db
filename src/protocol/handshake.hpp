#pragma once
// The control channel's handshake, one sans-I/O state machine per side: frames in, frames out, no
// sockets. Both sides know the run's secret (a file only the run's uid can read); neither ever sends it.
//
//   coordinator                                stub
//   challenge {version, nonce_c}          →
//                                         ←    hello {version, node_id, host, pid, nonce_s, proof_s}
//   (checks proof_s)
//   accepted {proof_c}                    →    (checks proof_c before it uses anything else)
//   welcome, … sealed under the session keys ⇄ every further frame sealed (protocol/frame.hpp)
//
//   proof_s = HMAC(secret, "raythenad-auth-v2\nstub\n"        nonce_c "\n" nonce_s "\n" node_id)
//   proof_c = HMAC(secret, "raythenad-auth-v2\ncoordinator\n" nonce_c "\n" nonce_s "\n" node_id)
//   base    = HMAC(secret, "raythenad-session-v2\n"           nonce_c "\n" nonce_s "\n" node_id)
//   key(coordinator→stub) = HMAC(base, "coordinator-to-stub"), key(stub→coordinator) = HMAC(base, "stub-to-coordinator")
//
// Each side's proof covers the other's fresh nonce, so a recorded proof is useless on another
// connection, and a peer without the secret can neither pass as a stub nor as the coordinator. A relay
// that forwards the handshake gets nothing from it: without the secret it cannot compute the session
// keys, so it cannot inject, alter or replay a frame afterwards.
#include "protocol/messages.hpp"
#include "protocol/sha256.hpp"

#include <string>
#include <string_view>

namespace rty::protocol {

struct session_keys {
  digest coordinator_to_stub{};
  digest stub_to_coordinator{};
};

// The proofs and keys (exposed for the tests and the benchmark's driver).
std::string stub_proof(std::string_view secret, std::string_view nonce_c, std::string_view nonce_s, std::string_view node_id);
std::string coordinator_proof(std::string_view secret, std::string_view nonce_c, std::string_view nonce_s,
                              std::string_view node_id);
session_keys derive_session_keys(std::string_view secret, std::string_view nonce_c, std::string_view nonce_s,
                                 std::string_view node_id);
// A nonce as make_nonce() makes it: 32 lowercase hex digits.
bool well_formed_nonce(std::string_view nonce);

class coordinator_handshake {
 public:
  struct result {
    hello peer;          // the stub's verified identity
    accepted reply;      // send it unsealed, then seal everything with keys
    session_keys keys;
  };

  // nonce: fresh per connection (make_nonce()); given here so the tests can fix it.
  coordinator_handshake(std::string secret, std::string nonce);

  challenge first_frame() const;
  // The stub's first frame. An error says why it is refused (for the log; the peer learns nothing).
  rty::result<result> on_hello(const boost::json::object& frame);

 private:
  std::string secret_;
  std::string nonce_;
  bool done_ = false;
};

class stub_handshake {
 public:
  // identity: node_id, host and pid (version, nonce and proof are filled in here).
  stub_handshake(std::string secret, hello identity, std::string nonce);

  // The coordinator's first frame → the hello to send.
  rty::result<hello> on_challenge(const boost::json::object& frame);
  // Its second frame → the session keys once the coordinator has proven the secret. An "error" frame
  // (the coordinator refused us) and a wrong proof (not our coordinator) are errors.
  rty::result<session_keys> on_accepted(const boost::json::object& frame);

 private:
  enum class state { awaiting_challenge, awaiting_accepted, done };
  std::string secret_;
  hello hello_;
  std::string nonce_c_;
  state state_ = state::awaiting_challenge;
};

}  // namespace rty::protocol
