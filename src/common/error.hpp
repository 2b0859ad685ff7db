#pragma once
// The project's one error convention (docs/architecture.md, "Errors"): a function that can fail returns
// rty::result<T>, whose error is an rty::error: the message an operator reads (it names the file, key
// or value that is wrong) and, only where a caller branches on the kind of failure, a std::error_code
// (an errno value such as ENOSPC for "the storage refused the write", or a std::errc).
//
//   rty::result<job_spec> parse(...) { ...; return rty::fail(origin + ": no PandaID"); }
//   if (auto r = parse(...); !r) log << r.error().message();
//
// rty::error is built only through rty::fail (or its two-argument constructor), never from a bare
// string: boost::system::result<T, E> cannot tell a value from an error when E is constructible from the
// same argument as T (result<std::string, std::string> is ambiguous), so `return some_string;` stays a
// value and `return rty::fail(...)` an error for every T.
#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

#include <ostream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace rty {

class error {
 public:
  error() = default;  // what result<T>::error() returns when there is a value: no code, no message
  // `code`: the kind, for callers that branch on it; empty when the message is all there is to say.
  error(std::error_code code, std::string message) : code_(code), message_(std::move(message)) {}

  const std::string& message() const noexcept { return message_; }
  std::error_code code() const noexcept { return code_; }

  friend std::ostream& operator<<(std::ostream& o, const error& e) { return o << e.message_; }

 private:
  std::error_code code_;
  std::string message_;
};

inline error fail(std::string message) { return error({}, std::move(message)); }
inline error fail(std::error_code code, std::string message) { return error(code, std::move(message)); }

template <class T = void>
using result = boost::system::result<T, error>;

// What result<T>::value() throws on an error (found by argument-dependent lookup from Boost.System).
struct error_exception : std::runtime_error {
  explicit error_exception(const error& e) : std::runtime_error(e.message()), code(e.code()) {}
  std::error_code code;
};
[[noreturn]] inline void throw_exception_from_error(const error& e, const boost::source_location&) {
  throw error_exception(e);
}

}  // namespace rty
