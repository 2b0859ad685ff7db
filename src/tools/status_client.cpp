#include "tools/status_client.hpp"

#include "common/error.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <set>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "common/file_util.hpp"
#include "common/json_util.hpp"
#include "common/run_registry.hpp"
#include "config/command_line.hpp"
#include "tools/task_report.hpp"

namespace rty::tools {
namespace {

using steady = std::chrono::steady_clock;

// Closes the socket on every path out of http_get.
class socket_fd {
 public:
  explicit socket_fd(int fd) : fd_(fd) {}
  socket_fd(const socket_fd&) = delete;
  socket_fd& operator=(const socket_fd&) = delete;
  ~socket_fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

int millis_left(steady::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1'000'000));
}

// poll() for `events` until the deadline; false on timeout (errno 0) or poll error.
bool wait_for(int fd, short events, steady::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, millis_left(deadline));
    if (r > 0) return true;
    if (r == 0) {
      errno = 0;
      return false;
    }
    if (errno != EINTR) return false;
  }
}

std::string display(const http_url& u) {
  bool v6 = u.host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + u.host + "]" : u.host) + ":" + u.port;
}

std::string text_of(const boost::json::object& o, std::string_view key, std::string fallback = "-") {
  auto v = rty::json::get_string(o, key);
  return v && !v->empty() ? *v : fallback;
}

const boost::json::object* object_at(const boost::json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_object() ? &it->value().as_object() : nullptr;
}

std::optional<double> number_at(const boost::json::object* o, std::string_view key) {
  if (!o) return std::nullopt;
  auto it = o->find(key);
  if (it == o->end()) return std::nullopt;
  const auto& v = it->value();
  if (v.is_double()) return v.as_double();
  if (v.is_int64()) return static_cast<double>(v.as_int64());
  if (v.is_uint64()) return static_cast<double>(v.as_uint64());
  return std::nullopt;
}

std::string count_text(const boost::json::object* o, std::string_view key) {
  auto v = number_at(o, key);
  if (!v) return "-";
  std::ostringstream s;
  s << std::llround(*v);
  return s.str();
}

std::string rate_text(std::optional<double> r) {
  if (!r) return "-";
  std::ostringstream s;
  s << std::fixed << std::setprecision(*r >= 100 ? 0 : 1) << *r;
  return s.str();
}

std::string duration_text(std::optional<double> s) { return s ? format_duration(*s) : "-"; }

struct options {
  std::string workdir;
  bool json = false;
  bool watch = false;
  double interval = 2;
  long count = 0;  // 0: until interrupted
  double timeout = 5;
  bool help = false;
  std::string jobid;    // --jobid: find the workdir through scontrol
  std::string all_base;  // --all: list the runs under this directory
};

std::optional<std::string> parse_options(int argc, const char* const* argv, options& o) {
  auto number = [](std::string_view flag, std::string_view text, double& out) -> std::optional<std::string> {
    double v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || v < 0 || !std::isfinite(v))
      return std::string(flag) + ": expected a number of seconds >= 0, got '" + std::string(text) + "'";
    out = v;
    return std::nullopt;
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    bool has_value = false;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    auto take = [&](std::string_view flag) -> std::optional<std::string_view> {
      if (has_value) return value;
      if (i + 1 >= argc) return std::nullopt;
      (void)flag;
      return std::string_view(argv[++i]);
    };
    if (arg == "--json" || arg == "--watch" || arg == "-h" || arg == "--help") {
      if (has_value) return std::string(arg) + " takes no value";
      if (arg == "--json") o.json = true;
      else if (arg == "--watch") o.watch = true;
      else o.help = true;
    } else if (arg == "--workdir" || arg == "--interval" || arg == "--count" || arg == "--timeout" ||
               arg == "--jobid" || arg == "--all") {
      auto v = take(arg);
      if (!v) return std::string(arg) + " needs a value";
      if (arg == "--workdir") {
        o.workdir = std::string(*v);
      } else if (arg == "--all") {
        o.all_base = std::string(*v);
      } else if (arg == "--jobid") {
        if (!valid_slurm_job_id(*v))
          return "--jobid: expected a Slurm job id (digits, or ARRAYJOB_TASK), got '" + std::string(*v) + "'";
        o.jobid = std::string(*v);
      } else if (arg == "--count") {
        long n = 0;
        auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
        if (ec != std::errc() || end != v->data() + v->size() || n < 1)
          return "--count: expected a whole number >= 1, got '" + std::string(*v) + "'";
        o.count = n;
      } else if (auto e = number(arg, *v, arg == "--interval" ? o.interval : o.timeout)) {
        return e;
      }
    } else {
      return "unknown argument '" + std::string(argv[i]) + "'";
    }
  }
  if (o.timeout <= 0) o.timeout = 5;
  if (int(!o.workdir.empty()) + int(!o.jobid.empty()) + int(!o.all_base.empty()) > 1)
    return "--workdir, --jobid and --all exclude each other";
  if (!o.all_base.empty() && (o.watch || o.json)) return "--all lists runs once: no --watch or --json";
  return std::nullopt;
}

