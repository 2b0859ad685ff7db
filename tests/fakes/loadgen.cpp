// rty_loadgen: a C++ stand-in for pilot3 that loads a node server as hard as C concurrent pilots would.
//
// Installed as payload.pilotwrapper it receives the production wrapper argv (ignored apart from -q) and
// finds its server through [Pilot] pandaserver in $HARVESTER_PILOT_CONFIG (or --direct URL). It does
// getJob and updateJob starting/running once, then runs C client threads, each looping
//   getEventRanges (nRanges N, curl form post as pilot 3.2 sends it) -> write one small real output file
//   per range -> updateEventRanges version=1 with one esOutput block (pfn, fsize, adler32)
// until the time is up or the server answers [] ; then updateJob finished, and a JSON result file.
//
// Environment:
//   LOADGEN_CLIENTS    concurrent clients (default 8)
//   LOADGEN_SECONDS    measured duration (default 10)
//   LOADGEN_START_AT   epoch seconds (float) at which the measured phase starts (all generators of a
//                      run start together); default: right after getJob
//   LOADGEN_NRANGES    nRanges per getEventRanges (default 8)
//   LOADGEN_MAX_RANGES stop once this many ranges were reported (default: no limit)
//   LOADGEN_KEEPALIVE  1: one persistent connection per client; default: a new connection per request
//                      like pilot's curl
//   LOADGEN_MOVE_TO    a directory: move each output there after its update was acknowledged, doing the
//                      stub's rename for servers that do not (the baseline), so that the output
//                      directory stays as small as against raythenad and file creation costs the same
//   LOADGEN_RESULT     result file; an existing directory gets loadgen-<pid>.json (default
//                      ./loadgen-result.json)
// Exit codes: 0 done, 1 no job / server unreachable, 2 bad configuration.
#include <boost/json.hpp>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

namespace json = boost::json;
using clock_type = std::chrono::steady_clock;

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

double wall_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// [Pilot] pandaserver from pilot's default.cfg (the same lookup fake_pilot.py does).
std::string pandaserver_from_config(const std::string& path) {
  std::ifstream in(path);
  std::string line, section;
  while (std::getline(in, line)) {
    auto b = line.find_first_not_of(" \t");
    if (b == std::string::npos || line[b] == '#' || line[b] == ';') continue;
    line = line.substr(b);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (line.front() == '[') {
      section = line.substr(1, line.find(']') - 1);
      continue;
    }
    auto eq = line.find_first_of("=:");
    if (section != "Pilot" || eq == std::string::npos) continue;
    std::string key = line.substr(0, eq);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
    if (key != "pandaserver") continue;
    auto v = line.find_first_not_of(" \t", eq + 1);
    return v == std::string::npos ? std::string() : line.substr(v);
  }
  return {};
}

struct endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string host_header;
};

bool resolve(const std::string& url, endpoint& ep, std::string& err) {
  std::string rest = url;
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  auto slash = rest.find('/');
  if (slash != std::string::npos) rest = rest.substr(0, slash);
  std::string host = rest, port = "80";
  if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0 || !res) {
    err = "cannot resolve " + url + ": " + ::gai_strerror(rc);
    return false;
  }
  std::memcpy(&ep.addr, res->ai_addr, res->ai_addrlen);
  ep.len = static_cast<socklen_t>(res->ai_addrlen);
  ep.host_header = rest;
  ::freeaddrinfo(res);
  return true;
}

// application/x-www-form-urlencoded the way Python's urlencode (quote_plus) and curl's --data do it.
void append_quoted(std::string& out, std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '_' || c == '.' || c == '-' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
}

std::string form(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  std::string out;
  for (auto& [k, v] : fields) {
    if (!out.empty()) out.push_back('&');
    append_quoted(out, k);
    out.push_back('=');
    append_quoted(out, v);
  }
  return out;
}

std::uint32_t adler32(std::string_view data) {
  std::uint32_t a = 1, b = 0;
  for (unsigned char c : data) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  return (b << 16) | a;
}

// One HTTP/1.1 client connection: blocking, one request at a time.
class http_client {
 public:
  http_client(const endpoint& ep, bool keep_alive) : ep_(ep), keep_alive_(keep_alive) {}
  ~http_client() { close(); }

