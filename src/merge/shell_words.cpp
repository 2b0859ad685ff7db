#include "merge/shell_words.hpp"

namespace rty::merge {
namespace {

struct split_words {
  std::vector<std::string> words;
  std::string unterminated;  // where an unterminated quote started; empty when every quote closed
};

split_words split(std::string_view text) {
  split_words out;
  auto& words = out.words;
  std::string current;
  bool in_word = false;
  std::size_t i = 0;
  const std::size_t n = text.size();
  auto unterminated = [&](char quote, std::size_t at) {
    out.unterminated = std::string("unterminated ") + (quote == '\'' ? "single" : "double") + " quote at offset " +
                       std::to_string(at) + " in '" + std::string(text) + "'";
  };
  while (i < n) {
    char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word) {
        words.push_back(std::move(current));
        current.clear();
        in_word = false;
      }
      ++i;
    } else if (c == '\'') {
      in_word = true;
      std::size_t close = text.find('\'', i + 1);
      if (close == std::string_view::npos) {
        unterminated('\'', i);
        current.append(text.substr(i + 1));
        i = n;
      } else {
        current.append(text.substr(i + 1, close - i - 1));
        i = close + 1;
      }
    } else if (c == '"') {
      in_word = true;
      std::size_t start = i;
      ++i;
      bool closed = false;
      while (i < n) {
        char d = text[i];
        if (d == '"') {
          closed = true;
          ++i;
          break;
        }
        if (d == '\\' && i + 1 < n) {
          char e = text[i + 1];
          if (e == '"' || e == '\\' || e == '$' || e == '`') {
            current.push_back(e);
            i += 2;
            continue;
          }
          if (e == '\n') {
            i += 2;
            continue;
          }
        }
        current.push_back(d);
        ++i;
      }
      if (!closed) unterminated('"', start);
    } else if (c == '\\') {
      in_word = true;
      if (i + 1 < n) {
        if (text[i + 1] != '\n') current.push_back(text[i + 1]);
        i += 2;
      } else {
        ++i;  // a trailing backslash escapes nothing
      }
    } else {
      in_word = true;
      current.push_back(c);
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(current));
  return out;
}

}  // namespace

rty::result<std::vector<std::string>> split_shell_words(std::string_view text) {
  auto s = split(text);
  if (!s.unterminated.empty()) return rty::fail(std::move(s.unterminated));
  return std::move(s.words);
}

std::vector<std::string> split_shell_words_as_if_closed(std::string_view text) { return split(text).words; }

}  // namespace rty::merge