// One fetch: the status JSON, or an error message for the user.
struct fetched {
  std::optional<boost::json::object> status;
  std::string raw;
  std::string error;
};

fetched fetch_status(const std::string& workdir, double timeout_s) {
  fetched f;
  std::string path = file::join(workdir, status_url_file);
  auto text = file::read_all(path);
  if (!text) {
    if (::access(path.c_str(), F_OK) != 0)
      f.error = "no raythenad running with workdir " + workdir + " (no " + std::string(status_url_file) + ")";
    else
      f.error = "cannot read " + text.error().message();
    return f;
  }
  std::string line = text->substr(0, text->find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  auto url = parse_http_url(line);
  if (!url) {
    f.error = path + ": " + url.error().message();
    return f;
  }
  auto timeout = std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000));
  auto r = http_get(*url, "/status", timeout);
  // status.url names this host (the endpoint listens on a wildcard), but its name does not resolve
  // here or resolves to an address the endpoint is not on: on the same host, loopback reaches it.
  char self[256] = {};
  if (r.fail != http_get_result::failure::none && r.fail != http_get_result::failure::timeout &&
      ::gethostname(self, sizeof self - 1) == 0 && url->host == self) {
    http_url loopback{"127.0.0.1", url->port};
    if (auto again = http_get(loopback, "/status", timeout); again.fail == http_get_result::failure::none) {
      r = std::move(again);
      url = loopback;
    }
  }
  if (r.fail == http_get_result::failure::refused) {
    f.error = "raythenad at " + display(*url) + " is not answering (stale " + path + "?)";
    return f;
  }
  if (r.fail != http_get_result::failure::none) {
    f.error = r.error;
    return f;
  }
  if (r.status != 200) {
    std::string first = r.body.substr(0, r.body.find('\n'));
    f.error = "raythenad at " + display(*url) + " answered HTTP " + std::to_string(r.status) +
              (first.empty() ? "" : ": " + first);
    return f;
  }
  auto v = rty::json::parse(r.body, display(*url) + "/status");
  if (!v || !v->is_object()) {
    f.error = v ? display(*url) + "/status: expected a JSON object" : v.error().message();
    return f;
  }
  f.raw = std::move(r.body);
  f.status = std::move(v->as_object());
  return f;
}

std::string local_time_text() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

// `scontrol show job ID`'s output, or an error. Bounded by `timeout` (a hung slurmctld); the child is
// killed by its pid then. No shell: the id was checked by valid_slurm_job_id.
rty::result<std::string> scontrol_show_job(const std::string& id, double timeout_s) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return rty::fail(std::string("pipe: ") + std::strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) {
    const int fork_errno = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return rty::fail(std::string("fork: ") + std::strerror(fork_errno));
  }
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) ::dup2(null, STDERR_FILENO);
    const char* argv[] = {"scontrol", "show", "job", id.c_str(), nullptr};
    ::execvp("scontrol", const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(fds[1]);
  socket_fd reader(fds[0]);
  ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  auto deadline = steady::now() + std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000));
  std::string text;
  char buf[4096];
  bool timed_out = false;
  for (;;) {
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) {
      if (text.size() < (1u << 20)) text.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) break;
    if (errno == EINTR) continue;
    if (errno != EAGAIN || !wait_for(fds[0], POLLIN, deadline)) {
      timed_out = errno == 0;
      break;
    }
  }
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) return rty::fail("scontrol show job " + id + " gave no answer within the timeout");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return rty::fail(WIFEXITED(status) && WEXITSTATUS(status) == 127
                         ? std::string("scontrol not found: --jobid needs Slurm's client on this host")
                         : "scontrol show job " + id + " failed (no such job, or it ended long ago: use --workdir)");
  }
  return text;
}

}  // namespace