  // Posts a form body to /server/panda/<name>; returns the reply body, or false with err set.
  bool post(std::string_view name, const std::string& body, std::string& reply, std::string& err) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool reused = fd_ >= 0;
      if (fd_ < 0 && !connect(err)) return false;
      if (exchange(name, body, reply, err)) {
        if (!keep_alive_ || server_closes_) close();
        return true;
      }
      close();
      if (!reused) return false;  // a kept-alive socket may have been closed by the server: retry once
    }
    return false;
  }

 private:
  bool connect(std::string& err) {
    fd_ = ::socket(ep_.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      err = std::string("socket: ") + std::strerror(errno);
      return false;
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // curl sets it too
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&ep_.addr), ep_.len) != 0) {
      err = std::string("connect: ") + std::strerror(errno);
      close();
      return false;
    }
    return true;
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool exchange(std::string_view name, const std::string& body, std::string& reply, std::string& err) {
    // The headers pilot 3.2's curl sends (fixtures/pilot3-3.2.2.22-wire.json).
    request_.clear();
    request_.append("POST /server/panda/").append(name).append(" HTTP/1.1\r\nHost: ").append(ep_.host_header);
    request_.append(
        "\r\nAccept-Encoding: deflate, gzip, br, zstd\r\nUser-Agent: None\r\nAccept: application/json\r\n"
        "Content-Length: ");
    request_.append(std::to_string(body.size()));
    request_.append("\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n");
    request_.append(body);
    const char* p = request_.data();
    std::size_t left = request_.size();
    while (left > 0) {
      ssize_t w = ::send(fd_, p, left, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        err = std::string("send: ") + std::strerror(errno);
        return false;
      }
      p += w;
      left -= static_cast<std::size_t>(w);
    }
    buffer_.clear();
    std::size_t header_end = std::string::npos;
    long content_length = -1;
    bool chunked = false;
    server_closes_ = false;
    int status = 0;
    char chunk[16384];
    for (;;) {
      if (header_end == std::string::npos) {
        header_end = buffer_.find("\r\n\r\n");
        if (header_end != std::string::npos) {
          std::string_view head(buffer_.data(), header_end);
          if (head.size() > 12) status = std::atoi(std::string(head.substr(9, 3)).c_str());
          std::size_t pos = head.find("\r\n");
          while (pos != std::string_view::npos && pos < head.size()) {
            std::size_t next = head.find("\r\n", pos + 2);
            std::string line(head.substr(pos + 2, (next == std::string_view::npos ? head.size() : next) - pos - 2));
            for (auto& c : line) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (line.rfind("content-length:", 0) == 0) content_length = std::atol(line.c_str() + 15);
            if (line.rfind("transfer-encoding:", 0) == 0 && line.find("chunked") != std::string::npos) chunked = true;
            if (line.rfind("connection:", 0) == 0 && line.find("close") != std::string::npos) server_closes_ = true;
            pos = next;
          }
          header_end += 4;
        }
      }
      if (header_end != std::string::npos) {
        if (content_length >= 0 && buffer_.size() - header_end >= static_cast<std::size_t>(content_length)) {
          reply.assign(buffer_, header_end, static_cast<std::size_t>(content_length));
          break;
        }
        if (chunked && buffer_.find("\r\n0\r\n\r\n", header_end > 2 ? header_end - 2 : 0) != std::string::npos) {
          reply.clear();
          std::size_t pos = header_end;
          for (;;) {
            std::size_t size = std::strtoul(buffer_.c_str() + pos, nullptr, 16);
            pos = buffer_.find("\r\n", pos) + 2;
            if (size == 0) break;
            reply.append(buffer_, pos, size);
            pos += size + 2;
          }
          break;
        }
      }
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (n == 0 && header_end != std::string::npos && content_length < 0 && !chunked) {
          reply.assign(buffer_, header_end);
          server_closes_ = true;
          break;
        }
        err = n == 0 ? std::string("connection closed by the server") : std::string("recv: ") + std::strerror(errno);
        return false;
      }
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
    if (status != 200) {
      err = "HTTP status " + std::to_string(status) + ": " + reply.substr(0, 200);
      return false;
    }
    return true;
  }

  const endpoint& ep_;
  bool keep_alive_;
  int fd_ = -1;
  bool server_closes_ = false;
  std::string request_;
  std::string buffer_;
};

struct job_info {
  std::string panda_id, jobset_id, task_id;
};

