// Issue 13, item 10: text pilot sends (its job state, range ids, paths) is logged escaped, so that no
// client of pilot's port can end a log line and forge the next one.
#include <boost/test/unit_test.hpp>

#include "common/log.hpp"

using rty::log::escape;

BOOST_AUTO_TEST_SUITE(log_escape_suite)

BOOST_AUTO_TEST_CASE(control_characters_cannot_start_a_forged_line) {
  BOOST_TEST(escape("running") == "running");
  BOOST_TEST(escape("running\n2026-12-02 01:00:00 [critical] Driver: forged") ==
             "running\\n2026-12-02 01:00:00 [critical] Driver: forged");
  BOOST_TEST(escape("a\rb\tc") == "a\\rb\\tc");
  BOOST_TEST(escape(std::string_view("\x1b[2J\0x\x7f", 7)) == "\\x1b[2J\\x00x\\x7f");
  // the escape itself is escaped, so "\\n" in the log always means the two characters were escaped
  BOOST_TEST(escape("C:\\n") == "C:\\\\n");
  BOOST_TEST(escape("évènement") == "évènement");  // UTF-8 stays readable
  BOOST_TEST(escape("").empty());
}

BOOST_AUTO_TEST_CASE(long_text_is_cut_with_its_size_noted) {
  const std::string big(10000, 'x');
  BOOST_TEST(escape(big, 8) == "xxxxxxxx...(10000 bytes)");
  BOOST_TEST(escape(big).size() < 600u);
  BOOST_TEST(escape("short", 8) == "short");
}

BOOST_AUTO_TEST_SUITE_END()
