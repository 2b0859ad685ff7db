#define BOOST_TEST_MODULE harvester_ini
#include <boost/test/unit_test.hpp>

#include "harvester/ini.hpp"

using rty::harvester::ini_file;

namespace {
ini_file parse_ok(std::string_view text) {
  auto r = ini_file::parse(text, "test.cfg");
  if (!r) BOOST_FAIL("parse failed: " << r.error().to_string());
  return *r;
}
}  // namespace

BOOST_AUTO_TEST_CASE(sections_and_both_delimiters) {
  auto ini = parse_ok("[a]\nx = 1\ny: two words \n[b]\nz=3\n");
  BOOST_TEST(ini.has_section("a"));
  BOOST_TEST(ini.has_section("b"));
  BOOST_TEST(!ini.has_section("c"));
  BOOST_TEST(!ini.has_section("A"));  // section names are case-sensitive
  BOOST_TEST(*ini.get("a", "x") == "1");
  BOOST_TEST(*ini.get("a", "y") == "two words");
  BOOST_TEST(*ini.get("b", "z") == "3");
  BOOST_TEST(!ini.get("a", "z"));
  BOOST_TEST(!ini.get("nosuch", "x"));
}

BOOST_AUTO_TEST_CASE(first_delimiter_wins) {
  auto ini = parse_ok("[a]\nurl = http://h:80/x\ncolon: a=b\n");
  BOOST_TEST(*ini.get("a", "url") == "http://h:80/x");
  BOOST_TEST(*ini.get("a", "colon") == "a=b");
}

BOOST_AUTO_TEST_CASE(comments_full_line_only) {
  auto ini = parse_ok("# top\n; also\n[a]\n   # indented comment\n\t; indented too\nx = 1 # not a comment\ny = a;b\n");
  BOOST_TEST(*ini.get("a", "x") == "1 # not a comment");
  BOOST_TEST(*ini.get("a", "y") == "a;b");
  BOOST_TEST(ini.keys("a").size() == 2u);
}

BOOST_AUTO_TEST_CASE(continuation_lines_joined_with_newline) {
  auto ini = parse_ok(
      "[cacher]\ndata =\n    Q1|queues|http://x|/d/q1.json\n\n    Q2|queues|http://y|/d/q2.json\n    # skipped\n"
      "\nnext = 1\n");
  BOOST_TEST(*ini.get("cacher", "data") == "\nQ1|queues|http://x|/d/q1.json\n\nQ2|queues|http://y|/d/q2.json");
  BOOST_TEST(*ini.get("cacher", "next") == "1");
}

BOOST_AUTO_TEST_CASE(keys_case_insensitive) {
  auto ini = parse_ok("[payload_interaction]\njobSpecFile = HPCJobs.json\n");
  BOOST_TEST(*ini.get("payload_interaction", "jobspecfile") == "HPCJobs.json");
  BOOST_TEST(*ini.get("payload_interaction", "JOBSPECFILE") == "HPCJobs.json");
  BOOST_TEST(ini.keys("payload_interaction").front() == "jobSpecFile");
}

BOOST_AUTO_TEST_CASE(default_fallback) {
  auto ini = parse_ok("[DEFAULT]\nbase = /opt\nx = d\n[a]\nx = own\n");
  BOOST_TEST(*ini.get("a", "x") == "own");
  BOOST_TEST(*ini.get("a", "base") == "/opt");
  BOOST_TEST(!ini.has_section("DEFAULT"));
  BOOST_TEST(*ini.get("DEFAULT", "x") == "d");
  auto k = ini.keys("a");
  BOOST_TEST(k.size() == 2u);
}

BOOST_AUTO_TEST_CASE(basic_interpolation) {
  auto ini = parse_ok(
      "[DEFAULT]\nroot = /data\n[a]\ndir = %(root)s/x\nfile = %(DIR)s/f.json\npct = 100%%\nchain = %(file)s:%(pct)s\n");
  BOOST_TEST(*ini.get("a", "dir") == "/data/x");
  BOOST_TEST(*ini.get("a", "file") == "/data/x/f.json");
  BOOST_TEST(*ini.get("a", "pct") == "100%");
  BOOST_TEST(*ini.get("a", "chain") == "/data/x/f.json:100%");
}

BOOST_AUTO_TEST_CASE(default_interpolates_in_section_context) {
  auto ini = parse_ok("[DEFAULT]\np = %(base)s/p\nbase = /d\n[a]\nbase = /a\n");
  BOOST_TEST(*ini.get("a", "p") == "/a/p");
  BOOST_TEST(*ini.get("DEFAULT", "p") == "/d/p");
}

BOOST_AUTO_TEST_CASE(lone_percent_is_error_with_line) {
  auto r = ini_file::parse("[a]\nok = 1\nbad = 50% done\n", "x.cfg");
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().file == "x.cfg");
  BOOST_TEST(r.error().line == 3);
  BOOST_TEST(r.error().message.find("bad") != std::string::npos);
  BOOST_TEST(r.error().to_string().rfind("x.cfg:3:", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(interpolation_errors) {
  BOOST_TEST(!ini_file::parse("[a]\nx = %(missing)s\n", "f"));
  BOOST_TEST(!ini_file::parse("[a]\nx = %(open\n", "f"));
  BOOST_TEST(!ini_file::parse("[a]\nx = %(y)d\ny = 1\n", "f"));
  BOOST_TEST(!ini_file::parse("[a]\nx = %(y)s\ny = %(x)s\n", "f"));  // loop: depth limit
  BOOST_TEST(!ini_file::parse("[a]\nx = trailing %\n", "f"));
}

BOOST_AUTO_TEST_CASE(structural_errors_name_line) {
  auto r = ini_file::parse("key = 1\n", "f");
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().line == 1);
  r = ini_file::parse("[a]\nx = 1\n\njustaword\n", "f");
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().line == 4);
  r = ini_file::parse("[a]\nx = 1\n[a]\n", "f");
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().line == 3);
  r = ini_file::parse("[a]\nx = 1\nX = 2\n", "f");
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().line == 3);
  r = ini_file::parse("[a]\n= 2\n", "f");
  BOOST_REQUIRE(!r);
}

BOOST_AUTO_TEST_CASE(empty_value_and_crlf) {
  auto ini = parse_ok("[a]\r\nx =\r\ny = 2\r\n");
  BOOST_TEST(*ini.get("a", "x") == "");
  BOOST_TEST(*ini.get("a", "y") == "2");
}

BOOST_AUTO_TEST_CASE(indented_header_line_after_value_is_continuation) {
  auto ini = parse_ok("[a]\nx = 1\n  [b]\n");
  BOOST_TEST(*ini.get("a", "x") == "1\n[b]");
  BOOST_TEST(!ini.has_section("b"));
}

BOOST_AUTO_TEST_CASE(load_missing_file_names_it) {
  auto r = ini_file::load("/nonexistent/panda_harvester.cfg");
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().file == "/nonexistent/panda_harvester.cfg");
}
