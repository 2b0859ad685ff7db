// SSH launcher: one libssh2 session per host, the stub started on an exec channel.
//
// launch() connects, checks the host key, authenticates and starts the stubs one host after the
// other in blocking mode (each step bounded by a timeout). Afterwards the sessions switch to
// non-blocking mode and one background thread polls all of them: it forwards every line the remote
// stubs write to the coordinator's log and notices when a stub exits. All libssh2 calls on a session
// happen with `mutex_` held, so launch(), the thread and stop_all() never use a session concurrently.
#include <arpa/inet.h>
#include <fcntl.h>
#include <libssh2.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "common/log.hpp"
#include "common/shell_quote.hpp"
#include "launch/launcher.hpp"

namespace rty::launch {
namespace {

using steady = std::chrono::steady_clock;

constexpr int connect_timeout_ms = 10'000;  // TCP connect
constexpr int session_timeout_ms = 10'000;  // each blocking libssh2 call (handshake, auth, exec)
constexpr int start_timeout_ms = 10'000;    // until the remote shell reports the stub's PID
constexpr int stop_timeout_ms = 5'000;      // per host for `kill` and the stub's exit report

void init_libssh2_once() {
  static std::once_flag once;
  std::call_once(once, [] { libssh2_init(0); });
}

struct ssh_target {
  std::string user;
  std::string host;
  int port = 22;
};

std::string current_user() {
  if (const passwd* pw = ::getpwuid(::geteuid()); pw && pw->pw_name) return pw->pw_name;
  if (const char* u = std::getenv("USER"); u && *u) return u;
  return "root";
}

// `[user@]host[:port]`; `[v6addr]:port` is accepted too.
std::optional<ssh_target> parse_target(const std::string& spec, std::string& error) {
  ssh_target t;
  std::string rest = spec;
  if (auto at = rest.rfind('@'); at != std::string::npos) {
    t.user = rest.substr(0, at);
    rest = rest.substr(at + 1);
  }
  if (t.user.empty()) t.user = current_user();
  std::string port_text;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos) {
      error = "missing ']' in host";
      return std::nullopt;
    }
    t.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') {
        error = "expected ':PORT' after ']'";
        return std::nullopt;
      }
      port_text = rest.substr(close + 2);
    }
  } else if (auto colon = rest.find(':'); colon != std::string::npos && rest.find(':', colon + 1) == std::string::npos) {
    t.host = rest.substr(0, colon);
    port_text = rest.substr(colon + 1);
  } else {
    t.host = rest;
  }
  if (t.host.empty()) {
    error = "empty host name (expected [user@]host[:port])";
    return std::nullopt;
  }
  if (!port_text.empty() || (rest.size() && rest.back() == ':')) {
    char* end = nullptr;
    long p = std::strtol(port_text.c_str(), &end, 10);
    if (port_text.empty() || *end || p < 1 || p > 65535) {
      error = "port '" + port_text + "' is not a number in 1..65535";
      return std::nullopt;
    }
    t.port = static_cast<int>(p);
  }
  return t;
}

// The remote command: first report the shell's PID (the stub keeps it through exec) or why the stub
// cannot be started, on stdout behind a marker, so that launch() can tell "exec failed" apart.
std::string remote_command(const std::vector<std::string>& argv) {
  const std::string prog = shell_quote(argv.front());
  std::string check = argv.front().find('/') != std::string::npos
                          ? "[ -x " + prog + " ]"
                          : "command -v " + prog + " >/dev/null 2>&1";
  std::string cmd = check + " || { printf 'rty-error: stub %s is missing or not executable on %s\\n' " + prog +
                    " \"$(hostname)\"; exit 127; }; echo \"rty-pid $$\"; exec";
  for (const auto& w : argv) cmd += " " + shell_quote(w);
  // Keep stdin away from the channel: the stub never reads it, and EOF there must not reach it.
  return cmd + " </dev/null";
}

