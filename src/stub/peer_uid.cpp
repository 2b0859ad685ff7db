#include "stub/peer_uid.hpp"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <string>

#include "common/file_util.hpp"

namespace rty::stub {

namespace {
rty::result<int> open_diag_socket() {
  const int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return rty::fail(std::string("sock_diag socket: ") + std::strerror(errno));
  return fd;
}
}  // namespace

rty::result<uid_t> tcp_peer_uid_netlink(const sockaddr_in& peer, const sockaddr_in& self, int diag_fd) {
  const bool own = diag_fd < 0;
  int fd = diag_fd;
  if (own) {
    auto opened = open_diag_socket();
    if (!opened) return opened.error();
    fd = *opened;
  }
  const auto done = [&] {
    if (own) ::close(fd);
  };
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } msg{};
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST;  // no dump: the one socket with this 4-tuple
  msg.nlh.nlmsg_seq = 1;
  msg.req.sdiag_family = AF_INET;
  msg.req.sdiag_protocol = IPPROTO_TCP;
  msg.req.idiag_states = ~0u;
  // The peer's socket: its source is the client address, its destination our listening address.
  msg.req.id.idiag_sport = peer.sin_port;
  msg.req.id.idiag_dport = self.sin_port;
  std::memcpy(msg.req.id.idiag_src, &peer.sin_addr, 4);
  std::memcpy(msg.req.id.idiag_dst, &self.sin_addr, 4);
  msg.req.id.idiag_if = 0;
  msg.req.id.idiag_cookie[0] = msg.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, &msg, sizeof msg, 0, reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel) < 0) {
    auto failed = rty::fail(std::string("sock_diag send: ") + std::strerror(errno));
    done();
    return failed;
  }
  // The kernel answers within sendto: the answer is normally there at once. The poll only guards
  // against a filter that swallows the request.
  alignas(nlmsghdr) char buf[8192];
  ssize_t got = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) {
      done();
      return rty::fail("sock_diag: no answer");
    }
    got = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  }
  std::optional<uid_t> uid;
  std::string why;
  if (got < 0) why = std::string("sock_diag receive: ") + std::strerror(errno);
  int len = got > 0 ? static_cast<int>(got) : 0;
  for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
    if (h->nlmsg_type == NLMSG_ERROR) {
      const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
      why = std::string("sock_diag: ") + std::strerror(-err->error);
      break;
    }
    if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) continue;
    const auto* d = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
    if (d->id.idiag_sport == peer.sin_port && d->id.idiag_dport == self.sin_port) {
      uid = d->idiag_uid;
      break;
    }
  }
  done();
  if (uid) return *uid;
  return rty::fail(why.empty() ? "sock_diag: no such socket" : why);
}

peer_uid_finder::~peer_uid_finder() {
  if (fd_ >= 0) ::close(fd_);
}

rty::result<uid_t> peer_uid_finder::operator()(const sockaddr_in& peer, const sockaddr_in& self) {
  if (fd_ < 0) {
    if (auto opened = open_diag_socket()) fd_ = *opened;
  }
  if (fd_ >= 0) {
    if (auto uid = tcp_peer_uid_netlink(peer, self, fd_)) return uid;
    // A stale answer or a broken socket must not poison the next lookup: start afresh.
    ::close(fd_);
    fd_ = -1;
  }
  return tcp_peer_uid(peer, self);  // a socket of its own, then /proc/net/tcp
}

namespace {
template <class T>
bool hex(std::string_view s, T& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return ec == std::errc() && end == s.data() + s.size();
}
// "0100007F:1F90": the address as the kernel's %08X of the raw (network-order) word, the port in host order.
bool endpoint_is(std::string_view text, const sockaddr_in& a) {
  const auto colon = text.find(':');
  std::uint32_t addr = 0;
  std::uint16_t port = 0;
  if (colon == std::string_view::npos || !hex(text.substr(0, colon), addr) || !hex(text.substr(colon + 1), port))
    return false;
  return addr == a.sin_addr.s_addr && port == ntohs(a.sin_port);
}
std::string_view next_word(std::string_view& line) {
  const auto b = line.find_first_not_of(' ');
  if (b == std::string_view::npos) {
    line = {};
    return {};
  }
  line.remove_prefix(b);
  const auto e = line.find(' ');
  auto w = line.substr(0, e);
  line.remove_prefix(e == std::string_view::npos ? line.size() : e);
  return w;
}
}  // namespace

std::optional<uid_t> tcp_peer_uid_proc(std::string_view text, const sockaddr_in& peer, const sockaddr_in& self) {
  // "sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid ..."
  while (!text.empty()) {
    const auto eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    next_word(line);  // sl
    if (!endpoint_is(next_word(line), peer) || !endpoint_is(next_word(line), self)) continue;
    for (int i = 0; i < 4; ++i) next_word(line);  // st, queues, timer, retransmits
    uid_t uid = 0;
    const auto w = next_word(line);
    auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), uid);
    if (ec == std::errc() && end == w.data() + w.size()) return uid;
  }
  return std::nullopt;
}

rty::result<uid_t> tcp_peer_uid(const sockaddr_in& peer, const sockaddr_in& self) {
  auto uid = tcp_peer_uid_netlink(peer, self);
  if (uid) return uid;
  auto text = file::read_all("/proc/net/tcp");
  if (!text) return rty::fail(uid.error().message() + "; " + text.error().message());
  if (auto from_proc = tcp_peer_uid_proc(*text, peer, self)) return *from_proc;
  return rty::fail(uid.error().message() + "; not in /proc/net/tcp either");
}

}  // namespace rty::stub
