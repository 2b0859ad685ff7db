// The range-count check before the bookkeeper allocates (tracker issue 13 item 8).
#include <boost/test/unit_test.hpp>

#include <string>

#include "bookkeeping/bookkeeper.hpp"
#include "bookkeeping/range_budget.hpp"

using namespace rty::bookkeeping;

namespace {
rty::job_spec job_with(std::size_t inputs, std::int64_t events) {
  rty::job_spec job;
  job.panda_id = "6000000001";
  job.events_per_input = events;
  job.events_per_output = events;
  for (std::size_t i = 0; i < inputs; ++i) {
    job.in_files.push_back("EVNT." + std::to_string(i) + ".pool.root.1");
    job.guids.push_back("G" + std::to_string(i));
    job.output_files.push_back("HITS." + std::to_string(i) + ".pool.root.1");
  }
  return job;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(range_budget)

BOOST_AUTO_TEST_CASE(the_huge_job_of_the_report_is_refused_with_a_clear_line) {
  auto job = job_with(1, 2'000'000'000);
  BOOST_REQUIRE(!bookkeeper::check_job(job));  // passes every other check: only the memory stops it
  memory_limit limit{std::uint64_t(1) << 30, "ray.bookkeepingmemorymb = 1024"};
  auto problem = check_range_memory(job, false, limit, "ray.bookkeepingmemorymb");
  BOOST_REQUIRE(problem);
  BOOST_TEST_MESSAGE(*problem);
  BOOST_TEST(problem->find("job 6000000001") != std::string::npos);
  BOOST_TEST(problem->find("2000000000 event ranges") != std::string::npos);
  BOOST_TEST(problem->find(std::to_string(2'000'000'000ull * bytes_per_range + 2 * bytes_per_file) + " bytes") !=
             std::string::npos);
  BOOST_TEST(problem->find("ray.bookkeepingmemorymb") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(footprint_follows_ranges_and_source) {
  auto job = job_with(10, 1000);
  auto local = estimate_footprint(job, false), external = estimate_footprint(job, true);
  BOOST_TEST(local.ranges == 10'000u);
  BOOST_TEST(local.bytes == 10'000u * bytes_per_range + 20u * bytes_per_file);
  BOOST_TEST(external.bytes == local.bytes + 10'000u * bytes_per_external_range);
  BOOST_TEST(!check_range_memory(job, true, {external.bytes, "x"}, "k"));
  BOOST_TEST(check_range_memory(job, true, {external.bytes - 1, "x"}, "k").has_value());
}

BOOST_AUTO_TEST_CASE(estimate_covers_what_the_bookkeeper_takes) {
  // The measured figure (bench_bookkeeping) is 6.8 bytes a range at load; the estimate must not be lower
  // than what the arrays take, or the check would let through jobs that do not fit.
  BOOST_TEST(bytes_per_range >= 2 * sizeof(std::uint8_t) + sizeof(node_id));
}

BOOST_AUTO_TEST_CASE(limit_from_the_key_or_the_machine) {
  auto configured = bookkeeping_memory_limit(3, "ray.bookkeepingmemorymb");
  BOOST_TEST(configured.bytes == 3u << 20);
  BOOST_TEST(configured.source.find("ray.bookkeepingmemorymb = 3") != std::string::npos);
  auto machine = bookkeeping_memory_limit(0, "ray.bookkeepingmemorymb");
  BOOST_TEST(machine.bytes > 0u);
  BOOST_TEST(machine.source.find("half of") != std::string::npos, machine.source);
}

BOOST_AUTO_TEST_SUITE_END()