std::vector<std::string> slurm_job_dirs(std::string_view text) {
  std::vector<std::string> dirs;
  auto value_of = [&](std::string_view key) -> std::string {
    for (std::size_t pos = 0; (pos = text.find(key, pos)) != std::string_view::npos; pos += key.size()) {
      if (pos != 0 && text[pos - 1] != ' ' && text[pos - 1] != '\n') continue;
      auto start = pos + key.size();
      auto end = text.find('\n', start);
      std::string v(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
      while (!v.empty() && (v.back() == ' ' || v.back() == '\r')) v.pop_back();
      return v;
    }
    return {};
  };
  auto add = [&](std::string d) {
    while (d.size() > 1 && d.back() == '/') d.pop_back();
    if (d.empty() || d.front() != '/') return;
    if (std::find(dirs.begin(), dirs.end(), d) == dirs.end()) dirs.push_back(std::move(d));
  };
  add(value_of("WorkDir="));
  std::string out = value_of("StdOut=");
  if (auto slash = out.rfind('/'); slash != std::string::npos) add(out.substr(0, slash ? slash : 1));
  return dirs;
}

run_row row_from_status(const std::string& dir, const boost::json::object& st) {
  run_row r;
  r.dir = dir;
  if (const auto* job = object_at(st, "job")) {
    r.job = text_of(*job, "id");
    r.task = text_of(*job, "task_id");
  }
  r.state = text_of(st, "state");
  const auto* ranges = object_at(st, "ranges");
  auto total = number_at(ranges, "total");
  auto done = number_at(ranges, "done");
  std::ostringstream p;
  p << count_text(ranges, "done") << "/" << count_text(ranges, "total") << " ranges";
  if (total && done && *total > 0) p << " (" << static_cast<int>(std::floor(100.0 * *done / *total)) << "%)";
  p << ", ETA " << duration_text(number_at(&st, "eta_s"));
  r.progress = p.str();
  return r;
}

std::string format_run_rows(const std::vector<run_row>& rows) {
  std::size_t wj = 3, wt = 4, ws = 5, wd = 3;
  for (const auto& r : rows) {
    wj = std::max(wj, r.job.size());
    wt = std::max(wt, r.task.size());
    ws = std::max(ws, r.state.size());
    wd = std::max(wd, r.dir.size());
  }
  std::ostringstream o;
  auto line = [&](const std::string& j, const std::string& t, const std::string& st, const std::string& pr,
                  const std::string& d) {
    o << j << std::string(wj - j.size() + 2, ' ') << t << std::string(wt - t.size() + 2, ' ') << st
      << std::string(ws - st.size() + 2, ' ') << d << std::string(wd - d.size() + 2, ' ') << pr << "\n";
  };
  line("JOB", "TASK", "STATE", "PROGRESS", "DIR");
  for (const auto& r : rows) line(r.job, r.task, r.state, r.progress, r.dir);
  return o.str();
}

rty::result<http_url> parse_http_url(std::string_view text) {
  auto fail = [&](std::string why) {
    return rty::fail("expected one line http://HOST:PORT, got '" + std::string(text) + "' (" + why + ")");
  };
  constexpr std::string_view scheme = "http://";
  if (!text.starts_with(scheme)) return fail("not an http:// URL");
  std::string_view rest = text.substr(scheme.size());
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    if (rest.substr(slash) != "/") return fail("a path is not expected");
    rest = rest.substr(0, slash);
  }
  http_url u;
  std::string_view port;
  if (rest.starts_with("[")) {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return fail("unclosed [");
    u.host = std::string(rest.substr(1, close - 1));
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("junk after ]");
      port = after.substr(1);
    }
  } else {
    auto colon = rest.rfind(':');
    u.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port = rest.substr(colon + 1);
    if (u.host.find(':') != std::string::npos) return fail("IPv6 addresses go in brackets");
  }
  if (u.host.empty()) return fail("no host");
  if (port.empty()) {
    u.port = "80";
  } else {
    unsigned n = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
    if (ec != std::errc() || end != port.data() + port.size() || n == 0 || n > 65535)
      return fail("port must be 1-65535");
    u.port = std::string(port);
  }
  return u;
}

