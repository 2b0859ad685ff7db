// Issue 13: the pilot port tells its own run's pilot from another user's process by the uid that owns
// the connecting socket. Both lookups are checked against a real loopback connection of this process.
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>

#include "common/file_util.hpp"
#include "stub/peer_uid.hpp"

using namespace rty::stub;

namespace {
struct loopback_pair {
  int listener = -1, client = -1, server = -1;
  sockaddr_in peer{}, self{};
  loopback_pair() {
    listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(listener, 1);
    socklen_t len = sizeof a;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
    client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ::connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a);
    len = sizeof peer;
    server = ::accept(listener, reinterpret_cast<sockaddr*>(&peer), &len);
    len = sizeof self;
    ::getsockname(server, reinterpret_cast<sockaddr*>(&self), &len);
  }
  ~loopback_pair() {
    for (int fd : {listener, client, server})
      if (fd >= 0) ::close(fd);
  }
};
}  // namespace

BOOST_AUTO_TEST_SUITE(peer_uid_suite)

BOOST_AUTO_TEST_CASE(the_kernel_names_the_uid_of_a_loopback_peer) {
  loopback_pair c;
  BOOST_REQUIRE(c.server >= 0);
  auto uid = tcp_peer_uid(c.peer, c.self);
  BOOST_REQUIRE_MESSAGE(uid, uid.error());
  BOOST_TEST(*uid == ::geteuid());
  // netlink on its own: a warning only, the /proc fallback covers kernels or filters without it
  auto from_netlink = tcp_peer_uid_netlink(c.peer, c.self);
  BOOST_WARN_MESSAGE(from_netlink && *from_netlink == ::geteuid(), "sock_diag lookup: " << from_netlink.error());
  auto text = rty::file::read_all("/proc/net/tcp");
  BOOST_REQUIRE(text);
  auto from_proc = tcp_peer_uid_proc(*text, c.peer, c.self);
  BOOST_REQUIRE(from_proc);
  BOOST_TEST(*from_proc == ::geteuid());
  // The other end of the same connection is our own socket, not the peer's: the 4-tuple is directed.
  sockaddr_in nobody = c.peer;
  nobody.sin_port = htons(static_cast<std::uint16_t>(ntohs(c.peer.sin_port) ^ 1));
  BOOST_TEST(!tcp_peer_uid(nobody, c.self));
}

BOOST_AUTO_TEST_CASE(proc_net_tcp_lines_are_matched_on_both_ends) {
  sockaddr_in peer{}, self{};
  peer.sin_family = self.sin_family = AF_INET;
  peer.sin_addr.s_addr = self.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  peer.sin_port = htons(0xA1B2);
  self.sin_port = htons(0x1F90);
  char local[32], remote[32];
  std::snprintf(local, sizeof local, "%08X:A1B2", peer.sin_addr.s_addr);
  std::snprintf(remote, sizeof remote, "%08X:1F90", self.sin_addr.s_addr);
  const std::string text =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
      "   0: " + std::string(remote) + " 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n"
      "   1: " + std::string(remote) + " " + local + " 01 00000000:00000000 00:00000000 00000000     0        0 2 1\n"
      "   2: " + std::string(local) + " " + remote + " 01 00000000:00000000 00:00000000 00000000 65534        0 3 1\n";
  auto uid = tcp_peer_uid_proc(text, peer, self);
  BOOST_REQUIRE(uid);
  BOOST_TEST(*uid == 65534u);
  self.sin_port = htons(0x1F91);
  BOOST_TEST(!tcp_peer_uid_proc(text, peer, self));
}

BOOST_AUTO_TEST_SUITE_END()
