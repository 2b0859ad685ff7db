#pragma once
// Who is on the other end of a loopback TCP connection (issue 13). Every uid on the node reaches
// 127.0.0.1, so the pilot port must tell its own run's pilot from another user's process. The kernel
// knows the uid that owns the connecting socket; we ask it:
//
//  1. sock_diag netlink (NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY, an exact lookup by the 4-tuple): one
//     request, one answer, no privilege needed; the kernel loads tcp_diag on demand.
//  2. /proc/net/tcp when netlink is unavailable (a seccomp filter, a kernel without INET_DIAG): the
//     same socket table as text, read line by line.
//
// Both answer in the stub's network namespace, which is pilot's (pilot is the stub's child), and with
// the uid as seen from the stub's user namespace. When neither can tell, the caller refuses the
// connection: failing open would give the port to everyone again.
//
// Why not a secret path prefix in pandaserver alone: pilot3 sends getEventRanges/updateEventRanges
// with curl and puts the URL on curl's command line, which every user reads in /proc/<pid>/cmdline
// (ps) unless /proc is mounted hidepid=2; a prefix would leak once a second.
#include <netinet/in.h>
#include <sys/types.h>

#include <optional>
#include <string_view>

#include "common/error.hpp"

namespace rty::stub {

// uid owning the IPv4 TCP socket `peer` that is connected to our socket `self` (both in network byte
// order, as accept/getsockname give them). The error says why it cannot be found out.
rty::result<uid_t> tcp_peer_uid(const sockaddr_in& peer, const sockaddr_in& self);

// The two lookups on their own (tests; tcp_peer_uid tries netlink, then /proc). `diag_fd`: a
// NETLINK_SOCK_DIAG socket to reuse (peer_uid_finder keeps one), or -1 for one of its own.
rty::result<uid_t> tcp_peer_uid_netlink(const sockaddr_in& peer, const sockaddr_in& self, int diag_fd = -1);

// The lookup as the pilot port does it on every connection (pilot3's curl opens one per request):
// one netlink socket for the stub's life, so a lookup costs two system calls, not seven.
class peer_uid_finder {
 public:
  peer_uid_finder() = default;
  peer_uid_finder(const peer_uid_finder&) = delete;
  peer_uid_finder& operator=(const peer_uid_finder&) = delete;
  ~peer_uid_finder();
  rty::result<uid_t> operator()(const sockaddr_in& peer, const sockaddr_in& self);

 private:
  int fd_ = -1;
};
// Parses the text of /proc/net/tcp for the socket whose local end is `peer` and remote end `self`.
std::optional<uid_t> tcp_peer_uid_proc(std::string_view proc_net_tcp, const sockaddr_in& peer, const sockaddr_in& self);

}  // namespace rty::stub
