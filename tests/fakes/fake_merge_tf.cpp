// Stand-in for HITSMerge_tf.py (tests only; C++20 standard library and POSIX).
//
// Accepts the arguments the real transform gets from an esmergeSpec:
//   --inputHitsFile=@file_list | --inputHitsFile @file_list | --inputHitsFile a b c | --inputHitsFile=a,b
//   (also --inputHITSFile), --outputHitsFile=X | --outputHitsFile X (also --outputHITSFile),
//   --AMITag, --maxEvents, --skipEvents; any other --key=value (or --key value) is ignored.
// A word "@path" is replaced by the lines of that file, as argparse's fromfile_prefix_chars does.
//
// Checks that every input exists and is non-empty (exit 1 with a message otherwise), writes the output
// as the concatenation of the inputs in the order given, and writes jobReport.json in the current
// directory in the real shape: files.input[0].subFiles[{name}], files.output[0].subFiles[{name,
// file_guid (fresh upper-case uuid4), nentries}], exitCode 0. nentries = number of input files (the fakes
// write one event per per-range file).
//
// Upstream behaviour modelled: HITSMerge_tf.py (ATLAS PyJobTransforms) writes jobReport.json in its working
// directory, and its readers (Raythena's merge step, pilot3's stage-out) take the merged file's GUID and
// event count from files.output[0].subFiles[].file_guid / nentries and success from exitCode.
//
// Fault knobs (environment):
//   FAKE_MERGE_FAIL_ONCE_DIR=<dir>     first attempt for each output fails; remembered as <dir>/<output>.failed
//   FAKE_MERGE_FAIL_ALWAYS=<substring> every attempt fails for outputs whose name contains it
//   FAKE_MERGE_SLOW=<seconds>          a slow merge: waits that long before writing its output (after
//                                      printing "fake_merge_tf: pid <pid> merging slowly")
//   FAKE_MERGE_DURATION=<base>:<per_input>  a merge-duration model: the merge takes base + per_input x
//                                      (number of inputs) seconds (HITSMerge_tf: a fixed set-up cost, then
//                                      reading and writing every event), times FAKE_MERGE_TIME_SCALE (default
//                                      1); added to FAKE_MERGE_SLOW
//   FAKE_MERGE_DETACH=1                the work is done by a forked child, the started process only waits
//                                      for it and passes its exit status on, as a container runtime
//                                      does: a parent-death signal reaches the waiting process, not the
//                                      worker (printed as "fake_merge_tf: worker pid <pid>")
//
// Built as the executable fake_merge_tf (tests/fakes/CMakeLists.txt); tests/fakes/rtysite.py installs it
// as a site's bin/HITSMerge_tf.py. It was a Python script: a benchmark's hundreds of merges at once then
// spent ~0.2 s of CPU each on interpreter start-up, where this costs a few milliseconds. Its printed
// lines, messages and exit codes are the script's; messages quote values as Python's repr() does.
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

using strings = std::vector<std::string>;

constexpr std::array<std::string_view, 2> input_opts = {"--inputHitsFile", "--inputHITSFile"};
constexpr std::array<std::string_view, 2> output_opts = {"--outputHitsFile", "--outputHITSFile"};
constexpr std::array<std::string_view, 3> value_opts = {"--AMITag", "--maxEvents", "--skipEvents"};

template <std::size_t N>
bool one_of(const std::array<std::string_view, N>& names, std::string_view key) {
  for (auto n : names)
    if (n == key) return true;
  return false;
}

// One line on stdout, flushed at once: tests wait for these lines in merge logs.
void say(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

[[noreturn]] void fail(const std::string& message) {
  std::string line = "fake_merge_tf: " + message + "\n";
  std::fflush(stdout);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
  std::exit(1);
}

// Decodes UTF-8 as Python decodes argv and environment (surrogateescape): a byte that is not part of a
// valid sequence becomes U+DC00 + byte. Calls f(code point, the bytes it came from).
template <class F>
void for_each_code_point(std::string_view s, F f) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto b = static_cast<unsigned char>(s[i]);
    std::size_t n = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
    char32_t cp = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
    bool ok = n != 0 && i + n <= s.size();
    for (std::size_t k = 1; ok && k < n; ++k) {
      auto c = static_cast<unsigned char>(s[i + k]);
      ok = (c & 0xC0) == 0x80;
      cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr char32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    ok = ok && cp >= least[n] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    if (!ok) {
      f(static_cast<char32_t>(0xDC00 + b), s.substr(i, 1));
      ++i;
    } else {
      f(cp, s.substr(i, n));
      i += n;
    }
  }
}

