// The coordinator's engine driven directly, with a recording engine_io: no sockets, no processes.
#define BOOST_TEST_MODULE coordinator
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "common/file_util.hpp"
#include "coordinator/engine.hpp"
#include "coordinator/finalize.hpp"
#include "merge/merge_command.hpp"
#include "protocol/messages.hpp"

namespace bj = boost::json;
namespace fs = std::filesystem;
using namespace rty;
using namespace rty::coordinator;

namespace {

// result<T, std::string> has no value(): unwrap with a test requirement instead.
template <class R>
auto must(R r) {
  BOOST_REQUIRE_MESSAGE(r.has_value(), "unexpected error result");
  return std::move(*r);
}

std::string lfn(int i) { return "EVNT.40000000._00000" + std::to_string(i) + ".pool.root.1"; }
std::string rid(int i, int n) { return lfn(i) + "-" + std::to_string(n); }

job_spec make_job(int inputs, int events) {
  job_spec job;
  job.panda_id = "6000000001";
  job.task_id = "40000001";
  job.events_per_input = events;
  job.events_per_output = events;  // one output per input
  for (int i = 1; i <= inputs; ++i) {
    job.in_files.push_back(lfn(i));
    job.guids.push_back("GUID-" + std::to_string(i));
    job.output_files.push_back("HITS.40000001._00000" + std::to_string(i) + ".pool.root.1");
  }
  job.merge_trans_path = "HITSMerge_tf.py";
  job.merge_job_parameters = "--inputHitsFile=@inputFor_${OUTPUT0} --outputHitsFile=${OUTPUT0}";
  job.release = "23.0.1";
  job.platform = "x86_64-el9-gcc13-opt";
  job.raw = {{"PandaID", 6000000001}, {"jobPars", "--inputEVNTFile=x --maxEvents=8"}, {"coreCount", 8}};
  return job;
}

struct recording_io : engine_io {
  struct sent_message {
    conn_id to;
    bj::object message;
  };
  std::vector<sent_message> sent;
  std::vector<merge::merge_command> merges;
  std::vector<std::pair<std::string, bool>> recorded;

  void send(conn_id to, const bj::object& message) override { sent.push_back({to, message}); }
  void close(conn_id, const std::string&) override {}
  bool start_merge(const merge::merge_command& command) override {
    merges.push_back(command);
    return !merge::prepare_work_dir(command);
  }
  void merge_recorded(const merge_task& task, bool succeeded) override {
    recorded.emplace_back(task.output_name, succeeded);
  }

  // Messages of `type` sent to `to`, in order.
  std::vector<bj::object> to(conn_id to, std::string_view type) const {
    std::vector<bj::object> out;
    for (auto& m : sent)
      if (m.to == to && must(protocol::message_type(m.message)) == type) out.push_back(m.message);
    return out;
  }
  std::vector<protocol::ranges_reply> replies(conn_id c) const {
    std::vector<protocol::ranges_reply> out;
    for (auto& m : to(c, protocol::ranges_reply::type)) out.push_back(must(protocol::ranges_reply::from_json(m)));
    return out;
  }
};

struct fixture {
  fs::path dir;
  job_spec job;
  std::unique_ptr<bookkeeping::bookkeeper> book;
  recording_io io;
  std::unique_ptr<engine> eng;

