// The coordinator's engine driven directly, with a recording engine_io: no sockets, no processes.
#define BOOST_TEST_MODULE coordinator
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <tuple>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/file_util.hpp"
#include "coordinator/engine.hpp"
#include "coordinator/status_report.hpp"
#include "coordinator/finalize.hpp"
#include "merge/merge_command.hpp"
#include "protocol/messages.hpp"
#include "rty_test/support.hpp"

namespace bj = boost::json;
namespace fs = std::filesystem;
using namespace rty;
using namespace rty::coordinator;

namespace {

std::string lfn(int i) { return rty::test::numbered_file("EVNT.40000000", i); }
std::string rid(int i, int n) { return lfn(i) + "-" + std::to_string(n); }

job_spec make_job(int inputs, int events) {
  rty::test::job_names names;
  names.task_id = "40000001";
  names.input_tag = "EVNT.40000000";
  names.output_tag = "HITS.40000001";
  job_spec job = rty::test::make_job(inputs, events, events, names);  // one output per input
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
  std::vector<conn_id> closed;
  void close(conn_id c, const std::string&) override { closed.push_back(c); }
  bool start_merge(const merge::merge_command& command) override {
    merges.push_back(command);
    return merge::prepare_work_dir(command).has_value();
  }
  std::vector<std::pair<conn_id, merge::merge_command>> remote;  // merges sent to nodes
  bool start_remote_merge(conn_id node, const merge::merge_command& command) override {
    remote.emplace_back(node, command);
    return merge::prepare_work_dir(command).has_value();
  }
  void merge_recorded(const merge_task& task, bool succeeded) override {
    recorded.emplace_back(task.output_name, succeeded);
  }

  // Messages of `type` sent to `to`, in order.
  std::vector<bj::object> to(conn_id to, std::string_view type) const {
    std::vector<bj::object> out;
    for (auto& m : sent)
      if (m.to == to && protocol::message_type(m.message).value() == type) out.push_back(m.message);
    return out;
  }
  std::vector<protocol::ranges_reply> replies(conn_id c) const {
    std::vector<protocol::ranges_reply> out;
    for (auto& m : to(c, protocol::ranges_reply::type)) out.push_back(protocol::ranges_reply::from_json(m).value());
    return out;
  }
};

struct fixture {
  fs::path dir;
  job_spec job;
  std::unique_ptr<bookkeeping::bookkeeper> book;
  recording_io io;
  std::unique_ptr<engine> eng;

  std::chrono::steady_clock::time_point now{std::chrono::hours(1)};  // the engine's clock