namespace {

struct get_failure {
  http_get_result::failure kind;
  std::string why;
};
using get_problem = std::optional<get_failure>;

// Connects (non-blocking) to the first address of `list` that accepts before the deadline.
get_problem connect_any(const addrinfo* list, steady::time_point deadline, int& fd) {
  fd = -1;
  int last_errno = 0;
  bool timed_out = false;
  for (auto* a = list; a && fd < 0; a = a->ai_next) {
    int s = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (s < 0) {
      last_errno = errno;
      continue;
    }
    if (::connect(s, a->ai_addr, a->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last_errno = errno;
        ::close(s);
        continue;
      }
      if (!wait_for(s, POLLOUT, deadline)) {
        timed_out = errno == 0;
        last_errno = errno;
        ::close(s);
        continue;
      }
      int so_error = 0;
      socklen_t len = sizeof so_error;
      ::getsockopt(s, SOL_SOCKET, SO_ERROR, &so_error, &len);
      if (so_error != 0) {
        last_errno = so_error;
        ::close(s);
        continue;
      }
    }
    fd = s;
  }
  if (fd >= 0) return std::nullopt;
  if (timed_out) return get_failure{http_get_result::failure::timeout, "no connection within the timeout"};
  if (last_errno == ECONNREFUSED) return get_failure{http_get_result::failure::refused, "connection refused"};
  return get_failure{http_get_result::failure::other, std::string("cannot connect: ") + std::strerror(last_errno)};
}

get_problem send_all(int fd, const std::string& request, steady::time_point deadline) {
  for (std::size_t sent = 0; sent < request.size();) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_for(fd, POLLOUT, deadline))
        return get_failure{http_get_result::failure::timeout, "request not sent within the timeout"};
    } else {
      return get_failure{http_get_result::failure::other, std::string("send: ") + std::strerror(errno)};
    }
  }
  return std::nullopt;
}

// Reads until the server closes the connection (HTTP/1.0).
get_problem receive_all(int fd, steady::time_point deadline, std::chrono::milliseconds timeout, std::string& response) {
  // The status of 10,000 nodes is a few MB; anything far larger is not our server.
  constexpr std::size_t max_response = 64u << 20;
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      response.append(buf, static_cast<std::size_t>(n));
      if (response.size() > max_response) return get_failure{http_get_result::failure::other, "answer larger than 64 MiB"};
    } else if (n == 0) {
      return std::nullopt;
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!wait_for(fd, POLLIN, deadline))
        return get_failure{http_get_result::failure::timeout,
                           "no complete answer within " + std::to_string(timeout.count() / 1000.0).substr(0, 4) + " s"};
    } else {
      if (errno == ECONNRESET && response.empty())
        return get_failure{http_get_result::failure::refused, "connection reset"};
      return get_failure{http_get_result::failure::other, std::string("recv: ") + std::strerror(errno)};
    }
  }
}

// The status code and body of an HTTP/1.x response.
get_problem parse_response(const std::string& response, http_get_result& r) {
  auto head_end = response.find("\r\n\r\n");
  std::size_t body_start = head_end == std::string::npos ? std::string::npos : head_end + 4;
  if (head_end == std::string::npos) {
    head_end = response.find("\n\n");
    body_start = head_end == std::string::npos ? std::string::npos : head_end + 2;
  }
  if (!response.starts_with("HTTP/1.") || response.size() < 12 || body_start == std::string::npos)
    return get_failure{http_get_result::failure::other, "answer is not an HTTP response"};
  int code = 0;
  auto [end, ec] = std::from_chars(response.data() + 9, response.data() + 12, code);
  if (ec != std::errc() || end != response.data() + 12 || response[8] != ' ')
    return get_failure{http_get_result::failure::other, "malformed HTTP status line"};
  r.status = code;
  r.body = response.substr(body_start);
  return std::nullopt;
}

}  // namespace

