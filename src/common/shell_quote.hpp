#pragma once
// POSIX shell quoting exactly as Python's shlex.quote (what Raythena used): a word of only safe
// characters stays as it is, anything else is single-quoted with ' written as '"'"'. Safe for every
// byte but NUL. The one copy for payload.sh, the merge's container scripts and the ssh launcher.
#include <string>
#include <string_view>

namespace rty {

inline std::string shell_quote(std::string_view text) {
  const auto safe = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '@' || c == '%' ||
           c == '+' || c == '=' || c == ':' || c == ',' || c == '.' || c == '/' || c == '_' || c == '-';
  };
  bool all_safe = !text.empty();
  for (char c : text) all_safe = all_safe && safe(c);
  if (all_safe) return std::string(text);
  std::string out = "'";
  for (char c : text) {
    if (c == '\'')
      out += "'\"'\"'";
    else
      out += c;
  }
  out += "'";
  return out;
}

}  // namespace rty