std::string libssh2_message(LIBSSH2_SESSION* s) {
  char* msg = nullptr;
  int len = 0;
  int rc = libssh2_session_last_error(s, &msg, &len, 0);
  return (msg && len > 0) ? std::string(msg, static_cast<size_t>(len)) + " (" + std::to_string(rc) + ")"
                          : "libssh2 error " + std::to_string(rc);
}

std::string base64(const unsigned char* data, size_t n) {
  static const char* tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = data[i] << 16;
    if (i + 1 < n) v |= data[i + 1] << 8;
    if (i + 2 < n) v |= data[i + 2];
    out += tab[(v >> 18) & 63];
    out += tab[(v >> 12) & 63];
    if (i + 1 < n) out += tab[(v >> 6) & 63];
    if (i + 2 < n) out += tab[v & 63];
  }
  return out;  // unpadded, like OpenSSH's SHA256: fingerprints
}

struct host_key_kind {
  int knownhost_bits = LIBSSH2_KNOWNHOST_KEY_UNKNOWN;
  const char* name = "unknown";
};

host_key_kind key_kind(int hostkey_type) {
  switch (hostkey_type) {
    case LIBSSH2_HOSTKEY_TYPE_RSA: return {LIBSSH2_KNOWNHOST_KEY_SSHRSA, "ssh-rsa"};
    case LIBSSH2_HOSTKEY_TYPE_DSS: return {LIBSSH2_KNOWNHOST_KEY_SSHDSS, "ssh-dss"};
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: return {LIBSSH2_KNOWNHOST_KEY_ECDSA_256, "ecdsa-sha2-nistp256"};
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: return {LIBSSH2_KNOWNHOST_KEY_ECDSA_384, "ecdsa-sha2-nistp384"};
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: return {LIBSSH2_KNOWNHOST_KEY_ECDSA_521, "ecdsa-sha2-nistp521"};
    case LIBSSH2_HOSTKEY_TYPE_ED25519: return {LIBSSH2_KNOWNHOST_KEY_ED25519, "ssh-ed25519"};
    default: return {};
  }
}

// Waits until libssh2 can make progress on the session's socket (the directions it is blocked on).
void wait_socket(int sock, LIBSSH2_SESSION* s, int timeout_ms) {
  pollfd p{sock, 0, 0};
  int dir = libssh2_session_block_directions(s);
  if (dir & LIBSSH2_SESSION_BLOCK_INBOUND) p.events |= POLLIN;
  if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND) p.events |= POLLOUT;
  if (!p.events) p.events = POLLIN;
  ::poll(&p, 1, timeout_ms);
}

int remaining_ms(steady::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// TCP connect with a bounded wait, trying every address the name resolves to.
int connect_tcp(const ssh_target& t, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  std::string port = std::to_string(t.port);
  if (int rc = ::getaddrinfo(t.host.c_str(), port.c_str(), &hints, &list); rc != 0) {
    error = "cannot resolve host name '" + t.host + "': " + ::gai_strerror(rc);
    return -1;
  }
  error.clear();
  int fd = -1;
  for (addrinfo* a = list; a; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    int err = rc == 0 ? 0 : errno;
    if (err == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int n = ::poll(&p, 1, connect_timeout_ms);
      if (n == 0) {
        err = ETIMEDOUT;
      } else {
        socklen_t len = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      }
    }
    if (err == 0) {
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);  // libssh2 sets its own mode later
      break;
    }
    char addr[INET6_ADDRSTRLEN] = "?";
    const void* in = a->ai_family == AF_INET6 ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr)
                                              : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr);
    ::inet_ntop(a->ai_family, in, addr, sizeof addr);
    if (!error.empty()) error += "; ";
    error += std::string("connect to ") + addr + " port " + port + ": " +
             (err == ETIMEDOUT ? "timed out after " + std::to_string(connect_timeout_ms / 1000) + " s"
              : err == ECONNREFUSED ? std::string("connection refused")
                                    : std::string(std::strerror(err)));
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(list);
  if (fd < 0 && error.empty()) error = "no usable address for '" + t.host + "'";
  return fd;
}