std::string scalar_text(const json::value* v) {
  if (!v) return {};
  if (v->is_string()) return std::string(v->get_string());
  if (v->is_int64()) return std::to_string(v->get_int64());
  if (v->is_uint64()) return std::to_string(v->get_uint64());
  return {};
}

bool status_ok(const json::object& o) {
  auto* s = o.if_contains("StatusCode");
  return !s || (s->is_int64() && s->get_int64() == 0) || (s->is_string() && s->get_string() == "0");
}

struct latencies {
  std::vector<std::uint32_t> get_us, update_us;
};

struct shared_state {
  endpoint ep;
  job_info job;
  bool keep_alive = false;
  std::string move_to;
  int n_ranges = 8;
  long max_ranges = 0;
  std::string out_dir;
  clock_type::time_point start, deadline;
  std::atomic<long> ranges{0}, errors{0}, empty_replies{0};
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::string first_error;
  latencies all;
};

void record_error(shared_state& s, const std::string& what) {
  s.errors++;
  std::lock_guard lock(s.mutex);
  if (s.first_error.empty()) s.first_error = what;
}

void client_loop(shared_state& s, int index) {
  http_client client(s.ep, s.keep_alive);
  latencies mine;
  mine.get_us.reserve(1 << 16);
  mine.update_us.reserve(1 << 16);
  // Where AthenaMP's worker N writes (pilot reports these paths in esOutput.pfn).
  std::string dir = s.out_dir + "/worker_" + std::to_string(index);
  ::mkdir(dir.c_str(), 0755);
  const std::string n_ranges = std::to_string(s.n_ranges);
  const std::string get_body = form({{"pandaID", s.job.panda_id},
                                     {"jobsetID", s.job.jobset_id},
                                     {"taskID", s.job.task_id},
                                     {"nRanges", n_ranges}});
  std::string reply, err, content, path, update_json, update_body;
  std::vector<std::string> written;
  unsigned char parse_buffer[32768];
  while (!s.stop.load(std::memory_order_relaxed) && clock_type::now() < s.deadline) {
    auto t0 = clock_type::now();
    if (!client.post("getEventRanges", get_body, reply, err)) {
      record_error(s, "getEventRanges: " + err);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    auto t1 = clock_type::now();
    mine.get_us.push_back(static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count()));
    // A fresh arena per reply on a stack buffer: no heap allocation for a typical reply.
    json::monotonic_resource mr(parse_buffer, sizeof parse_buffer);
    boost::system::error_code ec;
    json::value v = json::parse(reply, ec, &mr);
    const json::array* ranges = nullptr;
    if (!ec && v.is_object() && status_ok(v.get_object()))
      if (auto* r = v.get_object().if_contains("eventRanges"); r && r->is_array()) ranges = &r->get_array();
    if (!ranges) {
      record_error(s, "getEventRanges: unexpected reply " + reply.substr(0, 200));
      continue;
    }
    if (ranges->empty()) {
      s.empty_replies++;
      s.stop = true;  // no more ranges for anyone: pilot would finish now
      break;
    }
    update_json.assign(R"([{"esOutput": {"numEvents": )");
    update_json.append(std::to_string(ranges->size())).append(R"(}, "eventRanges": [)");
    bool first = true;
    written.clear();
    for (auto& rv : *ranges) {
      if (!rv.is_object()) continue;
      auto& r = rv.get_object();
      std::string id = scalar_text(r.if_contains("eventRangeID"));
      // The output holds the range itself, like fake_pilot.py's, so a merge of these files could be checked.
      content.assign(R"({"GUID": ")").append(scalar_text(r.if_contains("GUID")));
      content.append(R"(", "PFN": ")").append(scalar_text(r.if_contains("PFN")));
      content.append(R"(", "eventRangeID": ")").append(id);
      content.append(R"(", "lastEvent": )").append(scalar_text(r.if_contains("lastEvent")));
      content.append(R"(, "startEvent": )").append(scalar_text(r.if_contains("startEvent"))).append("}\n");
      path.assign(dir).append("/HITS.pool.root.").append(id);
      if (FILE* f = std::fopen(path.c_str(), "wb")) {
        std::fwrite(content.data(), 1, content.size(), f);
        std::fclose(f);
        if (!s.move_to.empty()) written.push_back(path);
      } else {
        record_error(s, "cannot write " + path + ": " + std::strerror(errno));
      }
      char sum[9];
      std::snprintf(sum, sizeof sum, "%08x", adler32(content));
      if (!first) update_json.append(", ");
      first = false;
      update_json.append(R"({"eventRangeID": ")").append(id);
      update_json.append(R"(", "eventStatus": "finished", "pfn": ")").append(path);
      update_json.append(R"(", "fsize": )").append(std::to_string(content.size()));
      update_json.append(R"(, "adler32": ")").append(sum).append("\"}");
    }
    update_json.append("]}]");
    update_body = form({{"version", "1"}, {"eventRanges", update_json}});
    auto t2 = clock_type::now();
    if (!client.post("updateEventRanges", update_body, reply, err)) {
      record_error(s, "updateEventRanges: " + err);
      continue;
    }
    auto t3 = clock_type::now();
    mine.update_us.push_back(static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(t3 - t2).count()));
    if (reply.find("\"StatusCode\": 0") == std::string::npos && reply.find("\"StatusCode\":0") == std::string::npos)
      record_error(s, "updateEventRanges: reply " + reply.substr(0, 200));
    for (auto& w : written) {
      auto target = s.move_to + w.substr(w.rfind('/'));
      if (std::rename(w.c_str(), target.c_str()) != 0) record_error(s, "cannot move " + w + " to " + target);
    }
    long total = s.ranges.fetch_add(static_cast<long>(ranges->size())) + static_cast<long>(ranges->size());
    if (s.max_ranges > 0 && total >= s.max_ranges) s.stop = true;
  }
  std::lock_guard lock(s.mutex);
  s.all.get_us.insert(s.all.get_us.end(), mine.get_us.begin(), mine.get_us.end());
  s.all.update_us.insert(s.all.update_us.end(), mine.update_us.begin(), mine.update_us.end());
}