  explicit fixture(int inputs = 2, int events = 4, int corepernode = 4, int merge_retries = 2) {
    char tmpl[] = "/tmp/rty-test-engine-XXXXXX";
    dir = ::mkdtemp(tmpl);
    job = make_job(inputs, events);
    bookkeeping::options bo;
    bo.endpoint = "/ep";
    bo.task_dir = (dir / "task").string();
    book = std::make_unique<bookkeeping::bookkeeper>(job, bo);
    engine_settings s;
    s.workdir = (dir / "work").string();
    s.task_dir = bo.task_dir;
    s.endpoint = "/ep";
    s.corepernode = corepernode;
    s.expected_nodes = 2;
    s.merge_max_processes = 1;
    s.merge_retries = merge_retries;
    s.merge.task_dir = bo.task_dir;
    s.merge.containerengine = "none";
    s.node_settings = {{"grace", 7}, {"kill_file", "pilot_kill_payload"}};
    eng = std::make_unique<engine>(s, job, *book, io);
  }
  ~fixture() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  void join(conn_id c, const std::string& node_id) {
    protocol::hello h;
    h.node_id = node_id;
    h.host = "host-" + node_id;
    h.pid = 100 + static_cast<int>(c);
    eng->node_joined(c, h, "127.0.0.1:" + std::to_string(40000 + c));
  }
  void request(conn_id c, std::uint64_t id, int n) {
    protocol::ranges_request r;
    r.request_id = id;
    r.n_ranges = n;
    eng->message(c, r.to_json());
  }
  void finish(conn_id c, const std::vector<event_range>& ranges) {
    protocol::ranges_update u;
    for (auto& r : ranges) {
      range_update x;
      x.range_id = r.id;
      x.status = range_status::finished;
      x.path = (dir / "task" / (r.id + ".HITS")).string();
      x.type = "es_output";
      u.updates.push_back(x);
    }
    eng->message(c, u.to_json());
  }
  // Leases every range through node `c` and reports it finished.
  void process_all(conn_id c) {
    for (std::uint64_t id = 1000;; ++id) {
      request(c, id, 100);
      auto r = io.replies(c).back();
      if (r.request_id != id || r.ranges.empty()) break;
      finish(c, r.ranges);
    }
  }
  void write_report(const merge::merge_command& cmd, const std::string& guid) {
    std::ofstream(cmd.report_path) << bj::serialize(bj::object{
        {"files", {{"output", bj::array{bj::object{{"subFiles", bj::array{bj::object{
                                                       {"name", cmd.output_name}, {"file_guid", guid}}}}}}}}}});
  }
};

process::exit_status exited(int code) {
  process::exit_status s;
  s.code = code;
  return s;
}

}  // namespace

