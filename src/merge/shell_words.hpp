#pragma once
// Job-provided text (esmergeSpec.jobParameters, transPath, release, platform) must never be
// interpreted by a shell we start: it is split into words the way a POSIX shell would (quotes and
// backslashes only, no expansion) and, where a shell cannot be avoided, each word is quoted back.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/shell_quote.hpp"

namespace rty::merge {

// POSIX-shell word splitting without expansion (like Python's shlex.split): blanks separate words,
// '…' is literal, "…" honours \" \\ \$ \` and \<newline>, a backslash outside quotes escapes the next
// character. `$`, `;`, `|`, `(` etc. are ordinary characters. An unterminated quote is an error saying
// where it started.
rty::result<std::vector<std::string>> split_shell_words(std::string_view text);

// The same words, except that an unterminated quote ends the text as if closed: for a caller that has
// no way to fail (build_merge_command; validate_merge_parameters reports the quote).
std::vector<std::string> split_shell_words_as_if_closed(std::string_view text);

using rty::shell_quote;  // common/shell_quote.hpp

}  // namespace rty::merge