  explicit fixture(int inputs = 2, int events = 4, int corepernode = 4, int merge_retries = 2,
                   bool external = false, int pilot_restarts = 3,
                   const std::function<void(engine_settings&)>& tweak = {}) {
    char tmpl[] = "/tmp/rty-test-engine-XXXXXX";
    dir = ::mkdtemp(tmpl);
    job = make_job(inputs, events);
    bookkeeping::options bo;
    bo.endpoint = "/ep";
    bo.task_dir = (dir / "task").string();
    bo.external_ranges = external;
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
    s.restarts.max_without_progress = pilot_restarts;
    s.remote_merges = false;  // the remote-merge tests turn it on
    s.tail_share = false;     // so does the tail-sharing test: the others count whole answers
    s.clock = [this] { return now; };
    if (tweak) tweak(s);
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
  void fail(conn_id c, const std::string& range_id) {
    protocol::ranges_update u;
    range_update x;
    x.range_id = range_id;
    x.status = range_status::failed;
    x.error_code = 1220;
    u.updates.push_back(x);
    eng->message(c, u.to_json());
  }
  void pilot_ends(conn_id c, int code = 0) {
    protocol::pilot_exit e;
    e.code = code;
    e.reason = "exit code " + std::to_string(code);
    eng->message(c, e.to_json());
  }
  std::size_t starts(conn_id c) const { return io.to(c, protocol::start_pilot::type).size(); }
  void advance(std::chrono::milliseconds d) {
    now += d;
    eng->tick();
  }
  // Harvester's range for event n of input i (its own id, as the messenger delivers it).
  static event_range harvester_range(int input, int n) {
    event_range r;
    r.id = "5678-6000000001-" + std::to_string(90000000 + input) + "-" + std::to_string(n) + "-1";
    r.pfn = "/ep/" + lfn(input);
    r.guid = "GUID-" + std::to_string(input);
    r.start_event = r.last_event = n;
    return r;
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
  // What a successful transform leaves in its work dir: its output (published by the engine) and report.
  void write_report(const merge::merge_command& cmd, const std::string& guid) {
    std::ofstream(cmd.work_output_path) << "merged";
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
  auto wa = protocol::welcome::from_json(a[0]).value();
  auto wb = protocol::welcome::from_json(b[0]).value();
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

// Issue 13 item 5: the node id becomes <workdir>/<PandaID>/<node id>: a stub naming a path is refused.
BOOST_AUTO_TEST_CASE(a_node_id_that_is_a_path_is_refused) {
  fixture f;
  for (conn_id c : {1u, 2u, 3u}) f.join(c, c == 1 ? "../../escape" : c == 2 ? ".." : "bad\nid");
  for (conn_id c : {1u, 2u, 3u}) {
    BOOST_TEST(f.io.to(c, protocol::welcome::type).empty());
    auto errors = f.io.to(c, protocol::error::type);
    BOOST_REQUIRE_EQUAL(errors.size(), 1u);
    BOOST_TEST(protocol::error::from_json(errors[0]).value().message.find("node id") != std::string::npos);
  }
  BOOST_TEST((f.io.closed == std::vector<conn_id>{1, 2, 3}));
  BOOST_TEST(f.eng->nodes().empty());
  f.request(1, 1, 4);  // nothing it sends is acted upon
  BOOST_TEST(f.io.replies(1).empty());
  f.join(4, "node..4");  // '..' inside a name is fine
  BOOST_TEST(f.io.to(4, protocol::welcome::type).size() == 1u);
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

// The rule (coordinator/dispatch.hpp): a held getEventRanges blocks that pilot's reports, so nothing is
// held for leases to come back. With every range leased to a, b hears [] at once — not "no more".
BOOST_AUTO_TEST_CASE(a_request_with_only_leases_outstanding_is_answered_empty_at_once) {
  fixture f(1, 4, 4);
  f.join(1, "a");
  f.join(2, "b");
  f.request(1, 1, 4);
  BOOST_REQUIRE_EQUAL(f.io.replies(1).at(0).ranges.size(), 4u);
  f.request(2, 7, 2);
  auto r = f.io.replies(2);
  BOOST_REQUIRE_EQUAL(r.size(), 1u);
  BOOST_TEST(r[0].request_id == 7u);
  BOOST_TEST(r[0].ranges.empty());
  BOOST_TEST(!r[0].no_more);  // a's ranges may still come back: not final
  BOOST_TEST(f.eng->status().requests_waiting == 0u);
  // its own node's leases do not hold a request either: a's next worker asks while a holds 4
  f.request(1, 2, 4);
  BOOST_TEST(f.io.replies(1).back().ranges.empty());
  BOOST_TEST(!f.io.replies(1).back().no_more);
  f.eng->node_lost(1, "EOF");  // a's leases come back: b's next request gets them
  f.request(2, 8, 2);
  r = f.io.replies(2);
  BOOST_REQUIRE_EQUAL(r.size(), 2u);
  BOOST_TEST(r[1].ranges.size() == 2u);
  BOOST_TEST(r[1].ranges[0].id == rid(1, 1));
}

BOOST_AUTO_TEST_CASE(a_short_list_is_answered_when_fewer_than_asked_are_ready) {
  fixture f(1, 4, 8);
  f.join(1, "a");
  f.request(1, 1, 3);
  f.request(1, 2, 8);
  auto r = f.io.replies(1);
  BOOST_REQUIRE_EQUAL(r.size(), 2u);
  BOOST_TEST(r[0].ranges.size() == 3u);
  BOOST_TEST(r[1].ranges.size() == 1u);  // not held until 8 are ready
}

BOOST_AUTO_TEST_CASE(no_more_is_the_answer_once_the_job_is_exhausted) {
  fixture f(1, 4, 4);
  f.join(1, "a");
  f.join(2, "b");
  f.request(1, 1, 4);
  auto leased = f.io.replies(1).at(0).ranges;
  f.request(2, 5, 2);
  BOOST_TEST(!f.io.replies(2).back().no_more);
  f.finish(1, leased);
  f.request(2, 6, 2);
  f.request(1, 2, 4);
  BOOST_TEST(f.io.replies(2).back().no_more);
  BOOST_TEST(f.io.replies(1).back().no_more);
  BOOST_TEST(f.eng->status().requests_waiting == 0u);
}

// With Harvester as the source, nothing ready but ranges still to come from Harvester: that needs no
// pilot's report, so the request waits (the stub ends it by its deadline); supply answers it, and
// Harvester's "no more" answers every waiter.
BOOST_AUTO_TEST_CASE(a_request_waits_only_for_harvester) {
  fixture f(1, 4, 4, 2, /*external=*/true);
  f.join(1, "a");
  f.join(2, "b");
  f.join(3, "c");
  f.request(1, 1, 4);
  f.request(2, 2, 4);
  BOOST_TEST(f.io.replies(1).empty());
  BOOST_TEST(f.io.replies(2).empty());
  BOOST_TEST(f.eng->status().requests_waiting == 2u);
  f.book->supply({f.harvester_range(1, 1), f.harvester_range(1, 2)});
  f.eng->ranges_supplied();
  auto a = f.io.replies(1);
  BOOST_REQUIRE_EQUAL(a.size(), 1u);
  BOOST_TEST(a[0].ranges.size() == 2u);  // the first waiter, with what there is
  BOOST_TEST(f.io.replies(2).empty());   // still only Harvester can help b: it keeps waiting
  // a ranges_cancel (the stub's deadline) withdraws b's request
  f.eng->message(2, protocol::ranges_cancel{2}.to_json());
  BOOST_TEST(f.eng->status().requests_waiting == 0u);
  f.request(2, 3, 4);
  f.request(3, 4, 4);
  f.book->supply({f.harvester_range(1, 3), f.harvester_range(1, 4)});
  f.eng->ranges_supplied();
  auto b = f.io.replies(2);
  BOOST_REQUIRE_EQUAL(b.size(), 1u);
  BOOST_TEST(b[0].ranges.size() == 2u);
  // Harvester has handed over the whole job now: only a's and b's leases are left, so c waits no more
  auto c = f.io.replies(3);
  BOOST_REQUIRE_EQUAL(c.size(), 1u);
  BOOST_TEST(c[0].ranges.empty());
  BOOST_TEST(!c[0].no_more);  // not final, but nobody waits for leases either
  f.finish(1, a[0].ranges);
  f.finish(2, b[0].ranges);
  f.request(3, 5, 4);
  BOOST_TEST(f.io.replies(3).back().no_more);
}

BOOST_AUTO_TEST_CASE(pilot_exit_releases_the_nodes_leases) {
  fixture f(1, 4, 4);
  f.join(1, "a");
  f.join(2, "b");
  f.request(1, 1, 4);
  f.request(2, 1, 4);
  BOOST_TEST(f.io.replies(2).back().ranges.empty());
  f.pilot_ends(1, 7);
  BOOST_TEST(f.book->leased_to(0) == 0u);
  f.request(2, 2, 4);
  auto r = f.io.replies(2);
  BOOST_REQUIRE_EQUAL(r.size(), 2u);
  BOOST_TEST(r[1].ranges.size() == 4u);
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
  BOOST_TEST(!r[0].no_more);  // answered at once, before the drain
  for (conn_id c : {1, 2}) {
    auto stops = f.io.to(c, protocol::stop::type);
    BOOST_REQUIRE_EQUAL(stops.size(), 1u);
    BOOST_TEST(protocol::stop::from_json(stops[0]).value().drain);
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
  BOOST_TEST(!fs::exists(cmd.output_path));  // the transform writes in its work dir only
  f.eng->merge_exited(cmd.output_name, exited(0));
  BOOST_REQUIRE_EQUAL(f.io.recorded.size(), 1u);
  BOOST_TEST(fs::exists(cmd.output_path));  // published into final/ on success
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

BOOST_AUTO_TEST_CASE(the_last_error_of_each_node_and_merge_is_kept_for_the_status) {
  fixture f(1, 4, 4, /*merge_retries=*/1);
  f.join(1, "a");
  f.join(2, "b");
  BOOST_TEST(f.eng->nodes().at(1).last_error.empty());
  protocol::error e;
  e.message = "cannot move output\x01 to the task directory";
  f.eng->message(2, e.to_json());
  BOOST_TEST(f.eng->nodes().at(2).last_error == "cannot move output\\x01 to the task directory");  // escaped
  f.process_all(1);
  BOOST_REQUIRE_EQUAL(f.io.merges.size(), 1u);
  const auto output = f.io.merges[0].output_name;
  f.eng->merge_exited(output, exited(1));
  BOOST_REQUIRE_EQUAL(f.eng->merge_errors().count(output), 1u);
  BOOST_TEST(f.eng->merge_errors().at(output).find("1") != std::string::npos);
  auto text = last_errors_text(f.eng->nodes(), f.eng->merge_errors());
  BOOST_TEST(text.find("node b: cannot move output") != std::string::npos);
  BOOST_TEST(text.find("merge " + output + ": ") != std::string::npos);
  f.pilot_ends(1, 7);
  BOOST_TEST(f.eng->nodes().at(1).last_error == "pilot ended abnormally (exit code 7)");
  BOOST_TEST(last_errors_text(f.eng->nodes(), f.eng->merge_errors(), 1).ends_with("; and 2 more"));
}

// pilot's update_worker_node, forwarded by the stub (issue 16): kept per node for /status, its text made
// safe (it comes from pilot), a report the coordinator cannot show ignored.
BOOST_AUTO_TEST_CASE(what_pilot_reports_about_its_node_is_kept_for_the_status) {
  fixture f;
  f.join(1, "a");
  f.join(2, "b");
  BOOST_TEST(!f.eng->nodes().at(1).worker_node.has_value());
  protocol::worker_node w{"wn1\x1b[31m\nforged", std::string(300, 'c') + "\xc3\xa9", 2, 24105, 238};
  f.eng->message(1, w.to_json());
  const auto& kept = f.eng->nodes().at(1).worker_node;
  BOOST_REQUIRE(kept.has_value());
  BOOST_TEST(kept->host_name == "wn1\\x1b[31m\\nforged");  // control characters escaped
  BOOST_TEST(kept->cpu_model.size() <= worker_node_text_max);
  BOOST_TEST(kept->cpu_model.ends_with("..."));
  BOOST_TEST((kept->logical_cpus == std::optional<std::int64_t>(2)));
  BOOST_TEST((kept->memory_mb == std::optional<std::int64_t>(24105)));
  BOOST_TEST((kept->local_disk_gb == std::optional<std::int64_t>(238)));
  BOOST_TEST(!f.eng->nodes().at(2).worker_node.has_value());  // per node
  BOOST_TEST(make_node_report(f.eng->nodes().at(1), 0, std::nullopt, false).worker_node->host_name == kept->host_name);

  auto bad = w.to_json();
  bad["logical_cpus"] = -3;  // not what a stub of this build sends: refused whole, the node keeps its report
  f.eng->message(1, bad);
  BOOST_TEST((f.eng->nodes().at(1).worker_node->logical_cpus == std::optional<std::int64_t>(2)));
}

BOOST_AUTO_TEST_CASE(text_for_the_status_is_escaped_and_cut_on_a_character_boundary) {
  BOOST_TEST(status_text("plain", 10) == "plain");
  BOOST_TEST(status_text("a\tb", 10) == "a\\tb");
  BOOST_TEST(status_text("abcdefghijk", 10) == "abcdefg...");
  // "é" is two bytes: a cut never leaves half of it.
  BOOST_TEST(status_text("abcdef\xc3\xa9xyz", 10) == "abcdef...");
  BOOST_TEST(status_text("abcde\xc3\xa9xyzw", 10) == "abcde\xc3\xa9...");
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

// --- the end of the work: no held request may stop a report; late work gets a new pilot -----------

namespace {

// pilot3 as the engine sees it (spec pilot-http §2.2, §2.5; tests/fakes/fake_pilot.py models the same
// with threads): W AthenaMP workers take ranges from a cache; one communicator makes ONE call at a
// time, so while its getEventRanges is held the node reports nothing; finished ranges wait for a
// report; a worker that gets [] ends; the pilot ends when all workers have.
struct model_pilot {
  int workers_alive = 0;
  std::deque<event_range> cache;
  std::vector<event_range> processing;
  std::vector<event_range> unreported;
  bool request_held = false;
  std::uint64_t held_id = 0;
  bool running = false;
};

// Drives `nodes` model pilots against the engine in a random order until the book is done. Returns
// the number of steps, or 0 when it got stuck (no step possible for any pilot, also not after the
// clock moved on for restarts).
std::size_t run_model(fixture& f, int nodes, int workers, unsigned seed, const std::set<std::string>& fail_once,
                      std::size_t* restarts = nullptr) {
  std::mt19937 rng(seed);
  std::map<conn_id, model_pilot> pilots;
  std::map<conn_id, std::size_t> starts_seen, replies_seen;
  std::set<std::string> failed_before;
  for (int i = 1; i <= nodes; ++i) {
    f.join(static_cast<conn_id>(i), "n" + std::to_string(i));
    pilots[static_cast<conn_id>(i)] = {workers, {}, {}, {}, false, 0, true};
  }
  std::uint64_t next_id = 1;
  auto take_replies = [&](conn_id c, model_pilot& p) {
    auto r = f.io.replies(c);
    for (; replies_seen[c] < r.size(); ++replies_seen[c]) {
      auto& reply = r[replies_seen[c]];
      if (!p.request_held || reply.request_id != p.held_id) continue;
      p.request_held = false;
      if (reply.ranges.empty())
        --p.workers_alive;  // "No more events" for the worker that asked
      else
        for (auto& x : reply.ranges) p.cache.push_back(x);
    }
  };
  for (std::size_t step = 1; step < 100000; ++step) {
    if (f.book->get_counts().finished == f.book->get_counts().total) return step;
    // start_pilot from the engine: the node runs a fresh pilot
    for (auto& [c, p] : pilots) {
      auto n = f.starts(c);
      if (n > starts_seen[c]) {
        starts_seen[c] = n;
        p = {workers, {}, {}, {}, false, 0, true};
        if (restarts) ++*restarts;
      }
      take_replies(c, p);
    }
    std::vector<std::function<void()>> moves;
    for (auto& [conn, pilot] : pilots) {
      const conn_id c = conn;
      model_pilot& p = pilot;
      if (!p.running) continue;
      const int idle = p.workers_alive - static_cast<int>(p.processing.size());
      if (idle > 0 && !p.cache.empty())
        moves.push_back([&p] {
          p.processing.push_back(p.cache.front());
          p.cache.pop_front();
        });
      if (!p.processing.empty())
        moves.push_back([&, c] {
          auto r = p.processing.front();
          p.processing.erase(p.processing.begin());
          if (!p.request_held && fail_once.count(r.id) && failed_before.insert(r.id).second) {
            f.fail(c, r.id);  // failures go at once (they need the communicator too)
            return;
          }
          if (fail_once.count(r.id) && !failed_before.count(r.id)) {
            p.processing.push_back(r);  // the failure waits for the communicator
            return;
          }
          p.unreported.push_back(r);
        });
      if (p.request_held) continue;  // the communicator is busy: no other call from this pilot
      if (idle > 0 && p.cache.empty())
        moves.push_back([&, c] {
          p.request_held = true;
          p.held_id = next_id++;
          f.request(c, p.held_id, workers);
          take_replies(c, p);
        });
      if (!p.unreported.empty())
        moves.push_back([&, c] {
          f.finish(c, p.unreported);
          p.unreported.clear();
        });
      if (p.workers_alive == 0 && p.processing.empty())
        moves.push_back([&, c] {
          if (!p.unreported.empty()) f.finish(c, p.unreported);  // the executor's last flush
          p.unreported.clear();
          p.cache.clear();
          p.running = false;
          f.pilot_ends(c);
        });
    }
    if (moves.empty()) {
      // Nothing any pilot can do: only the clock (restart backoff) may help.
      bool helped = false;
      for (int i = 0; i < 200 && !helped; ++i) {
        f.advance(std::chrono::milliseconds(500));
        for (auto& [c, p] : pilots) helped = helped || f.starts(c) > starts_seen[c];
      }
      if (!helped) return 0;
      continue;
    }
    moves[std::uniform_int_distribution<std::size_t>(0, moves.size() - 1)(rng)]();
  }
  return 0;
}

}  // namespace

// The issue's small job: 3 inputs x 6 events on 2 nodes x 4 cores deadlocked at once when a held
// request waited for leases. Random interleavings of pipelined pilots, with late failures, always end.
BOOST_AUTO_TEST_CASE(pipelined_pilots_never_deadlock_on_a_held_request) {
  for (unsigned seed = 1; seed <= 60; ++seed) {
    for (auto [inputs, events, nodes] : {std::tuple{3, 6, 2}, std::tuple{3, 8, 2}, std::tuple{2, 5, 3}}) {
      fixture f(inputs, events, 4);
      std::set<std::string> fail_once;
      if (seed % 3 == 0) fail_once = {rid(inputs, events), rid(1, 2)};  // the very last range fails
      auto steps = run_model(f, nodes, 4, seed, fail_once);
      BOOST_TEST_REQUIRE(steps > 0u, "stuck: seed " << seed << ", " << inputs << "x" << events << " on " << nodes
                                                      << " nodes; ready " << f.book->get_counts().ready << ", leased "
                                                      << f.book->get_counts().leased << ", finished "
                                                      << f.book->get_counts().finished);
      BOOST_TEST(f.eng->status().requests_waiting == 0u);
    }
  }
}

BOOST_AUTO_TEST_CASE(the_last_range_failing_after_every_pilot_got_empty_gets_a_new_pilot) {
  fixture f(1, 4, 4);
  f.join(1, "a");
  f.join(2, "b");
  f.request(1, 1, 4);
  auto leased = f.io.replies(1).at(0).ranges;
  f.request(2, 1, 4);  // [] for b's worker ... and, one by one, for all of them: b's pilot ends
  f.pilot_ends(2);
  BOOST_TEST(f.eng->nodes().at(2).pilot_ended);
  BOOST_TEST(f.io.to(2, protocol::stop::type).empty());  // b stays: work may still appear
  f.finish(1, {leased[0], leased[1], leased[2]});
  f.request(1, 2, 4);  // a's idle workers: [] (only a's own lease is left)
  f.fail(1, leased[3].id);  // the very last range fails: ready again, and no pilot will ask
  f.pilot_ends(1);
  BOOST_TEST(f.starts(1) + f.starts(2) == 0u);  // not before the backoff
  f.advance(std::chrono::milliseconds(999));
  BOOST_TEST(f.starts(1) + f.starts(2) == 0u);
  f.advance(std::chrono::milliseconds(1));
  BOOST_TEST(f.starts(1) + f.starts(2) == 1u);  // one range: one new pilot, not one per idle node
  const conn_id c = f.starts(2) ? 2 : 1;
  auto start = protocol::start_pilot::from_json(f.io.to(c, protocol::start_pilot::type).at(0)).value();
  BOOST_TEST(start.attempt == 2);
  f.request(c, 9, 4);
  auto r = f.io.replies(c).back();
  BOOST_REQUIRE_EQUAL(r.ranges.size(), 1u);
  BOOST_TEST(r.ranges[0].id == leased[3].id);
  f.finish(c, r.ranges);
  BOOST_TEST(f.book->exhausted());
  // the job has no range left: nodes without a pilot are let go
  const conn_id other = c == 1 ? 2 : 1;
  BOOST_TEST(f.io.to(other, protocol::stop::type).size() == 1u);
  BOOST_TEST(!protocol::stop::from_json(f.io.to(other, protocol::stop::type).at(0)).value().drain);
}

BOOST_AUTO_TEST_CASE(restarts_back_off_and_are_bounded_without_progress) {
  fixture f(1, 4, 4);
  f.join(1, "a");
  f.pilot_ends(1);  // a pilot that never asked: e.g. it cannot start
  std::vector<int> waited;
  for (int attempt = 0; attempt < 6; ++attempt) {
    int ms = 0;
    const auto before = f.starts(1);
    while (f.starts(1) == before && ms < 200000) {
      f.advance(std::chrono::milliseconds(100));
      ms += 100;
    }
    if (f.starts(1) == before) break;
    waited.push_back(ms);
    f.pilot_ends(1);  // ends again, nothing done
  }
  BOOST_TEST((waited == std::vector<int>{1000, 2000, 4000}));  // payload.pilotrestarts = 3, doubling
  BOOST_TEST(f.eng->draining());  // nobody can take the 4 ready ranges: the run drains (exit 3)
  BOOST_TEST(protocol::stop::from_json(f.io.to(1, protocol::stop::type).back()).value().drain);
  f.eng->node_lost(1, "EOF");
  BOOST_TEST((f.eng->outcome() == run_outcome::drained));
}

BOOST_AUTO_TEST_CASE(progress_resets_the_restart_budget) {
  fixture f(1, 10, 2);
  f.join(1, "a");
  for (int round = 0; round < 4; ++round) {  // more rounds than payload.pilotrestarts
    f.request(1, 10 + round, 2);
    auto r = f.io.replies(1).back();
    BOOST_REQUIRE_EQUAL(r.ranges.size(), 2u);
    f.finish(1, r.ranges);
    f.pilot_ends(1);  // a pilot that crashes after each batch, but works
    const auto before = f.starts(1);
    f.advance(std::chrono::milliseconds(1000));
    BOOST_TEST(f.starts(1) == before + 1, "round " << round);
  }
  BOOST_TEST(!f.eng->draining());
}

BOOST_AUTO_TEST_CASE(no_restarts_with_pilotrestarts_zero_drains_when_work_is_left) {
  fixture f(1, 4, 4, 2, false, /*pilot_restarts=*/0);
  f.join(1, "a");
  f.request(1, 1, 4);
  f.pilot_ends(1, 9);  // crashed holding 4 ranges
  f.advance(std::chrono::seconds(5));
  BOOST_TEST(f.starts(1) == 0u);
  BOOST_TEST(f.eng->draining());
}

BOOST_AUTO_TEST_CASE(no_restart_while_draining) {
  fixture f(1, 4, 4);
  f.join(1, "a");
  f.join(2, "b");
  f.request(1, 1, 4);
  f.pilot_ends(2);
  f.eng->drain("walltime");
  f.pilot_ends(1);
  f.advance(std::chrono::seconds(10));
  BOOST_TEST(f.starts(1) + f.starts(2) == 0u);
}

BOOST_AUTO_TEST_CASE(dispatch_policy_table) {
  using k = dispatch_kind;
  auto d = [](bool draining, bool exhausted, std::uint64_t leasable, std::uint64_t awaiting, std::int64_t n,
              std::int64_t cap) { return decide_dispatch({draining, exhausted, leasable, awaiting}, n, cap); };
  BOOST_TEST((d(false, false, 10, 0, 4, 0) == dispatch_decision{k::lease, 4}));
  BOOST_TEST((d(false, false, 10, 0, 8, 3) == dispatch_decision{k::lease, 3}));  // corepernode
  BOOST_TEST((d(false, false, 2, 0, 8, 0) == dispatch_decision{k::lease, 2}));   // short list
  BOOST_TEST((d(false, false, 0, 0, 8, 0) == dispatch_decision{k::empty, 0}));   // only leases left
  BOOST_TEST((d(false, false, 0, 5, 8, 0) == dispatch_decision{k::hold, 0}));    // Harvester may supply
  BOOST_TEST((d(false, false, 1, 5, 8, 0) == dispatch_decision{k::lease, 1}));   // ready wins over waiting
  BOOST_TEST((d(false, true, 0, 0, 8, 0) == dispatch_decision{k::no_more, 0}));
  BOOST_TEST((d(true, false, 10, 5, 8, 0) == dispatch_decision{k::no_more, 0}));
  BOOST_TEST((d(false, false, 10, 0, 0, 0) == dispatch_decision{k::empty, 0}));
  // ray.tailshare: 4 nodes of 4 workers ask (16); fewer ranges left than that -> this request's share
  auto t = [](std::uint64_t leasable, std::uint64_t awaiting, std::uint64_t workers, std::int64_t n) {
    return decide_dispatch({false, false, leasable, awaiting, workers}, n, 0);
  };
  BOOST_TEST((t(100, 0, 16, 4) == dispatch_decision{k::lease, 4}));  // not the tail
  BOOST_TEST((t(16, 0, 16, 4) == dispatch_decision{k::lease, 4}));   // one range a worker still
  BOOST_TEST((t(8, 0, 16, 4) == dispatch_decision{k::lease, 2}));    // half a range a worker
  BOOST_TEST((t(5, 0, 16, 4) == dispatch_decision{k::lease, 2}));    // ceil(5 * 4 / 16)
  BOOST_TEST((t(3, 0, 16, 4) == dispatch_decision{k::lease, 1}));    // at least one
  BOOST_TEST((t(1, 0, 16, 4) == dispatch_decision{k::lease, 1}));
  BOOST_TEST((t(3, 50, 16, 4) == dispatch_decision{k::lease, 3}));   // Harvester supplies more: no tail yet
  BOOST_TEST((t(3, 0, 0, 4) == dispatch_decision{k::lease, 3}));     // off (0 workers counted)
  BOOST_TEST((t(3, 0, 2, 4) == dispatch_decision{k::lease, 3}));     // a stale count below n: capped at n
  BOOST_TEST(pilots_wanted(1, 0, 4) == 1u);
  BOOST_TEST(pilots_wanted(9, 0, 4) == 3u);
  BOOST_TEST(pilots_wanted(9, 2, 4) == 1u);
  BOOST_TEST(pilots_wanted(4, 3, 4) == 0u);
  restart_policy p;
  BOOST_TEST(p.backoff(0).count() == 1000);
  BOOST_TEST(p.backoff(3).count() == 8000);
  BOOST_TEST(p.backoff(20).count() == 60000);
}

// Issue 13, item 7: a node id names a directory; only well-formed ones are used.
// ray.tailshare: once fewer ranges are left than the asking pilots' workers, a request gets its share,
// so the last ranges are not queued behind one pilot's busy workers; off, the answer is a full one.
BOOST_AUTO_TEST_CASE(the_tail_is_shared_out_instead_of_queued_on_one_pilot) {
  for (bool share : {true, false}) {
    BOOST_TEST_CONTEXT("ray.tailshare " << share) {
      fixture f(2, 6, 4, 2, false, 3, [share](engine_settings& s) { s.tail_share = share; });  // 12 ranges
      f.join(1, "a");
      f.join(2, "b");
      f.request(1, 1, 4);  // only a has asked (4 workers): 12 left is no tail
      BOOST_REQUIRE_EQUAL(f.io.replies(1).at(0).ranges.size(), 4u);
      f.advance(std::chrono::seconds(2));  // the worker count is summed at most once a second
      f.request(2, 1, 4);  // a and b: 8 workers, 8 left, not the tail yet
      BOOST_REQUIRE_EQUAL(f.io.replies(2).at(0).ranges.size(), 4u);
      f.finish(1, f.io.replies(1).at(0).ranges);
      f.request(1, 2, 4);  // 4 left for 8 workers: a's share is ceil(4 * 4 / 8) = 2
      BOOST_TEST(f.io.replies(1).at(1).ranges.size() == (share ? 2u : 4u));
      f.request(2, 2, 4);  // ceil(2 * 4 / 8) = 1; off, a took them all
      BOOST_TEST(f.io.replies(2).at(1).ranges.size() == (share ? 1u : 0u));
      f.request(2, 3, 4);
      BOOST_TEST(f.io.replies(2).at(2).ranges.size() == (share ? 1u : 0u));
    }
  }
}

BOOST_AUTO_TEST_CASE(node_ids_are_checked_before_they_name_a_directory) {
  for (const char* ok : {"local-0", "nid001234", "node7.cluster.example.org", "host-2", "u@h", "fe80::1"})
    BOOST_TEST(valid_node_id(ok), ok);
  for (const char* bad : {"", ".", "..", "../../etc", "a/b", ".hidden", "-rf", "x\ny", "tab\there", "sp ace"})
    BOOST_TEST(!valid_node_id(bad), bad);
  BOOST_TEST(!valid_node_id(std::string(256, 'a')));
}

// --- walltime-aware dispatch (walltime_policy.hpp) ------------------------------------------------

namespace {
// 4 inputs x 8 events = 32 ranges, 2 per request; the kill time 1000 s from the start, margin 60 s.
struct walltime_fixture : fixture {
  explicit walltime_fixture(bool aware = true, std::optional<std::chrono::seconds> kill_in = std::chrono::seconds(1000),
                            int corepernode = 2)
      : fixture(4, 8, corepernode, 2, false, 3, [&](engine_settings& s) {
          s.walltime.aware = aware;
          s.walltime.margin = std::chrono::seconds(60);
          if (kill_in) s.kill_at = now + *kill_in;
        }) {}
  // One node: ask, take 100 s, report; until a request is answered with nothing. The replies' sizes.
  std::vector<std::size_t> run_node(conn_id c) {
    std::vector<std::size_t> sizes;
    for (std::uint64_t id = 1; id < 100; ++id) {
      request(c, id, 2);
      auto r = io.replies(c).back();
      BOOST_REQUIRE_EQUAL(r.request_id, id);
      sizes.push_back(r.ranges.size());
      if (r.ranges.empty()) break;
      now += std::chrono::seconds(100);
      finish(c, r.ranges);
    }
    return sizes;
  }
};
}  // namespace

BOOST_AUTO_TEST_CASE(walltime_holds_back_a_range_that_cannot_finish_before_the_kill_time) {
  walltime_fixture f;
  f.join(1, "nodeA");
  auto sizes = f.run_node(1);
  // Leases at t = 0, 100, ..., 800 (800 + 100 + 60 <= 1000); at t = 900 the answer is [] for good.
  BOOST_REQUIRE_EQUAL(sizes.size(), 10u);
  BOOST_TEST(sizes.back() == 0u);
  auto last = f.io.replies(1).back();
  BOOST_TEST(last.no_more);  // pilot's workers end cleanly; its stub answers [] from now on
  auto s = f.eng->status();
  BOOST_TEST(s.ranges.finished == 18u);
  BOOST_TEST(s.ranges.ready == 14u);  // not lost: ready for the next run (the checkpoint keeps them)
  BOOST_TEST(s.ranges_held_back == 14u);
  BOOST_TEST(s.requests_held_back == 1u);
  BOOST_REQUIRE(s.range_estimate_s);
  BOOST_TEST(*s.range_estimate_s == 100.0);
  BOOST_TEST(!f.eng->draining());
  // Its pilot ends: no new one (it would get nothing either); nobody can take the ranges: the run
  // drains now instead of idling until the kill time.
  f.pilot_ends(1);
  BOOST_TEST(f.eng->draining());
  f.advance(std::chrono::seconds(30));
  BOOST_TEST(f.starts(1) == 0u);
  BOOST_TEST(f.eng->status().ranges.ready == 14u);
}

BOOST_AUTO_TEST_CASE(walltime_hands_out_without_an_estimate_yet) {
  walltime_fixture f(true, std::chrono::seconds(10));  // the kill time is near, but nothing has finished
  f.join(1, "nodeA");
  f.request(1, 1, 2);
  BOOST_TEST(f.io.replies(1).back().ranges.size() == 2u);
  BOOST_TEST(!f.eng->status().range_estimate_s);
  BOOST_TEST(f.eng->status().requests_held_back == 0u);
}

BOOST_AUTO_TEST_CASE(walltime_unaware_dispatch_hands_out_until_the_kill_time_like_raythena) {
  walltime_fixture f(false);
  f.join(1, "nodeA");
  auto sizes = f.run_node(1);
  // Every range is handed out: 16 requests of 2, the last ones finishing past the kill time.
  BOOST_TEST(sizes.size() == 17u);
  BOOST_TEST(f.eng->status().requests_held_back == 0u);
  BOOST_TEST(f.eng->status().ranges.finished == 32u);
}

BOOST_AUTO_TEST_CASE(walltime_without_a_time_limit_never_holds_back) {
  walltime_fixture f(true, std::nullopt);
  f.join(1, "nodeA");
  BOOST_TEST(f.run_node(1).size() == 17u);
  BOOST_TEST(f.eng->status().requests_held_back == 0u);
}

BOOST_AUTO_TEST_CASE(walltime_a_slow_node_holds_back_while_a_fast_one_still_gets_ranges) {
  walltime_fixture f;
  f.join(1, "slow");
  f.join(2, "fast");
  // Ten rounds: the slow node takes 80 s a range, the fast one 20 s (both report at the same time).
  for (std::uint64_t id = 1; id <= 10; ++id) {
    f.request(1, id, 1);
    f.request(2, id, 1);
    auto a = f.io.replies(1).back();
    auto b = f.io.replies(2).back();
    BOOST_REQUIRE_EQUAL(a.ranges.size(), 1u);
    BOOST_REQUIRE_EQUAL(b.ranges.size(), 1u);
    f.now += std::chrono::seconds(20);
    f.finish(2, b.ranges);
    f.now += std::chrono::seconds(60);
    f.finish(1, a.ranges);
  }
  // t = 800: the slow node's p90 (80 s) + 60 s goes past 1000 s at t = 870; the fast one's (20 s) does not.
  f.now += std::chrono::seconds(70);
  f.request(1, 50, 1);
  f.request(2, 50, 1);
  BOOST_TEST(f.io.replies(1).back().ranges.empty());
  BOOST_TEST(f.io.replies(1).back().no_more);
  BOOST_TEST(f.io.replies(2).back().ranges.size() == 1u);
  auto s = f.eng->status();
  BOOST_REQUIRE(s.projected_end_in_s);
  BOOST_TEST(*s.projected_end_in_s == 20.0);  // the fast node's lease, just made
}

BOOST_AUTO_TEST_CASE(walltime_near_the_kill_time_a_pilot_gets_one_range_per_free_worker) {
  // One pilot of 4 workers (pilot3 asks for its worker count when its cache is empty). Ranges take
  // 100 s on a worker; the three that wait in its cache behind running ranges take 400 s lease -> finish.
  walltime_fixture f(true, std::chrono::seconds(1000), 4);
  f.join(1, "nodeA");
  auto take = [&](std::uint64_t id) {
    f.request(1, id, 4);
    auto r = f.io.replies(1).back();
    BOOST_REQUIRE_EQUAL(r.request_id, id);
    return r.ranges;
  };
  auto a = take(1);  // t = 0: four free workers, all four start at once
  BOOST_REQUIRE_EQUAL(a.size(), 4u);
  f.now += std::chrono::seconds(100);
  f.finish(1, a);
  auto b = take(2);  // t = 100
  BOOST_REQUIRE_EQUAL(b.size(), 4u);
  f.now += std::chrono::seconds(100);
  f.finish(1, {b[0]});
  auto c = take(3);  // t = 200: three of b run, so one of c starts at once and three wait
  BOOST_REQUIRE_EQUAL(c.size(), 4u);
  f.finish(1, {b[1], b[2], b[3]});
  f.now += std::chrono::seconds(100);
  f.finish(1, {c[0]});
  f.now += std::chrono::seconds(300);
  f.finish(1, {c[1], c[2], c[3]});  // t = 600
  auto s = f.eng->status();
  BOOST_REQUIRE(s.range_estimate_s);
  BOOST_REQUIRE(s.range_queued_estimate_s);
  BOOST_TEST(*s.range_estimate_s == 100.0);         // the nine ranges started at once
  BOOST_TEST(*s.range_queued_estimate_s == 400.0);  // every range: the cache waits push it up
  // t = 600: a range that waited (400 s + 60 s) would end past 1000 s, one started at once would not,
  // and all four workers are free: four ranges.
  auto d = take(4);
  BOOST_REQUIRE_EQUAL(d.size(), 4u);
  f.now += std::chrono::seconds(100);
  f.finish(1, {d[0], d[1]});
  // t = 700: two workers free, two still run d[2] and d[3]: two ranges, none left to wait in the cache.
  auto e = take(5);
  BOOST_TEST(e.size() == 2u);
  BOOST_TEST(f.eng->status().requests_held_back == 0u);
  // The projected end: the four ranges held now were all started at once, the last at t = 700.
  BOOST_REQUIRE(f.eng->status().projected_end_in_s);
  BOOST_TEST(*f.eng->status().projected_end_in_s == 100.0);
  f.finish(1, {d[2], d[3]});
  f.finish(1, e);
  f.now += std::chrono::seconds(160);
  // t = 860: 860 + 100 + 60 > 1000: held back, and the pilot is told there are no more.
  auto g = take(6);
  BOOST_TEST(g.empty());
  BOOST_TEST(f.io.replies(1).back().no_more);
  BOOST_TEST(f.eng->status().requests_held_back == 1u);
  BOOST_TEST(f.eng->status().ranges.finished == 18u);
  BOOST_TEST(f.eng->status().ranges.ready == 14u);  // kept for the next run
}

BOOST_AUTO_TEST_CASE(walltime_a_worker_answered_no_more_is_not_counted_free) {
  // One input of 4 events, a pilot of 4 workers. After an empty answer one worker has ended, so with
  // one range still held only 2 of 4 workers are free: of 3 ranges the third waits in pilot's cache,
  // and its lease -> finish (300 s) must not count as a range started at once.
  fixture f(1, 4, 4);
  f.join(1, "nodeA");
  f.request(1, 1, 4);
  auto r = f.io.replies(1).back().ranges;
  BOOST_REQUIRE_EQUAL(r.size(), 4u);
  f.request(1, 2, 4);  // nothing ready: [] and that worker ends
  BOOST_REQUIRE(f.io.replies(1).back().ranges.empty());
  f.now += std::chrono::seconds(100);
  f.fail(1, r[0].id);  // retried: ready again
  f.fail(1, r[1].id);
  f.fail(1, r[2].id);
  f.request(1, 3, 4);  // r[3] still held, one worker ended: 2 free
  auto again = f.io.replies(1).back().ranges;
  BOOST_REQUIRE_EQUAL(again.size(), 3u);
  f.finish(1, {r[3]});  // 100 s, started at once
  f.now += std::chrono::seconds(100);
  f.finish(1, {again[0], again[1]});  // 100 s each, started at once
  f.now += std::chrono::seconds(200);
  f.finish(1, {again[2]});  // 300 s: it waited
  auto s = f.eng->status();
  BOOST_REQUIRE(s.range_estimate_s);
  BOOST_TEST(*s.range_estimate_s == 100.0);
  BOOST_REQUIRE(s.range_queued_estimate_s);
  BOOST_TEST(*s.range_queued_estimate_s == 300.0);
}

BOOST_AUTO_TEST_CASE(walltime_samples_only_the_nodes_own_finished_leases) {
  walltime_fixture f;
  f.join(1, "nodeA");
  f.join(2, "nodeB");
  f.request(1, 1, 2);
  auto r = f.io.replies(1).back();
  BOOST_REQUIRE_EQUAL(r.ranges.size(), 2u);
  f.now += std::chrono::seconds(500);
  f.finish(2, r.ranges);  // another node reports them: not a duration sample
  f.fail(1, r.ranges[0].id);  // a failure is no sample either
  BOOST_TEST(!f.eng->status().range_estimate_s);
}

namespace {
// Two outputs; node 1 (a) runs every range, node 2 (b) only asks; the coordinator's node merges one at a time.
struct remote_fixture : fixture {
  remote_fixture() : fixture(2, 4, 4, /*merge_retries=*/0, false, 3, [](engine_settings& s) {
    s.remote_merges = true;
    s.merge_max_processes = 1;
  }) {
    join(1, "a");
    join(2, "b");
  }
  void result(conn_id c, const merge::merge_command& cmd, int code, bool started = true) {
    protocol::merge_result r;
    r.output_name = cmd.output_name;
    r.attempt = cmd.attempt;
    r.started = started;
    r.code = code;
    r.reason = started ? "exit code " + std::to_string(code) : "refused";
    eng->message(c, r.to_json());
  }
  std::vector<protocol::stop> stops(conn_id c) const {
    std::vector<protocol::stop> out;
    for (auto& m : io.to(c, protocol::stop::type)) out.push_back(protocol::stop::from_json(m).value());
    return out;
  }
};
}  // namespace

BOOST_AUTO_TEST_CASE(merges_go_to_idle_nodes_and_the_output_is_published_after_their_result) {
  remote_fixture f;
  f.process_all(1);  // both outputs complete while every pilot still runs: one merge local, one waits
  BOOST_REQUIRE_EQUAL(f.io.merges.size(), 1u);
  BOOST_TEST(f.io.remote.empty());
  BOOST_TEST(f.eng->status().merges_pending == 1u);
  f.pilot_ends(2);  // node b has no work left: the waiting merge goes there
  BOOST_REQUIRE_EQUAL(f.io.remote.size(), 1u);
  auto [node, cmd] = f.io.remote[0];
  BOOST_TEST(node == 2u);
  BOOST_TEST(f.eng->status().merges_remote_running == 1u);
  BOOST_TEST(f.stops(2).empty());  // kept while it merges
  // A result from a node the merge was not sent to, or for another attempt, is ignored.
  f.write_report(cmd, "GUID-R");
  f.result(1, cmd, 0);
  auto other = cmd;
  other.attempt = 5;
  f.result(2, other, 0);
  BOOST_TEST(!fs::exists(cmd.output_path));
  BOOST_TEST(f.eng->status().merges_remote_running == 1u);
  f.result(2, cmd, 0);
  BOOST_TEST(fs::exists(cmd.output_path));  // the coordinator renamed it into final/
  BOOST_TEST(!fs::exists(cmd.work_dir));
  BOOST_TEST(f.eng->status().merges_done == 1u);
  BOOST_TEST(f.eng->status().merges_remote_started == 1u);
  // Nothing left for node b: let go.
  auto stops = f.stops(2);
  BOOST_REQUIRE_EQUAL(stops.size(), 1u);
  BOOST_TEST(!stops[0].drain);
  // The local one finishes; the run is complete.
  f.write_report(f.io.merges[0], "GUID-L");
  f.eng->merge_exited(f.io.merges[0].output_name, exited(0));
  BOOST_TEST((f.eng->outcome() == run_outcome::complete));
}

BOOST_AUTO_TEST_CASE(a_merge_lost_with_its_node_runs_again_elsewhere_and_its_partial_output_is_never_published) {
  remote_fixture f;
  f.process_all(1);
  f.pilot_ends(2);
  BOOST_REQUIRE_EQUAL(f.io.remote.size(), 1u);
  auto lost = f.io.remote[0].second;
  std::ofstream(lost.work_output_path) << "partial";  // the node died half-way
  f.eng->node_lost(2, "EOF");
  BOOST_TEST(f.eng->status().merges_pending == 1u);  // the local slot is taken: it waits
  BOOST_TEST(f.eng->status().merges_failed == 0u);   // not the merge's fault
  // Node a's pilot ends too: the retry goes there, as attempt 2 in a fresh directory.
  f.pilot_ends(1);
  BOOST_REQUIRE_EQUAL(f.io.remote.size(), 2u);
  auto [node, retry] = f.io.remote[1];
  BOOST_TEST(node == 1u);
  BOOST_TEST(retry.output_name == lost.output_name);
  BOOST_TEST(retry.attempt == 2);
  BOOST_TEST(retry.work_dir != lost.work_dir);
  BOOST_TEST(!fs::exists(lost.output_path));
  f.write_report(retry, "GUID-2");
  f.result(1, retry, 0);
  std::ifstream in(retry.output_path);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  BOOST_TEST(content == "merged");  // the retry's output, never the partial one
  BOOST_TEST(f.book->outputs().size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_node_that_cannot_run_a_merge_gets_no_more_and_the_merge_runs_locally) {
  remote_fixture f;
  f.process_all(1);
  f.write_report(f.io.merges[0], "GUID-L");
  f.pilot_ends(2);
  BOOST_REQUIRE_EQUAL(f.io.remote.size(), 1u);
  f.eng->merge_exited(f.io.merges[0].output_name, exited(0));  // the local slot frees
  f.result(2, f.io.remote[0].second, -1, /*started=*/false);
  BOOST_TEST(f.eng->nodes().at(2).no_merges);
  BOOST_REQUIRE_EQUAL(f.io.merges.size(), 2u);  // run locally instead, attempt 2
  BOOST_TEST(f.io.merges[1].attempt == 2);
  BOOST_TEST(f.io.remote.size() == 1u);
  BOOST_TEST(f.eng->status().merges_failed == 0u);
}

BOOST_AUTO_TEST_CASE(remote_merges_off_keeps_every_merge_local) {
  fixture f(2, 4, 4, 0, false, 3, [](engine_settings& s) { s.remote_merges = false; });
  f.join(1, "a");
  f.join(2, "b");
  f.process_all(1);
  f.pilot_ends(2);
  BOOST_TEST(f.io.remote.empty());
  BOOST_TEST(f.io.merges.size() == 1u);
  BOOST_TEST(f.io.to(2, protocol::stop::type).size() == 1u);  // let go at once, as before
}

BOOST_AUTO_TEST_CASE(a_drain_lets_an_idle_node_finish_its_merge_before_it_is_stopped) {
  remote_fixture f;
  f.process_all(1);
  f.pilot_ends(2);
  BOOST_REQUIRE_EQUAL(f.io.remote.size(), 1u);
  f.eng->drain("walltime");
  BOOST_TEST(f.stops(1).size() == 1u);  // node a's pilot still runs: the kill file
  BOOST_TEST(f.stops(2).empty());       // node b would end at once, killing its merge
  BOOST_TEST(f.eng->status().merges_pending == 0u);
  f.pilot_ends(1);  // no merge goes to a node while the run drains
  BOOST_TEST(f.io.remote.size() == 1u);
  auto cmd = f.io.remote[0].second;
  f.write_report(cmd, "GUID-D");
  f.result(2, cmd, 0);
  BOOST_TEST(fs::exists(cmd.output_path));
  BOOST_TEST(f.stops(2).size() == 1u);  // now it goes
}
