#include "common/log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

namespace rty::log {
namespace {
std::atomic<level> g_level{level::warning};
std::atomic<int> g_fd{STDERR_FILENO};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}
}  // namespace

bool parse_level(std::string_view text, level& out) {
  static constexpr std::pair<std::string_view, level> names[] = {
      {"debug", level::debug},     {"info", level::info},         {"warning", level::warning},
      {"warn", level::warning},    {"error", level::error},       {"critical", level::critical},
      {"fatal", level::critical},  {"off", level::off}};
  for (auto& [name, l] : names) {
    if (iequals(text, name)) {
      out = l;
      return true;
    }
  }
  return false;
}

std::string_view level_name(level l) {
  switch (l) {
    case level::debug: return "DEBUG";
    case level::info: return "INFO";
    case level::warning: return "WARNING";
    case level::error: return "ERROR";
    case level::critical: return "CRITICAL";
    case level::off: return "OFF";
  }
  return "?";
}

void set_level(level l) { g_level.store(l); }
level current_level() { return g_level.load(std::memory_order_relaxed); }

rty::result<void> set_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int e = errno;
    return rty::fail(std::error_code(e, std::generic_category()), "cannot open log file '" + path + "': " + std::strerror(e));
  }
  int old = g_fd.exchange(fd);
  if (old != STDERR_FILENO) ::close(old);
  return {};
}

void set_stderr() {
  int old = g_fd.exchange(STDERR_FILENO);
  if (old != STDERR_FILENO) ::close(old);
}

void write(level l, std::string_view component, std::string_view message) {
  using namespace std::chrono;
  auto now = system_clock::now();
  std::time_t t = system_clock::to_time_t(now);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char stamp[32];
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
  std::snprintf(stamp + n, sizeof stamp - n, ".%03d", static_cast<int>(ms));
  std::string line;
  line.reserve(48 + component.size() + message.size());
  line.append(stamp).append(" | ").append(level_name(l)).append(" | ").append(component).append(" | ");
  line.append(message);
  line.push_back('\n');
  int fd = g_fd.load(std::memory_order_relaxed);
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t w = ::write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report a logging failure
    }
    p += w;
    left -= static_cast<std::size_t>(w);
  }
}

std::string escape(std::string_view text, std::size_t max_bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  const std::string_view kept = text.substr(0, std::min(text.size(), max_bytes));
  std::string out;
  out.reserve(kept.size() + 16);
  for (const char ch : kept) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += digits[c >> 4];
      out += digits[c & 15];
    } else {
      out += ch;
    }
  }
  if (kept.size() < text.size()) out += "...(" + std::to_string(text.size()) + " bytes)";
  return out;
}

}  // namespace rty::log