std::string hex(unsigned value, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%0*x", digits, value);
  return buf;
}

// Python's repr() of a str, for the messages that quote a value with %r.
std::string py_repr(std::string_view s) {
  char quote = (s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos) ? '"' : '\'';
  std::string out(1, quote);
  for_each_code_point(s, [&](char32_t cp, std::string_view bytes) {
    if (cp == '\\' || cp == static_cast<char32_t>(quote)) {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp < 0x20 || (cp >= 0x7F && cp <= 0xA0)) {
      out += "\\x" + hex(cp, 2);
    } else if (cp >= 0xDC80 && cp <= 0xDCFF) {
      out += "\\udc" + hex(cp & 0xFF, 2);
    } else {
      out += bytes;
    }
  });
  return out + quote;
}

// A JSON string as Python's json.dump writes it (ensure_ascii: everything beyond ASCII as \uXXXX).
std::string json_string(std::string_view s) {
  std::string out = "\"";
  for_each_code_point(s, [&](char32_t cp, std::string_view) {
    switch (cp) {
      case '"': out += "\\\""; return;
      case '\\': out += "\\\\"; return;
      case '\n': out += "\\n"; return;
      case '\r': out += "\\r"; return;
      case '\t': out += "\\t"; return;
      case '\b': out += "\\b"; return;
      case '\f': out += "\\f"; return;
      default: break;
    }
    if (cp >= 0x20 && cp < 0x7F) {
      out += static_cast<char>(cp);
    } else if (cp < 0x10000) {
      out += "\\u" + hex(cp, 4);
    } else {
      char32_t v = cp - 0x10000;
      out += "\\u" + hex(0xD800 + (v >> 10), 4) + "\\u" + hex(0xDC00 + (v & 0x3FF), 4);
    }
  });
  return out + "\"";
}

// What Python's str(OSError) says: "[Errno 2] No such file or directory: 'path'".
std::string os_error(int err, const std::string& path) {
  return "[Errno " + std::to_string(err) + "] " + std::strerror(err) + ": " + py_repr(path);
}

std::string getenv_or(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v ? std::string(v) : fallback;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

std::string_view strip(std::string_view s) {
  // str.strip()'s ASCII whitespace: space, \t \n \v \f \r and the separators \x1c-\x1f.
  auto space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= '\x1c' && c <= '\x1f'); };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::string basename_of(const std::string& path) { return path.substr(path.rfind('/') + 1); }

// The whole file, or the errno that stopped its reading.
int read_all(const std::string& path, std::string& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return err;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return 0;
}

// `content` as the whole of `path` (created 0666 less the umask, as Python's open(path, "w") does).
int write_all(const std::string& path, std::string_view content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) return errno;
  while (!content.empty()) {
    ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return err;
    }
    content.remove_prefix(static_cast<std::size_t>(n));
  }
  return ::close(fd) == 0 ? 0 : errno;
}

void write_or_fail(const std::string& path, std::string_view content) {
  if (int err = write_all(path, content)) fail("cannot write " + path + ": " + os_error(err, path));
}

void rename_or_fail(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) fail("cannot rename " + from + " to " + to + ": " + std::strerror(errno));
}

// The non-blank lines of an argument file, each stripped (universal newlines, as Python reads text).
strings read_lines(const std::string& path) {
  std::string text;
  if (int err = read_all(path, text)) fail("cannot read argument file " + path + ": " + os_error(err, path));
  strings out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find_first_of("\r\n", start);
    if (end == std::string::npos) end = text.size();
    auto line = strip(std::string_view(text).substr(start, end - start));
    if (!line.empty()) out.emplace_back(line);
    start = end + 1;
  }
  return out;
}

strings expand_at_files(const strings& words) {
  strings out;
  for (const auto& w : words) {
    if (w.size() > 1 && w[0] == '@') {
      auto lines = read_lines(w.substr(1));
      out.insert(out.end(), lines.begin(), lines.end());
    } else {
      out.push_back(w);
    }
  }
  return out;
}