// One remote stub: its session, its exec channel and what the poll thread has seen of it.
struct remote {
  std::string spec;       // as configured
  ssh_target target;
  std::string node_id;
  std::string component;  // log component "ssh <host>"
  int sock = -1;
  LIBSSH2_SESSION* session = nullptr;
  LIBSSH2_CHANNEL* channel = nullptr;
  long pid = -1;              // remote PID of the stub
  bool running = false;       // stub started and not yet seen to exit
  bool eof = false;           // EOF seen on the channel, waiting for its close
  std::string partial[2];     // unfinished stdout / stderr lines
  std::ofstream log_file;     // copy of the remote output next to the local launcher's logs

  void emit_line(const std::string& line) {
    RTY_LOG(info, component) << line;
    if (log_file.is_open()) log_file << line << '\n' << std::flush;
  }
};

void free_remote(remote& r) {
  if (r.channel) libssh2_channel_free(r.channel);
  r.channel = nullptr;
  if (r.session) {
    libssh2_session_set_blocking(r.session, 1);
    libssh2_session_set_timeout(r.session, stop_timeout_ms);
    libssh2_session_disconnect(r.session, "raythenad: launcher stopping");
    libssh2_session_free(r.session);
  }
  r.session = nullptr;
  if (r.sock >= 0) ::close(r.sock);
  r.sock = -1;
}