http_get_result http_get(const http_url& url, std::string_view path, std::chrono::milliseconds timeout) {
  http_get_result r;
  const std::string where = display(url);
  auto deadline = steady::now() + timeout;
  auto failed = [&](get_failure f) {
    r.fail = f.kind;
    r.error = "raythenad at " + where + ": " + f.why;
    return r;
  };

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  if (int rc = ::getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &list); rc != 0)
    return failed({http_get_result::failure::other, std::string("cannot resolve host: ") + ::gai_strerror(rc)});
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(list, ::freeaddrinfo);
  int fd = -1;
  if (auto f = connect_any(list, deadline, fd)) return failed(std::move(*f));
  socket_fd sock(fd);

  std::string request = "GET " + std::string(path) + " HTTP/1.0\r\nHost: " + url.host + "\r\nUser-Agent: raythenad-status" +
                        "\r\nAccept: application/json\r\n\r\n";
  if (auto f = send_all(fd, request, deadline)) return failed(std::move(*f));
  std::string response;
  if (auto f = receive_all(fd, deadline, timeout, response)) return failed(std::move(*f));
  if (auto f = parse_response(response, r)) return failed(std::move(*f));
  return r;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds)) return "-";
  long long s = std::llround(std::max(0.0, seconds));
  std::ostringstream o;
  o << std::setfill('0');
  if (s < 60)
    o << s << "s";
  else if (s < 3600)
    o << s / 60 << "m" << std::setw(2) << s % 60 << "s";
  else if (s < 86400)
    o << s / 3600 << "h" << std::setw(2) << (s % 3600) / 60 << "m";
  else
    o << s / 86400 << "d" << std::setw(2) << (s % 86400) / 3600 << "h";
  return o.str();
}

namespace {

// The last error of each node and of each merge that failed (and has not succeeded since).
void summary_errors(std::ostream& o, const boost::json::object& st, const boost::json::object* merges) {
  std::vector<std::string> errors;
  if (auto n = st.find("nodes"); n != st.end() && n->value().is_array())
    for (const auto& v : n->value().as_array())
      if (v.is_object())
        if (auto e = rty::json::get_string(v.as_object(), "last_error"); e && !e->empty())
          errors.push_back("node " + text_of(v.as_object(), "node_id") + ": " + *e);
  if (merges)
    if (auto m = merges->find("errors"); m != merges->end() && m->value().is_array())
      for (const auto& v : m->value().as_array())
        if (v.is_object())
          if (auto e = rty::json::get_string(v.as_object(), "last_error"); e && !e->empty())
            errors.push_back("merge " + text_of(v.as_object(), "output") + ": " + *e);
  for (const auto& e : errors) o << "error   " << e << "\n";
}

// One row per node, columns padded to their widest cell.
void summary_node_table(std::ostream& o, const boost::json::array& nodes) {
  // CPUS and MEMORY: what pilot (>= 3.10) reported in update_worker_node; "-" until it did.
  constexpr int columns = 10;
  constexpr bool numeric[columns] = {false, false, true, true, false, false, true, true, true, false};
  struct row {
    std::string cells[columns];
  };
  std::vector<row> rows;
  rows.push_back({{"NODE", "HOST", "CPUS", "MEMORY", "STATE", "PILOT", "HELD", "SERVED", "FINISHED", "HEARTBEAT"}});
  for (const auto& v : nodes) {
    if (!v.is_object()) continue;
    const auto& n = v.as_object();
    auto age = number_at(&n, "heartbeat_age_s");
    const auto* wn = object_at(n, "worker_node");
    auto memory = count_text(wn, "memory_mb");
    rows.push_back({{text_of(n, "node_id"), text_of(n, "host"), count_text(wn, "logical_cpus"),
                     memory == "-" ? memory : memory + " MB", text_of(n, "state"), text_of(n, "pilot_state"),
                     count_text(&n, "ranges_held"), count_text(&n, "ranges_served"), count_text(&n, "ranges_finished"),
                     age ? format_duration(*age) + " ago" : "-"}});
  }
  std::size_t width[columns] = {};
  for (const auto& r : rows)
    for (int c = 0; c < columns; ++c) width[c] = std::max(width[c], r.cells[c].size());
  o << "\n";
  for (const auto& r : rows) {
    std::string line;
    for (int c = 0; c < columns; ++c) {
      std::string pad(width[c] - r.cells[c].size(), ' ');  // counts right-aligned, text left-aligned
      if (c) line += "  ";
      line += numeric[c] ? pad + r.cells[c] : (c == columns - 1 ? r.cells[c] : r.cells[c] + pad);
    }
    o << line << "\n";
  }
}

}  // namespace