json::object summary(std::vector<std::uint32_t>& v) {
  json::object o;
  o["count"] = v.size();
  if (v.empty()) return o;
  std::sort(v.begin(), v.end());
  auto pct = [&](double p) { return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))]; };
  o["p50_us"] = pct(0.50);
  o["p90_us"] = pct(0.90);
  o["p99_us"] = pct(0.99);
  o["max_us"] = v.back();
  return o;
}

bool post_once(const endpoint& ep, std::string_view name, const std::string& body, json::value& out, std::string& err) {
  http_client c(ep, false);
  std::string reply;
  if (!c.post(name, body, reply, err)) return false;
  boost::system::error_code ec;
  out = json::parse(reply, ec);
  if (ec) {
    err = std::string(name) + ": reply is not JSON: " + reply.substr(0, 200);
    return false;
  }
  return true;
}

std::string hostname() {
  char h[256] = {};
  ::gethostname(h, sizeof h - 1);
  return h;
}

void log(const std::string& m) { std::cout << "rty_loadgen: " << m << std::endl; }

}  // namespace

int main(int argc, char** argv) {
  std::string url, queue = "LOADGEN_QUEUE";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--direct" && i + 1 < argc) url = argv[++i];
    else if (a == "-q" && i + 1 < argc) queue = argv[++i];
    // Every other production wrapper flag is accepted and ignored.
  }
  if (url.empty()) {
    std::string cfg = env_or("HARVESTER_PILOT_CONFIG", "");
    url = cfg.empty() ? "" : pandaserver_from_config(cfg);
    if (url.empty()) url = "http://127.0.0.1:8080";
  }
  shared_state s;
  std::string err;
  if (!resolve(url, s.ep, err)) {
    log(err);
    return 2;
  }
  int clients = std::atoi(env_or("LOADGEN_CLIENTS", "8").c_str());
  double seconds = std::atof(env_or("LOADGEN_SECONDS", "10").c_str());
  double start_at = std::atof(env_or("LOADGEN_START_AT", "0").c_str());
  s.n_ranges = std::atoi(env_or("LOADGEN_NRANGES", "8").c_str());
  s.max_ranges = std::atol(env_or("LOADGEN_MAX_RANGES", "0").c_str());
  s.keep_alive = env_or("LOADGEN_KEEPALIVE", "0") == "1";
  s.move_to = env_or("LOADGEN_MOVE_TO", "");
  std::string result_path = env_or("LOADGEN_RESULT", "loadgen-result.json");
  if (struct stat st{}; ::stat(result_path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    result_path += "/loadgen-" + std::to_string(::getpid()) + ".json";
  if (clients < 1 || seconds <= 0 || s.n_ranges < 1) {
    log("LOADGEN_CLIENTS, LOADGEN_SECONDS and LOADGEN_NRANGES must be positive");
    return 2;
  }

  // getJob as pilot 3.2 sends it; the node server may still be starting: retry refused connections.
  const std::string node = hostname();
  json::value job;
  auto connect_deadline = clock_type::now() + std::chrono::seconds(30);
  for (;;) {
    if (post_once(s.ep, "getJob",
                  form({{"siteName", queue}, {"computingElement", queue}, {"prodSourceLabel", "managed"},
                        {"diskSpace", "81425"}, {"workingGroup", ""}, {"cpu", "2445.406"}, {"mem", "24105.1328125"},
                        {"node", node}, {"allowOtherCountry", "False"}, {"resourceType", "MCORE"}}),
                  job, err))
      break;
    if (err.find("refused") == std::string::npos || clock_type::now() > connect_deadline) {
      log("getJob failed: " + err);
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!job.is_object() || !job.get_object().contains("PandaID")) {
    log("getJob: no job: " + json::serialize(job).substr(0, 200));
    return 1;
  }
  auto& jo = job.get_object();
  s.job.panda_id = scalar_text(jo.if_contains("PandaID"));
  s.job.jobset_id = scalar_text(jo.if_contains("jobsetID"));
  s.job.task_id = scalar_text(jo.if_contains("taskID"));
  std::string core_count = scalar_text(jo.if_contains("coreCount"));
  auto update_job = [&](const char* state) {
    json::value ignored;
    std::string e;
    post_once(s.ep, "updateJob",
              form({{"jobId", s.job.panda_id}, {"state", state}, {"timestamp", "2026-01-01T00:00:00+00:00"},
                    {"siteName", queue}, {"node", node}, {"attemptNr", "1"}, {"schedulerID", "unknown"},
                    {"pilotID", "unknown|PR|3.2.2 (22)"}, {"coreCount", core_count.empty() ? "1" : core_count}}),
              ignored, e);
  };
  update_job("starting");
  update_job("running");
  char cwd[4096] = ".";
  if (!::getcwd(cwd, sizeof cwd)) std::strcpy(cwd, ".");
  s.out_dir = std::string(cwd) + "/PanDA_Pilot-" + s.job.panda_id;
  ::mkdir(s.out_dir.c_str(), 0755);
  s.out_dir += "/athenaMP-workers-EVNTtoHITS-sim";
  ::mkdir(s.out_dir.c_str(), 0755);

  bool late = false;
  if (start_at > 0) {
    double wait = start_at - wall_now();
    if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    else late = true;
  }
  s.start = clock_type::now();
  s.deadline = s.start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(
                             start_at > 0 ? start_at + seconds - wall_now() : seconds));
  log("job " + s.job.panda_id + ": " + std::to_string(clients) + " clients for " + std::to_string(seconds) +
      " s against " + url + (s.keep_alive ? " (keep-alive)" : " (new connection per request)"));
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) threads.emplace_back(client_loop, std::ref(s), i);
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(clock_type::now() - s.start).count();
  update_job("finished");

  json::object r;
  r["pid"] = ::getpid();
  r["url"] = url;
  r["clients"] = clients;
  r["keep_alive"] = s.keep_alive;
  r["n_ranges"] = s.n_ranges;
  r["seconds"] = elapsed;
  r["late_start"] = late;
  r["ranges"] = s.ranges.load();
  r["requests"] = s.all.get_us.size() + s.all.update_us.size();
  r["errors"] = s.errors.load();
  r["first_error"] = s.first_error;
  r["empty_replies"] = s.empty_replies.load();
  r["ranges_per_s"] = elapsed > 0 ? static_cast<double>(s.ranges.load()) / elapsed : 0.0;
  json::object eps;
  eps["getEventRanges"] = summary(s.all.get_us);
  eps["updateEventRanges"] = summary(s.all.update_us);
  r["endpoints"] = std::move(eps);
  std::string text = json::serialize(r) + "\n";
  std::string tmp = result_path + ".tmp";
  {
    std::ofstream out(tmp);
    out << text;
  }
  if (std::rename(tmp.c_str(), result_path.c_str()) != 0) {
    log("cannot write " + result_path);
    return 2;
  }
  log("done: " + text);
  return 0;
}