class ssh_launcher final : public launcher {
 public:
  ssh_launcher() {
    init_libssh2_once();
    if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) wake_[0] = wake_[1] = -1;
  }
  ~ssh_launcher() override {
    stop_all();
    for (int fd : wake_)
      if (fd >= 0) ::close(fd);
  }

  std::string name() const override { return "ssh"; }

  launch_result launch(const launch_request& request) override {
    launch_result result;
    std::map<std::string, int> seen_hosts;
    for (const auto& spec : request.ssh_hosts) {
      std::string error;
      auto target = parse_target(spec, error);
      if (!target) {
        result.failures.push_back("ssh host '" + spec + "': " + error);
        continue;
      }
      // The node id is the host name; a host named twice (several sshd ports) gets a suffix.
      int n = ++seen_hosts[target->host];
      std::string node = n == 1 ? target->host : target->host + "-" + std::to_string(n);
      auto r = std::make_unique<remote>();
      r->spec = spec;
      r->target = *target;
      r->node_id = node;
      r->component = "ssh " + target->host;
      std::string log_path;
      if (!request.log_dir.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(request.log_dir, ec);
        log_path = request.log_dir + "/ssh-" + node + ".log";
        r->log_file.open(log_path, std::ios::app);
        if (!r->log_file) log_path.clear();
      }
      if (!start(*r, request, error)) {
        result.failures.push_back("ssh " + spec + ": " + error);
        RTY_LOG(error, r->component) << "cannot start the stub: " << error;
        free_remote(*r);
        continue;
      }
      RTY_LOG(info, r->component) << "stub " << node << " started, remote pid " << r->pid;
      started s;
      s.what = "ssh " + spec;
      s.node_ids = {node};
      s.log_path = log_path;
      result.processes.push_back(s);
      ++result.expected_nodes;
      {
        std::lock_guard lock(mutex_);
        remotes_.push_back(std::move(r));
        alive_.fetch_add(1);
      }
    }
    bool any;
    {
      std::lock_guard lock(mutex_);
      any = !remotes_.empty();
    }
    if (any && !poller_.joinable()) {
      stop_.store(false);
      poller_ = std::thread([this] { poll_loop(); });
    }
    return result;
  }

  void stop_all() override {
    if (poller_.joinable()) {
      stop_.store(true);
      if (wake_[1] >= 0) (void)!::write(wake_[1], "x", 1);
      poller_.join();
    }
    std::lock_guard lock(mutex_);
    for (auto& r : remotes_) {
      if (r->running) kill_remote(*r);
      free_remote(*r);
    }
    remotes_.clear();
    alive_.store(0);
  }

  int remote_alive() const override { return alive_.load(); }

 private:
  // Connect, verify, authenticate, exec. Blocking, each step bounded.
  bool start(remote& r, const launch_request& request, std::string& error) {
    const ssh_target& t = r.target;
    r.sock = connect_tcp(t, error);
    if (r.sock < 0) return false;
    r.session = libssh2_session_init();
    if (!r.session) {
      error = "cannot create an SSH session (out of memory)";
      return false;
    }
    libssh2_session_set_blocking(r.session, 1);
    libssh2_session_set_timeout(r.session, session_timeout_ms);
    if (libssh2_session_handshake(r.session, r.sock) != 0) {
      error = "SSH handshake failed: " + libssh2_message(r.session);
      return false;
    }
    if (!check_host_key(r, request, error)) return false;
    if (!authenticate(r, request, error)) return false;
    return exec_stub(r, request, error);
  }

  bool check_host_key(remote& r, const launch_request& request, std::string& error) {
    const ssh_target& t = r.target;
    size_t key_len = 0;
    int key_type = 0;
    const char* key = libssh2_session_hostkey(r.session, &key_len, &key_type);
    if (!key) {
      error = "the server sent no host key";
      return false;
    }
    host_key_kind kind = key_kind(key_type);
    std::string fingerprint = "?";
    if (const char* h = libssh2_hostkey_hash(r.session, LIBSSH2_HOSTKEY_HASH_SHA256))
      fingerprint = "SHA256:" + base64(reinterpret_cast<const unsigned char*>(h), 32);
    const std::string known_name = t.port == 22 ? t.host : "[" + t.host + "]:" + std::to_string(t.port);
    const std::string offered = std::string(kind.name) + " " + fingerprint;
    if (request.ssh_known_hosts.empty()) {
      error = "host key " + offered + " cannot be verified: no known_hosts file is configured";
      return false;
    }
    LIBSSH2_KNOWNHOSTS* kh = libssh2_knownhost_init(r.session);
    if (!kh) {
      error = "cannot allocate the known-hosts store";
      return false;
    }
    struct guard {
      LIBSSH2_KNOWNHOSTS* k;
      ~guard() { libssh2_knownhost_free(k); }
    } g{kh};
    std::error_code ec;
    bool file_exists = std::filesystem::exists(request.ssh_known_hosts, ec);
    if (file_exists &&
        libssh2_knownhost_readfile(kh, request.ssh_known_hosts.c_str(), LIBSSH2_KNOWNHOST_FILE_OPENSSH) < 0) {
      error = "cannot read known_hosts file " + request.ssh_known_hosts + ": " + libssh2_message(r.session);
      return false;
    }
    libssh2_knownhost* found = nullptr;
    int check = libssh2_knownhost_checkp(
        kh, t.host.c_str(), t.port, key, key_len,
        LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | kind.knownhost_bits, &found);
    switch (check) {
      case LIBSSH2_KNOWNHOST_CHECK_MATCH:
        return true;
      case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
        error = "host key mismatch: " + known_name + " offered " + offered + ", which differs from the key in " +
                request.ssh_known_hosts + " (refusing: the host key changed or someone is in the middle)";
        return false;
      case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
        break;
      default:
        error = "host key check failed: " + libssh2_message(r.session);
        return false;
    }
    if (!request.ssh_accept_new) {
      error = "host key unknown: " + known_name + " (" + offered + ") is not in " + request.ssh_known_hosts +
              " (refusing; add it to that file or enable accept-new)";
      return false;
    }
    return add_host_key(r, kh, request.ssh_known_hosts, known_name, offered, key, key_len, kind.knownhost_bits, error);
  }

  // accept-new: the unknown host's key goes into the store and is appended to the known_hosts file.
  bool add_host_key(remote& r, LIBSSH2_KNOWNHOSTS* kh, const std::string& known_hosts, const std::string& known_name,
                    const std::string& offered, const char* key, size_t key_len, int key_bits, std::string& error) {
    libssh2_knownhost* added = nullptr;
    std::string comment = "added by raythenad";
    if (libssh2_knownhost_addc(kh, known_name.c_str(), nullptr, key, key_len, comment.data(), comment.size(),
                               LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | key_bits,
                               &added) != 0 ||
        !added) {
      error = "cannot add the host key of " + known_name + ": " + libssh2_message(r.session);
      return false;
    }
    char line[8192];
    size_t line_len = 0;
    if (libssh2_knownhost_writeline(kh, added, line, sizeof line, &line_len, LIBSSH2_KNOWNHOST_FILE_OPENSSH) != 0) {
      error = "cannot format the known_hosts line for " + known_name + ": " + libssh2_message(r.session);
      return false;
    }
    // Appended rather than rewritten: the user's file (comments, hashed names) stays as it is.
    std::ofstream out(known_hosts, std::ios::app);
    out.write(line, static_cast<std::streamsize>(line_len));
    out.flush();
    if (!out) {
      error = "cannot append the host key of " + known_name + " to " + known_hosts + ": " +
              std::strerror(errno);
      return false;
    }
    RTY_LOG(warning, r.component) << "new host key " << offered << " for " << known_name << " added to "
                                  << known_hosts << " (accept-new)";
    return true;
  }

  bool authenticate(remote& r, const launch_request& request, std::string& error) {
    std::vector<std::string> keys;
    if (!request.ssh_key.empty()) {
      keys.push_back(request.ssh_key);
    } else {
      const char* home = std::getenv("HOME");
      std::string dir = std::string(home && *home ? home : "") + "/.ssh/";
      for (const char* k : {"id_ed25519", "id_ecdsa"})
        if (std::filesystem::exists(dir + k)) keys.push_back(dir + k);
      if (keys.empty()) {
        error = "no SSH key configured and none of ~/.ssh/id_ed25519, ~/.ssh/id_ecdsa exists";
        return false;
      }
    }
    std::string tried;
    for (const auto& key : keys) {
      if (!std::filesystem::exists(key)) {
        error = "SSH key " + key + " does not exist";
        return false;
      }
      // libssh2 derives the public key from an OpenSSH private key; older formats need the .pub file.
      std::vector<std::string> pubs = {""};
      if (std::filesystem::exists(key + ".pub")) pubs.push_back(key + ".pub");
      for (const auto& pub : pubs) {
        int rc = libssh2_userauth_publickey_fromfile(r.session, r.target.user.c_str(),
                                                     pub.empty() ? nullptr : pub.c_str(), key.c_str(), "");
        if (rc == 0) return true;
        tried += (tried.empty() ? "" : "; ") + key + (pub.empty() ? "" : " with " + pub) + ": " +
                 libssh2_message(r.session);
      }
    }
    error = "authentication refused for user " + r.target.user + " on " + r.target.host + " (" + tried + ")";
    return false;
  }

  bool exec_stub(remote& r, const launch_request& request, std::string& error) {
    r.channel = libssh2_channel_open_session(r.session);
    if (!r.channel) {
      error = "exec failed: cannot open a channel: " + libssh2_message(r.session);
      return false;
    }
    const std::string cmd = remote_command(stub_argv(request, r.node_id));
    if (libssh2_channel_exec(r.channel, cmd.c_str()) != 0) {
      error = "exec failed: the server refused the command: " + libssh2_message(r.session);
      return false;
    }
    // Wait for the marker line; everything else the login shell prints is forwarded to the log.
    libssh2_session_set_blocking(r.session, 0);
    auto deadline = steady::now() + std::chrono::milliseconds(start_timeout_ms);
    std::vector<std::string> stdout_lines;
    while (true) {
      bool progress = drain(r, &stdout_lines);
      for (auto it = stdout_lines.begin(); it != stdout_lines.end(); ++it) {
        if (it->rfind("rty-pid ", 0) == 0) {
          r.pid = std::strtol(it->c_str() + 8, nullptr, 10);
          r.running = true;
          for (++it; it != stdout_lines.end(); ++it) r.emit_line(*it);
          return true;
        }
        if (it->rfind("rty-error: ", 0) == 0) {
          error = "exec failed: " + it->substr(11);
          return false;
        }
        r.emit_line(*it);
      }
      stdout_lines.clear();
      if (r.eof || libssh2_channel_eof(r.channel)) {
        error = "exec failed: the remote command ended before starting the stub";
        return false;
      }
      if (progress) continue;
      int left = remaining_ms(deadline);
      if (left == 0) {
        error = "exec failed: no answer from the remote shell within " + std::to_string(start_timeout_ms / 1000) + " s";
        return false;
      }
      wait_socket(r.sock, r.session, std::min(left, 200));
    }
  }

  // Reads what is available on both streams (non-blocking session). Complete stdout lines go to
  // `stdout_lines` when given (start-up), else to the log; stderr lines always go to the log.
  // Returns whether anything was read; marks the remote as gone on a transport error.
  bool drain(remote& r, std::vector<std::string>* stdout_lines) {
    bool any = false;
    char buf[4096];
    for (int stream : {0, SSH_EXTENDED_DATA_STDERR}) {
      std::string& part = r.partial[stream == 0 ? 0 : 1];
      while (true) {
        ssize_t n = libssh2_channel_read_ex(r.channel, stream, buf, sizeof buf);
        if (n == LIBSSH2_ERROR_EAGAIN || n == 0) break;
        if (n < 0) {
          RTY_LOG(warning, r.component) << "connection lost: " << libssh2_message(r.session);
          r.eof = true;
          return any;
        }
        any = true;
        part.append(buf, static_cast<size_t>(n));
        size_t nl;
        while ((nl = part.find('\n')) != std::string::npos) {
          std::string line = part.substr(0, nl);
          part.erase(0, nl + 1);
          if (stream == 0 && stdout_lines)
            stdout_lines->push_back(line);
          else
            r.emit_line(line);
        }
      }
    }
    if (libssh2_channel_eof(r.channel)) {
      for (auto& part : r.partial)
        if (!part.empty()) {
          r.emit_line(part);
          part.clear();
        }
      r.eof = true;
    }
    return any;
  }

  // After EOF: wait for the channel's close, which carries the exit status, then report the exit.
  // Returns true once the exit has been reported.
  bool finish_if_closed(remote& r) {
    int rc = libssh2_channel_close(r.channel);
    if (rc == LIBSSH2_ERROR_EAGAIN) return false;
    if (rc == 0) {
      rc = libssh2_channel_wait_closed(r.channel);
      if (rc == LIBSSH2_ERROR_EAGAIN) return false;
    }
    char* signal_name = nullptr;
    libssh2_channel_get_exit_signal(r.channel, &signal_name, nullptr, nullptr, nullptr, nullptr, nullptr);
    int status = libssh2_channel_get_exit_status(r.channel);
    if (signal_name) {
      RTY_LOG(warning, r.component) << "remote stub " << r.node_id << " (pid " << r.pid << ") killed by signal SIG"
                                    << signal_name;
      libssh2_free(r.session, signal_name);
    } else if (rc != 0) {
      RTY_LOG(warning, r.component) << "remote stub " << r.node_id << " (pid " << r.pid
                                    << ") gone, connection lost: " << libssh2_message(r.session);
    } else {
      auto lvl = status == 0 ? log::level::info : log::level::warning;
      if (log::enabled(lvl))
        log::record(lvl, r.component) << "remote stub " << r.node_id << " (pid " << r.pid << ") exited with status "
                                      << status;
    }
    r.running = false;
    alive_.fetch_sub(1);
    return true;
  }

  void poll_loop() {
    std::vector<pollfd> fds;
    while (!stop_.load()) {
      fds.clear();
      {
        std::lock_guard lock(mutex_);
        for (auto& rp : remotes_) {
          remote& r = *rp;
          if (!r.running) continue;
          while (drain(r, nullptr) && !r.eof) {
          }
          if (r.eof && finish_if_closed(r)) continue;
          pollfd p{r.sock, 0, 0};
          int dir = libssh2_session_block_directions(r.session);
          p.events = POLLIN | ((dir & LIBSSH2_SESSION_BLOCK_OUTBOUND) ? POLLOUT : 0);
          fds.push_back(p);
        }
      }
      fds.push_back({wake_[0], POLLIN, 0});
      // The timeout only bounds how long a missed wake-up could delay us.
      ::poll(fds.data(), fds.size(), 1000);
      char sink[64];
      while (wake_[0] >= 0 && ::read(wake_[0], sink, sizeof sink) > 0) {
      }
    }
  }

  // Runs `kill -TERM <pid>` on a second channel, then waits (bounded) for the stub's exit report.
  void kill_remote(remote& r) {
    libssh2_session_set_blocking(r.session, 1);
    libssh2_session_set_timeout(r.session, stop_timeout_ms);
    std::string cmd = "kill -TERM " + std::to_string(r.pid);
    LIBSSH2_CHANNEL* k = r.pid > 0 ? libssh2_channel_open_session(r.session) : nullptr;
    if (!k) {
      RTY_LOG(warning, r.component) << "cannot open a channel to stop remote stub " << r.node_id << " (pid " << r.pid
                                    << "): " << libssh2_message(r.session);
    } else {
      if (libssh2_channel_exec(k, cmd.c_str()) != 0) {
        RTY_LOG(warning, r.component) << "'" << cmd << "' failed: " << libssh2_message(r.session);
      } else {
        char buf[512];
        while (libssh2_channel_read(k, buf, sizeof buf) > 0) {
        }
        libssh2_channel_close(k);
        libssh2_channel_wait_closed(k);
        if (int st = libssh2_channel_get_exit_status(k); st != 0) {
          RTY_LOG(warning, r.component) << "'" << cmd << "' exited with status " << st;
        }
      }
      libssh2_channel_free(k);
    }
    // Collect the stub's last words and its exit status.
    libssh2_session_set_blocking(r.session, 0);
    auto deadline = steady::now() + std::chrono::milliseconds(stop_timeout_ms);
    while (r.running) {
      bool progress = drain(r, nullptr);
      if (r.eof && finish_if_closed(r)) break;
      int left = remaining_ms(deadline);
      if (left == 0) {
        RTY_LOG(warning, r.component) << "remote stub " << r.node_id << " (pid " << r.pid << ") did not exit within "
                                      << stop_timeout_ms / 1000 << " s of SIGTERM; closing the session";
        r.running = false;
        alive_.fetch_sub(1);
        break;
      }
      if (!progress) wait_socket(r.sock, r.session, std::min(left, 200));
    }
  }

  std::mutex mutex_;
  std::vector<std::unique_ptr<remote>> remotes_;
  std::atomic<int> alive_{0};
  std::atomic<bool> stop_{false};
  std::thread poller_;
  int wake_[2] = {-1, -1};
};

}  // namespace

std::unique_ptr<launcher> make_ssh_launcher() { return std::make_unique<ssh_launcher>(); }

}  // namespace rty::launch