std::string format_status_summary(const boost::json::object& st) {
  const auto* job = object_at(st, "job");
  const auto* ranges = object_at(st, "ranges");
  const auto* rate = object_at(st, "rate");
  const auto* merges = object_at(st, "merges");
  const auto* events = object_at(st, "events");
  std::ostringstream o;

  o << "job " << (job ? text_of(*job, "id") : "-") << "  task " << (job ? text_of(*job, "task_id") : "-")
    << "  state " << text_of(st, "state") << "  up " << duration_text(number_at(&st, "uptime_s"))
    << "  raythenad " << text_of(st, "version") << "\n";

  auto total = number_at(ranges, "total");
  auto done = number_at(ranges, "done");
  o << "ranges  " << count_text(ranges, "total") << " total: " << count_text(ranges, "ready") << " ready, "
    << count_text(ranges, "leased") << " leased, " << count_text(ranges, "finished") << " finished, "
    << count_text(ranges, "failed") << " failed";
  if (total && done && *total > 0) o << " (" << static_cast<int>(std::floor(100.0 * *done / *total)) << "% done)";
  o << "\n";

  o << "rate    " << rate_text(number_at(rate, "events_per_s_last_minute")) << " events/s last minute, "
    << rate_text(number_at(rate, "events_per_s_since_start")) << " since start   ETA "
    << duration_text(number_at(&st, "eta_s")) << "   walltime left ";
  auto wall = st.find("walltime_left_s");
  o << (wall != st.end() && wall->value().is_null() ? std::string("no limit")
                                                    : duration_text(number_at(&st, "walltime_left_s")))
    << "\n";

  o << "merges  " << count_text(merges, "running") << " running, " << count_text(merges, "pending") << " pending, "
    << count_text(merges, "done") << " done, " << count_text(merges, "failed") << " failed   events merged "
    << count_text(events, "merged") << ", failed " << count_text(events, "failed") << "\n";

  o << "nodes   " << count_text(&st, "nodes_connected") << " connected, " << count_text(&st, "requests_waiting")
    << " range request(s) waiting\n";

  summary_errors(o, st, merges);

  auto nodes_it = st.find("nodes");
  if (nodes_it == st.end() || !nodes_it->value().is_array() || nodes_it->value().as_array().empty()) return o.str();
  summary_node_table(o, nodes_it->value().as_array());
  return o.str();
}