BOOST_AUTO_TEST_CASE(welcome_carries_per_node_actor_dir_and_the_patched_job) {
  fixture f;
  f.join(1, "nodeA");
  f.join(2, "nodeB");
  auto a = f.io.to(1, protocol::welcome::type);
  auto b = f.io.to(2, protocol::welcome::type);
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_REQUIRE_EQUAL(b.size(), 1u);
  auto wa = must(protocol::welcome::from_json(a[0]));
  auto wb = must(protocol::welcome::from_json(b[0]));
  BOOST_TEST(wa.node_index == 0);
  BOOST_TEST(wb.node_index == 1);
  BOOST_TEST(wa.settings.at("actor_dir").as_string() == (f.dir / "work" / "6000000001" / "nodeA").string());
  BOOST_TEST(wb.settings.at("actor_dir").as_string() == (f.dir / "work" / "6000000001" / "nodeB").string());
  BOOST_TEST(wa.settings.at("task_dir").as_string() == (f.dir / "task").string());
  BOOST_TEST(wa.settings.at("grace").as_int64() == 7);  // the shell's node settings go along
  // the job is the one pilot gets on that node: patched, so it differs from the raw job
  BOOST_TEST(wa.job.contains("PandaID"));
  BOOST_TEST(bj::serialize(wa.job.at("jobPars")) != bj::serialize(f.job.raw.at("jobPars")));
  BOOST_TEST(f.eng->nodes().size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_request_is_capped_by_corepernode) {
  fixture f(2, 4, /*corepernode=*/3);
  f.join(1, "a");
  f.request(1, 1, 8);
  auto r = f.io.replies(1);
  BOOST_REQUIRE_EQUAL(r.size(), 1u);
  BOOST_TEST(r[0].request_id == 1u);
  BOOST_TEST(r[0].ranges.size() == 3u);
  BOOST_TEST(!r[0].no_more);
}

BOOST_AUTO_TEST_CASE(a_request_with_nothing_ready_is_held_until_the_other_node_is_lost) {
  fixture f(1, 4, 4);
  f.join(1, "a");
  f.join(2, "b");
  f.request(1, 1, 4);
  BOOST_REQUIRE_EQUAL(f.io.replies(1).at(0).ranges.size(), 4u);
  f.request(2, 7, 2);
  BOOST_TEST(f.io.replies(2).empty());  // held: the ranges leased to a may come back
  BOOST_TEST(f.eng->status().requests_waiting == 1u);
  f.eng->node_lost(1, "EOF");
  auto r = f.io.replies(2);
  BOOST_REQUIRE_EQUAL(r.size(), 1u);
  BOOST_TEST(r[0].request_id == 7u);
  BOOST_TEST(r[0].ranges.size() == 2u);
  BOOST_TEST(r[0].ranges[0].id == rid(1, 1));
  BOOST_TEST(!r[0].no_more);
  BOOST_TEST(f.eng->status().requests_waiting == 0u);
}

BOOST_AUTO_TEST_CASE(no_more_goes_to_every_waiting_request_when_the_job_is_exhausted) {
  fixture f(1, 4, 4);
  f.join(1, "a");
  f.join(2, "b");
  f.join(3, "c");
  f.request(1, 1, 4);
  auto leased = f.io.replies(1).at(0).ranges;
  f.request(2, 5, 2);
  f.request(2, 6, 2);
  f.request(3, 9, 1);
  BOOST_TEST(f.eng->status().requests_waiting == 3u);
  f.finish(1, leased);
  auto b = f.io.replies(2);
  auto c = f.io.replies(3);
  BOOST_REQUIRE_EQUAL(b.size(), 2u);
  BOOST_REQUIRE_EQUAL(c.size(), 1u);
  for (auto& r : {b[0], b[1], c[0]}) {
    BOOST_TEST(r.no_more);
    BOOST_TEST(r.ranges.empty());
  }
  BOOST_TEST(b[0].request_id == 5u);
  BOOST_TEST(b[1].request_id == 6u);
  BOOST_TEST(f.eng->status().requests_waiting == 0u);
  f.request(1, 2, 4);  // and from now on at once
  BOOST_TEST(f.io.replies(1).back().no_more);
}

BOOST_AUTO_TEST_CASE(pilot_exit_releases_the_nodes_leases) {
  fixture f(1, 4, 4);
  f.join(1, "a");
  f.join(2, "b");
  f.request(1, 1, 4);
  f.request(2, 1, 4);
  BOOST_TEST(f.io.replies(2).empty());
  protocol::pilot_exit e;
  e.code = 7;
  e.reason = "exit code 7";
  f.eng->message(1, e.to_json());
  BOOST_TEST(f.book->leased_to(0) == 0u);
  auto r = f.io.replies(2);
  BOOST_REQUIRE_EQUAL(r.size(), 1u);
  BOOST_TEST(r[0].ranges.size() == 4u);
  BOOST_TEST(f.eng->nodes().at(1).pilot_ended);
}

BOOST_AUTO_TEST_CASE(drain_answers_every_pending_request_and_tells_stubs_to_drain) {
  fixture f(1, 4, 4);
  f.join(1, "a");
  f.join(2, "b");
  f.request(1, 1, 4);
  f.request(2, 3, 4);
  f.eng->drain("walltime");
  BOOST_TEST(f.eng->draining());
  auto r = f.io.replies(2);
  BOOST_REQUIRE_EQUAL(r.size(), 1u);
  BOOST_TEST(r[0].no_more);
  for (conn_id c : {1, 2}) {
    auto stops = f.io.to(c, protocol::stop::type);
    BOOST_REQUIRE_EQUAL(stops.size(), 1u);
    BOOST_TEST(must(protocol::stop::from_json(stops[0])).drain);
  }
  f.request(2, 4, 4);
  BOOST_TEST(f.io.replies(2).back().no_more);
  f.join(3, "late");  // a node joining during the drain is told at once
  BOOST_TEST(f.io.to(3, protocol::stop::type).size() == 1u);
  BOOST_TEST((f.eng->outcome() == run_outcome::running));
  f.finish(1, f.io.replies(1).at(0).ranges);
  for (conn_id c : {1, 2, 3}) f.eng->node_lost(c, "EOF");
  // the one output whose ranges all finished still merges before the run counts as drained
  BOOST_REQUIRE_EQUAL(f.io.merges.size(), 1u);
  BOOST_TEST((f.eng->outcome() == run_outcome::running));
  f.write_report(f.io.merges[0], "GUID-M");
  f.eng->merge_exited(f.io.merges[0].output_name, exited(0));
  BOOST_TEST((f.eng->outcome() == run_outcome::complete));  // everything was finished after all
}

BOOST_AUTO_TEST_CASE(outcome_is_drained_when_draining_with_no_node_and_no_merge) {
  fixture f(2, 4, 4);
  f.join(1, "a");
  f.request(1, 1, 4);
  f.eng->drain("signal");
  f.eng->node_lost(1, "EOF");
  BOOST_TEST((f.eng->outcome() == run_outcome::drained));
}

BOOST_AUTO_TEST_CASE(a_successful_merge_is_recorded_with_its_guid) {
  fixture f(1, 4, 4);
  f.join(1, "a");
  f.process_all(1);
  BOOST_REQUIRE_EQUAL(f.io.merges.size(), 1u);
  auto cmd = f.io.merges[0];
  BOOST_TEST(cmd.output_name == f.job.output_files[0]);
  BOOST_TEST((f.eng->outcome() == run_outcome::running));  // the merge runs
  f.write_report(cmd, "ABCDEF01-2345-6789-ABCD-EF0123456789");
  f.eng->merge_exited(cmd.output_name, exited(0));
  BOOST_REQUIRE_EQUAL(f.io.recorded.size(), 1u);
  BOOST_TEST(f.io.recorded[0].first == cmd.output_name);
  BOOST_TEST(f.io.recorded[0].second);
  auto outs = f.book->outputs();
  BOOST_TEST((outs[0].state == bookkeeping::output_state::merged));
  BOOST_TEST(outs[0].guid == "ABCDEF01-2345-6789-ABCD-EF0123456789");
  BOOST_TEST(fs::exists(cmd.kept_report_path));
  BOOST_TEST(!fs::exists(cmd.work_dir));  // removed after success
  BOOST_TEST(f.eng->status().merges_done == 1u);
  BOOST_TEST((f.eng->outcome() == run_outcome::complete));
}

BOOST_AUTO_TEST_CASE(exit_zero_without_a_report_is_a_failed_attempt) {
  fixture f(1, 4, 4, /*merge_retries=*/0);
  f.join(1, "a");
  f.process_all(1);
  BOOST_REQUIRE_EQUAL(f.io.merges.size(), 1u);
  f.eng->merge_exited(f.io.merges[0].output_name, exited(0));
  BOOST_REQUIRE_EQUAL(f.io.recorded.size(), 1u);
  BOOST_TEST(!f.io.recorded[0].second);
}

BOOST_AUTO_TEST_CASE(a_failing_merge_is_retried_then_failed_for_good) {
  fixture f(1, 4, 4, /*merge_retries=*/1);
  f.join(1, "a");
  f.process_all(1);
  BOOST_REQUIRE_EQUAL(f.io.merges.size(), 1u);
  f.eng->merge_exited(f.io.merges[0].output_name, exited(1));
  BOOST_TEST(f.io.recorded.empty());
  BOOST_REQUIRE_EQUAL(f.io.merges.size(), 2u);  // second attempt
  BOOST_TEST(f.io.merges[1].attempt == 2);
  BOOST_TEST(f.io.merges[1].work_dir != f.io.merges[0].work_dir);
  f.eng->merge_exited(f.io.merges[1].output_name, exited(1));
  BOOST_TEST(f.io.merges.size() == 2u);
  BOOST_REQUIRE_EQUAL(f.io.recorded.size(), 1u);
  BOOST_TEST(!f.io.recorded[0].second);
  BOOST_TEST((f.book->outputs()[0].state == bookkeeping::output_state::failed));
  BOOST_TEST(f.eng->status().merges_failed == 1u);
  BOOST_TEST((f.eng->outcome() == run_outcome::complete));
}

BOOST_AUTO_TEST_CASE(merges_on_hold_start_no_more_and_a_failure_does_not_fail_the_group) {
  fixture f(2, 4, 4, /*merge_retries=*/0);
  f.join(1, "a");
  f.request(1, 1, 4);
  f.finish(1, f.io.replies(1).at(0).ranges);  // first output complete: its merge starts
  BOOST_REQUIRE_EQUAL(f.io.merges.size(), 1u);
  f.eng->hold_merges("disk full");
  f.eng->merge_exited(f.io.merges[0].output_name, exited(1));  // no retries left
  BOOST_TEST(f.io.recorded.empty());
  BOOST_TEST((f.book->outputs()[0].state != bookkeeping::output_state::failed));
  f.request(1, 2, 4);
  f.finish(1, f.io.replies(1).at(1).ranges);  // second output complete: no merge while on hold
  BOOST_TEST(f.io.merges.size() == 1u);
  f.eng->drain("disk full");
  f.eng->node_lost(1, "EOF");
  BOOST_TEST((f.eng->outcome() == run_outcome::drained));  // incomplete: the next run merges both
  BOOST_TEST(f.book->get_counts().failed == 0u);
}

BOOST_AUTO_TEST_CASE(an_exit_of_an_unknown_merge_is_ignored) {
  fixture f(1, 4, 4);
  f.eng->merge_exited("HITS.nothing", exited(0));
  BOOST_TEST(f.io.recorded.empty());
}

BOOST_AUTO_TEST_CASE(range_leftovers_are_matched_by_name_like_raythenas_cleaner) {
  const fs::path dir = fs::temp_directory_path() / ("rty-leftovers-" + std::to_string(::getpid()));
  fs::create_directories(dir / "final");
  rty::job_spec job;
  job.in_files = {"EVNT.1._000001.pool.root.1", "EVNT.1._000002.pool.root.1"};
  const std::vector<std::string> orphans{"EVNT.1._000001.pool.root.1-7.HITS.pool.root",
                                         "EVNT.1._000002.pool.root.1-12", "EVNT.1._000002.pool.root.1-3.HITS.x.local-1"};
  const std::vector<std::string> kept{"state.json", "commit_log", "EVNT.1._000001.pool.root.1-",
                                      "EVNT.1._000001.pool.root.1-x7.HITS", "EVNT.1._000001.pool.root.1-7x",
                                      "EVNT.1._000003.pool.root.1-1.HITS", "EVNT.1._000001.pool.root.1"};
  for (const auto& n : orphans) std::ofstream(dir / n) << "x";
  for (const auto& n : kept) std::ofstream(dir / n) << "x";
  std::ofstream(dir / "final" / "EVNT.1._000001.pool.root.1-1.HITS") << "x";  // only the top level
  BOOST_TEST(rty::coordinator::remove_range_leftovers(job, dir.string()) == orphans.size());
  for (const auto& n : orphans) BOOST_TEST(!fs::exists(dir / n), n);
  for (const auto& n : kept) BOOST_TEST(fs::exists(dir / n), n);
  BOOST_TEST(fs::exists(dir / "final" / "EVNT.1._000001.pool.root.1-1.HITS"));
  fs::remove_all(dir);
}