strings split_value(const std::string& value) {
  if (starts_with(value, "@")) return read_lines(value.substr(1));
  strings out;
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t end = value.find(',', start);
    if (end == std::string::npos) end = value.size();
    if (end > start) out.push_back(value.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

struct arguments {
  strings inputs;
  std::string output;
  std::map<std::string, std::string> options;
};

void append(strings& to, const strings& more) { to.insert(to.end(), more.begin(), more.end()); }

arguments parse(const strings& argv) {
  strings words = expand_at_files(argv);
  arguments a;
  std::size_t i = 0;
  while (i < words.size()) {
    const std::string& w = words[i];
    auto eq = w.find('=');
    bool has_eq = eq != std::string::npos;
    std::string key = w.substr(0, eq);
    std::string value = has_eq ? w.substr(eq + 1) : "";
    if (one_of(input_opts, key)) {
      if (has_eq) {
        append(a.inputs, split_value(value));
      } else {
        ++i;
        while (i < words.size() && !starts_with(words[i], "--")) append(a.inputs, split_value(words[i++]));
        continue;
      }
    } else if (starts_with(key, "--")) {  // the output, a value option, or any other option (ignored)
      if (!has_eq && i + 1 < words.size() && !starts_with(words[i + 1], "--")) value = words[++i];
      if (one_of(output_opts, key))
        a.output = value;
      else if (one_of(value_opts, key))
        a.options[key] = value;
    } else {
      fail("unexpected argument " + py_repr(w));
    }
    ++i;
  }
  return a;
}

// What Python's int() accepts: blanks around, a sign, digits with single underscores between them.
bool is_int(std::string_view s) {
  s = strip(s);
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) s.remove_prefix(1);
  if (s.empty() || s.front() == '_' || s.back() == '_') return false;
  for (std::size_t k = 0; k < s.size(); ++k) {
    if (s[k] == '_' && s[k + 1] != '_') continue;
    if (s[k] < '0' || s[k] > '9') return false;
  }
  return true;
}

// Python's float() of a string (blanks around allowed): false when it is not a number.
bool to_double(std::string_view s, double& out) {
  std::string text(strip(s));
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  out = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}

double env_seconds(const char* name, double fallback) {
  std::string text = getenv_or(name);
  double v = fallback;
  if (!text.empty() && !to_double(text, v)) fail(std::string(name) + "=" + text + " is not a number");
  return v;
}

// FAKE_MERGE_DURATION's seconds for `inputs` inputs (0 when unset).
double modelled_duration(std::size_t inputs) {
  std::string duration = getenv_or("FAKE_MERGE_DURATION");
  if (duration.empty()) return 0;
  auto colon = duration.find(':');
  double base = 0, per_input = 0, scale = 1;
  std::string scale_text = getenv_or("FAKE_MERGE_TIME_SCALE");
  bool ok = colon != std::string::npos && duration.find(':', colon + 1) == std::string::npos &&
            to_double(std::string_view(duration).substr(0, colon), base) &&
            to_double(std::string_view(duration).substr(colon + 1), per_input) &&
            (scale_text.empty() || to_double(scale_text, scale)) && !(base < 0 || per_input < 0 || scale < 0);
  if (!ok)
    fail("FAKE_MERGE_DURATION=" + duration +
         ": expected <base seconds>:<seconds per input>, not negative "
         "(FAKE_MERGE_TIME_SCALE a non-negative number)");
  return (base + per_input * static_cast<double>(inputs)) * scale;
}

void sleep_seconds(double seconds) {
  seconds = std::min(seconds, 1e9);  // "forever" (inf) as 30 years
  timespec left{};
  left.tv_sec = static_cast<time_t>(seconds);
  left.tv_nsec = std::min(static_cast<long>((seconds - std::floor(seconds)) * 1e9), 999999999L);
  while (::nanosleep(&left, &left) != 0 && errno == EINTR) {
  }
}

// FAKE_MERGE_DETACH: returns in the worker child; the parent waits for it and exits with its status.
void detach() {
  pid_t pid = ::fork();
  if (pid < 0) fail(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) return;
  say("fake_merge_tf: worker pid " + std::to_string(pid));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  // os.waitstatus_to_exitcode: the exit code, or minus the signal number; & 0xFF as os._exit takes it.
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? -WTERMSIG(status) : 1;
  ::_exit(code & 0xFF);
}

std::string uuid4_upper() {
  std::array<unsigned char, 16> b{};
  std::size_t got = 0;
  while (got < b.size()) {
    ssize_t n = ::getrandom(b.data() + got, b.size() - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(std::string("getrandom: ") + std::strerror(errno));
    got += static_cast<std::size_t>(n);
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  std::string out;
  for (std::size_t k = 0; k < b.size(); ++k) {
    if (k == 4 || k == 6 || k == 8 || k == 10) out += '-';
    char buf[3];
    std::snprintf(buf, sizeof buf, "%02X", b[k]);
    out += buf;
  }
  return out;
}

void check_arguments(const arguments& a) {
  if (a.output.empty()) fail("no --outputHitsFile given");
  if (a.inputs.empty()) fail("no --inputHitsFile given");
  for (const char* key : {"--maxEvents", "--skipEvents"}) {
    auto it = a.options.find(key);
    if (it != a.options.end() && !is_int(it->second))
      fail(std::string(key) + "=" + py_repr(it->second) + " is not an integer");
  }
}

void injected_faults(const std::string& name) {
  std::string always = getenv_or("FAKE_MERGE_FAIL_ALWAYS");
  if (!always.empty() && name.find(always) != std::string::npos)
    fail("failing on purpose for " + name + " (FAKE_MERGE_FAIL_ALWAYS=" + always + ")");
  std::string once_dir = getenv_or("FAKE_MERGE_FAIL_ONCE_DIR");
  if (once_dir.empty()) return;
  std::string marker = (once_dir.back() == '/' ? once_dir : once_dir + "/") + name + ".failed";
  struct stat st {};
  if (::stat(marker.c_str(), &st) == 0) return;
  std::error_code ec;
  std::filesystem::create_directories(once_dir, ec);
  if (ec) fail("cannot create " + once_dir + ": " + ec.message());
  write_or_fail(marker, "failed once\n");
  fail("failing the first attempt for " + name + " on purpose (FAKE_MERGE_FAIL_ONCE_DIR)");
}

void check_inputs(const strings& inputs) {
  for (const auto& path : inputs) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) fail("input file " + path + " does not exist");
    if (st.st_size == 0) fail("input file " + path + " is empty");
  }
}

// The output, the concatenation of the inputs, through <output>.fake-merge-tmp and a rename.
void write_output(const strings& inputs, const std::string& output) {
  std::string tmp = output + ".fake-merge-tmp";
  std::string content;
  for (const auto& path : inputs)
    if (int err = read_all(path, content)) fail("cannot read " + path + ": " + os_error(err, path));
  write_or_fail(tmp, content);
  rename_or_fail(tmp, output);
}

// jobReport.json in the current directory, in json.dump's layout, through jobReport.json.tmp.
void write_report(const strings& inputs, const std::string& name) {
  std::string in;
  for (const auto& path : inputs) in += (in.empty() ? "" : ", ") + std::string("{\"name\": ") + json_string(basename_of(path)) + "}";
  std::string report = "{\"exitCode\": 0, \"exitMsg\": \"OK\", \"files\": {\"input\": [{\"type\": \"HITS\", \"subFiles\": [" +
                       in + "]}], \"output\": [{\"type\": \"HITS\", \"subFiles\": [{\"name\": " + json_string(name) +
                       ", \"file_guid\": " + json_string(uuid4_upper()) +
                       ", \"nentries\": " + std::to_string(inputs.size()) + "}]}]}}";
  write_or_fail("jobReport.json.tmp", report);
  rename_or_fail("jobReport.json.tmp", "jobReport.json");
}

}  // namespace

int main(int argc, char** argv) {
  strings args(argv + 1, argv + argc);
  std::string joined;
  for (std::size_t k = 0; k < args.size(); ++k) joined += (k ? " " : "") + args[k];
  say("fake_merge_tf: started with " + joined);
  if (getenv_or("FAKE_MERGE_DETACH") == "1") detach();
  arguments a = parse(args);
  check_arguments(a);
  std::string name = basename_of(a.output);
  injected_faults(name);
  check_inputs(a.inputs);

  double slow = env_seconds("FAKE_MERGE_SLOW", 0);
  slow += modelled_duration(a.inputs.size());
  if (slow > 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", slow);
    say("fake_merge_tf: pid " + std::to_string(::getpid()) + " merging slowly (" + buf + " s)");
    sleep_seconds(slow);
  }
  write_output(a.inputs, a.output);
  write_report(a.inputs, name);
  say("fake_merge_tf: merged " + std::to_string(a.inputs.size()) + " file(s) into " + a.output);
  return 0;
}