namespace {

// --all: every run under `base` (depth 3, symlinks not followed): with status.url, asked over HTTP;
// else its task directory read (task_workdir_path.txt, or a task directory itself). Each task once.
rty::result<std::vector<run_row>> list_runs(const std::string& base, double timeout_s) {
  namespace fs = std::filesystem;
  std::vector<run_row> rows;
  std::set<std::string> tasks_seen;
  std::error_code ec;
  if (!fs::is_directory(base, ec)) return rty::fail(base + ": not a directory");
  auto visit = [&](const std::string& dir) -> bool {  // true: a run (do not descend)
    std::error_code e;
    if (fs::exists(file::join(dir, std::string(status_url_file)), e)) {
      auto f = fetch_status(dir, timeout_s);
      if (f.status) {
        rows.push_back(row_from_status(dir, *f.status));
      } else {
        rows.push_back(run_row{dir, "-", "-", "unreachable", f.error});
      }
      return true;
    }
    bool pointer = fs::exists(file::join(dir, "task_workdir_path.txt"), e);
    bool task = fs::exists(file::join(dir, "state.json"), e) || fs::exists(file::join(dir, "commit_log"), e);
    if (!pointer && !task) return false;
    auto facts = read_task_dir(dir);
    if (!facts) {
      rows.push_back(run_row{dir, "-", "-", "unreadable", facts.error().message()});
      return true;
    }
    if (!tasks_seen.insert(facts->task_dir).second) return true;
    std::size_t outputs = 0, failed = 0;
    for (auto& [in, outs] : facts->cp.merged) outputs += outs.size();
    for (auto& [in, ranges] : facts->cp.failed) failed += ranges.size();
    std::ostringstream p;
    p << outputs << " output(s) final, " << facts->cp.merging.size() << " input(s) partly merged, " << failed
      << " range(s) failed";
    rows.push_back(run_row{dir, "-", fs::path(facts->task_dir).filename().string(), to_string(state_of(*facts)), p.str()});
    return true;
  };
  if (visit(base)) return rows;
  for (auto it = fs::recursive_directory_iterator(base, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code e;
    if (!it->is_directory(e) || it->is_symlink(e)) {
      continue;
    }
    if (visit(it->path().string()) || it.depth() >= 2) it.disable_recursion_pending();
  }
  return rows;
}

}  // namespace

std::string status_command_help() {
  return "Usage: raythenad status [--workdir DIR | --jobid N] [--json] [--watch [--interval S] [--count N]] [--timeout S]\n"
         "       raythenad status --all BASEDIR\n"
         "\n"
         "Shows what the raythenad running with workdir DIR is doing: job, event ranges by state, events/s,\n"
         "ETA, walltime left, merges, and one line per node. The coordinator is found through\n"
         "DIR/status.url, which it writes at start and removes at exit.\n"
         "\n"
         "  --workdir DIR   the run's ray.workdir (default: $RAYTHENA_RAY_WORKDIR, else the current directory)\n"
         "  --jobid N       the run of Slurm job N: the first of the job's WorkDir, the directory of its\n"
         "                  StdOut (from scontrol show job N) and the workdir the coordinator recorded in\n"
         "                  ${XDG_STATE_HOME:-~/.local/state}/raythenad/jobs/N that holds status.url\n"
         "  --all BASEDIR   one line per run under BASEDIR (3 levels deep): PandaID, task, state, progress; running\n"
         "                  runs through status.url, ended ones from their task directory\n"
         "  --json          print the raw GET /status JSON\n"
         "  --watch         refresh every --interval seconds (default 2) until Ctrl-C or --count refreshes\n"
         "  --timeout S     give up on an unresponsive coordinator after S seconds (default 5)\n"
         "\n"
         "Exit status: 0 shown, 1 no coordinator or a bad answer, 2 usage error.\n";
}

int run_status_command(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  options opt;
  if (auto e = parse_options(argc, argv, opt)) {
    err << "raythenad status: " << *e << "\n" << status_command_help();
    return 2;
  }
  if (opt.help) {
    out << status_command_help();
    return 0;
  }
  if (!opt.all_base.empty()) {
    auto rows = list_runs(opt.all_base, std::min(opt.timeout, 2.0));
    if (!rows) {
      err << "raythenad status: --all " << rows.error() << "\n";
      return 1;
    }
    if (rows->empty()) {
      err << "raythenad status: no run under " << opt.all_base << " (no status.url, state.json or task_workdir_path.txt)\n";
      return 1;
    }
    out << format_run_rows(*rows);
    return 0;
  }
  if (!opt.jobid.empty()) {
    auto text = scontrol_show_job(opt.jobid, opt.timeout);
    if (!text) {
      err << "raythenad status: --jobid " << opt.jobid << ": " << text.error() << "\n";
      return 1;
    }
    auto dirs = slurm_job_dirs(*text);
    // A hand-written batch script's ray.workdir may be neither: the coordinator also recorded it by job id.
    if (auto reg = registry::registry_dir(config::current_environment()))
      if (auto recorded = registry::find_run(*reg, opt.jobid);
          recorded && std::find(dirs.begin(), dirs.end(), *recorded) == dirs.end())
        dirs.push_back(*recorded);
    for (const auto& d : dirs)
      if (::access(file::join(d, std::string(status_url_file)).c_str(), F_OK) == 0) {
        opt.workdir = d;
        break;
      }
    if (opt.workdir.empty()) {
      err << "raythenad status: --jobid " << opt.jobid << ": no " << status_url_file << " in the job's WorkDir, its StdOut's directory or its recorded workdir";
      for (const auto& d : dirs) err << " " << d;
      err << " (a run whose ray.workdir is elsewhere: use --workdir)\n";
      return 1;
    }
  }
  if (opt.workdir.empty()) {
    const char* env = std::getenv("RAYTHENA_RAY_WORKDIR");
    opt.workdir = env && *env ? env : ".";
  }
  bool clear = opt.watch && !opt.json && &out == &std::cout && ::isatty(STDOUT_FILENO);
  for (long shown = 0;;) {
    auto f = fetch_status(opt.workdir, opt.timeout);
    if (!f.status) {
      err << "raythenad status: " << f.error << "\n";
      return 1;
    }
    if (clear) out << "\033[H\033[2J";
    if (opt.json) {
      out << boost::json::serialize(*f.status) << "\n";
    } else {
      if (opt.watch) out << "raythenad status  " << local_time_text() << "  (every " << opt.interval << " s)\n";
      out << format_status_summary(*f.status);
    }
    out.flush();
    ++shown;
    if (!opt.watch || (opt.count > 0 && shown >= opt.count)) return 0;
    if (!clear && !opt.json) out << "\n";
    std::this_thread::sleep_for(std::chrono::duration<double>(opt.interval));
  }
}

}  // namespace rty::tools
