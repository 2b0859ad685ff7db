#pragma once
// Job-provided text (esmergeSpec.jobParameters, transPath, release, platform) must never be
// interpreted by a shell we start: it is split into words the way a POSIX shell would (quotes and
// backslashes only, no expansion) and, where a shell cannot be avoided, each word is quoted back.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/shell_quote.hpp"

namespace rty::merge {

// POSIX-shell word splitting without expansion (like Python's shlex.split): blanks separate words,
// '…' is literal, "…" honours \" \\ \$ \` and \<newline>, a backslash outside quotes escapes the next
// character. `$`, `;`, `|`, `(` etc. are ordinary characters. An unterminated quote ends the text as if
// closed, and `error` (if given) says where it started; the words are returned either way.
std::vector<std::string> split_shell_words(std::string_view text, std::string* error = nullptr);

using rty::shell_quote;  // common/shell_quote.hpp

}  // namespace rty::merge
