#include <boost/test/unit_test.hpp>

#include "protocol/auth.hpp"
#include "protocol/messages.hpp"

#include <boost/json.hpp>

using namespace rty::protocol;
namespace json = boost::json;

namespace {

// Encodes, decodes through the frame decoder, checks the type and parses back.
template <class M>
M round_trip(const M& m) {
  frame_decoder d;
  d.feed(encode(m));
  auto frame = d.next();
  BOOST_TEST_REQUIRE(frame.has_value(), frame.error());
  BOOST_TEST_REQUIRE(frame->has_value());
  auto type = message_type(**frame);
  BOOST_TEST_REQUIRE(type.has_value());
  BOOST_TEST(*type == M::type);
  auto back = M::from_json(**frame);
  BOOST_TEST_REQUIRE(back.has_value(), back.error());
  return *back;
}

rty::event_range sample_range(int n) {
  return {"EVNT.X._000001.pool.root.1-" + std::to_string(n), "/hv/EVNT.X._000001.pool.root.1", "GA", n, n};
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_message_round_trips) {
  auto c = round_trip(challenge{version, "00ff"});
  BOOST_TEST(c.nonce == "00ff");

  auto h = round_trip(hello{version, "nid-1", "host1", 4242, "0123", "abcd"});
  BOOST_TEST(h.node_id == "nid-1");
  BOOST_TEST(h.host == "host1");
  BOOST_TEST(h.pid == 4242);
  BOOST_TEST(h.nonce == "0123");
  BOOST_TEST(h.proof == "abcd");

  auto a = round_trip(accepted{"beef"});
  BOOST_TEST(a.proof == "beef");

  welcome w;
  w.node_index = 3;
  w.job = json::object{{"PandaID", "6000000001"}, {"coreCount", 2}};
  w.settings = json::object{{"serverport", 8080}, {"pilotkilltime", 600}};
  auto w2 = round_trip(w);
  BOOST_TEST(w2.node_index == 3);
  BOOST_TEST(w2.job == w.job);
  BOOST_TEST(w2.settings == w.settings);

  round_trip(heartbeat{});

  auto rq = round_trip(ranges_request{18446744073709551615ull, 8});
  BOOST_TEST(rq.request_id == 18446744073709551615ull);
  BOOST_TEST(rq.n_ranges == 8);

  ranges_reply rr{7, {sample_range(1), sample_range(2)}, true};
  auto rr2 = round_trip(rr);
  BOOST_TEST(rr2.request_id == 7u);
  BOOST_TEST(rr2.no_more);
  BOOST_TEST((rr2.ranges == rr.ranges));
  BOOST_TEST(round_trip(ranges_reply{8, {}, false}).ranges.empty());

  BOOST_TEST(round_trip(ranges_cancel{9}).request_id == 9u);

  auto ret = round_trip(ranges_return{{"a-1", "a-2"}});
  BOOST_TEST((ret.ranges == std::vector<std::string>{"a-1", "a-2"}));

  rty::range_update fin{"a-1", rty::range_status::finished, "/j/out/a-1.HITS", "0f3a09c1", 1234, "es_output", 0};
  rty::range_update bad{"a-2", rty::range_status::fatal, "", "", -1, "", 1220};
  auto up = round_trip(ranges_update{{fin, bad}});
  BOOST_TEST_REQUIRE(up.updates.size() == 2u);
  BOOST_TEST((up.updates[0] == fin));
  BOOST_TEST((up.updates[1] == bad));

  auto ju = round_trip(job_update{"running", json::object{{"jobId", "6000000001"}, {"coreCount", "2"}}});
  BOOST_TEST(ju.state == "running");
  BOOST_TEST(ju.fields.at("jobId").as_string() == "6000000001");

  auto pe = round_trip(pilot_exit{-1, 9, "killed"});
  BOOST_TEST(pe.code == -1);
  BOOST_TEST(pe.signal == 9);
  BOOST_TEST(pe.reason == "killed");

  auto sp = round_trip(start_pilot{3, "2 ranges ready"});
  BOOST_TEST(sp.attempt == 3);
  BOOST_TEST(sp.reason == "2 ranges ready");
  auto first = start_pilot{1, "x"}.to_json();  // the first pilot is started by the stub itself
  BOOST_TEST(!start_pilot::from_json(first).has_value());

  auto st = round_trip(stop{"walltime", true, 0});
  BOOST_TEST(st.reason == "walltime");
  BOOST_TEST(st.drain);
  BOOST_TEST(round_trip(stop{"the run is over", false, 20}).grace_s == 20);

  BOOST_TEST(round_trip(error{"bad proof"}).message == "bad proof");
}

BOOST_AUTO_TEST_CASE(ranges_use_pilot_keys_on_the_wire) {
  const auto o = to_json(sample_range(5));
  BOOST_TEST(json::serialize(o) ==
             R"({"PFN":"/hv/EVNT.X._000001.pool.root.1","lastEvent":5,"eventRangeID":"EVNT.X._000001.pool.root.1-5","startEvent":5,"GUID":"GA"})");
}

BOOST_AUTO_TEST_CASE(version_mismatch_names_both_versions) {
  auto o = challenge{version, "n"}.to_json();
  o["version"] = version + 5;
  auto c = challenge::from_json(o);
  BOOST_TEST_REQUIRE(!c.has_value());
  BOOST_TEST(c.error().message().find("version " + std::to_string(version + 5)) != std::string::npos, c.error());
  BOOST_TEST(c.error().message().find("version " + std::to_string(version)) != std::string::npos, c.error());

  // A future hello may lack our keys; the version is still what gets reported.
  json::object future{{"type", "hello"}, {"version", 7}, {"credentials", "x"}};
  auto h = hello::from_json(future);
  BOOST_TEST_REQUIRE(!h.has_value());
  BOOST_TEST(h.error().message().find("mismatch") != std::string::npos, h.error());
  BOOST_TEST(h.error().message().find("7") != std::string::npos);

  json::object none{{"type", "hello"}, {"node_id", "x"}};
  auto h2 = hello::from_json(none);
  BOOST_TEST_REQUIRE(!h2.has_value());
  BOOST_TEST(h2.error().message().find("version") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(wrong_or_missing_fields_are_named) {
  auto wrong_type = heartbeat::from_json(json::object{{"type", "hello"}});
  BOOST_TEST_REQUIRE(!wrong_type.has_value());
  BOOST_TEST(wrong_type.error().message().find("hello") != std::string::npos);

  auto no_n = ranges_request::from_json(json::object{{"type", "ranges_request"}, {"request_id", 1}});
  BOOST_TEST_REQUIRE(!no_n.has_value());
  BOOST_TEST(no_n.error().message().find("n_ranges") != std::string::npos, no_n.error());

  auto zero = ranges_request::from_json(json::object{{"type", "ranges_request"}, {"request_id", 1}, {"n_ranges", 0}});
  BOOST_TEST(!zero.has_value());

  auto neg_id = ranges_cancel::from_json(json::object{{"type", "ranges_cancel"}, {"request_id", -1}});
  BOOST_TEST(!neg_id.has_value());

  auto bad_range = ranges_reply::from_json(json::parse(
      R"({"type":"ranges_reply","request_id":1,"no_more":false,"ranges":[{"PFN":"p","eventRangeID":"x","GUID":"g","startEvent":"1","lastEvent":1}]})")
                                               .as_object());
  BOOST_TEST_REQUIRE(!bad_range.has_value());
  BOOST_TEST(bad_range.error().message().find("ranges[0]") != std::string::npos, bad_range.error());
  BOOST_TEST(bad_range.error().message().find("startEvent") != std::string::npos, bad_range.error());

  auto bad_status = ranges_update::from_json(json::parse(
      R"({"type":"ranges_update","updates":[{"id":"a","status":"done","path":"","chksum":"","fsize":-1,"type":"","error_code":0}]})")
                                                 .as_object());
  BOOST_TEST_REQUIRE(!bad_status.has_value());
  BOOST_TEST(bad_status.error().message().find("done") != std::string::npos);

  auto welcome_no_job = welcome::from_json(json::object{{"type", "welcome"}, {"node_index", 0}, {"settings", json::object{}}});
  BOOST_TEST_REQUIRE(!welcome_no_job.has_value());
  BOOST_TEST(welcome_no_job.error().message().find("\"job\"") != std::string::npos);

  BOOST_TEST(!message_type(json::object{{"x", 1}}).has_value());
}


BOOST_AUTO_TEST_CASE(messages_decode_into_the_receivers_variant) {
  // Each side accepts exactly the messages the other may send, as typed values.
  auto r = decode_stub_message(ranges_request{7, 3}.to_json());
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(std::get<ranges_request>(*r).request_id == 7u);
  BOOST_TEST(std::holds_alternative<heartbeat>(*decode_stub_message(heartbeat{}.to_json())));
  auto s = decode_coordinator_message(stop{"walltime", true, 0}.to_json());
  BOOST_TEST_REQUIRE(s.has_value());
  BOOST_TEST(std::get<stop>(*s).drain);
  // A message of the other direction, or of the handshake, is not one the receiver handles.
  BOOST_TEST(decode_stub_message(stop{"x", false, 0}.to_json()).error().message() == "unexpected message 'stop'");
  BOOST_TEST(decode_coordinator_message(ranges_request{1, 1}.to_json()).error().message() ==
             "unexpected message 'ranges_request'");
  BOOST_TEST(!decode_coordinator_message(welcome{}.to_json()).has_value());
  // A known type with bad fields gives that type's own error; no type at all is named too.
  auto bad = decode_stub_message(json::object{{"type", "ranges_request"}, {"request_id", "x"}});
  BOOST_TEST(bad.error().message().find("ranges_request message: key \"request_id\"") == 0u);
  BOOST_TEST(!decode_stub_message(json::object{{"x", 1}}).has_value());
}

// pilot's update_worker_node, as the stub forwards it (issue 16): what pilot left out, or sent out of
// range, is null on the wire; the coordinator refuses a number it could not show.
BOOST_AUTO_TEST_CASE(worker_node_carries_what_pilot_reported) {
  auto w = round_trip(worker_node{"vm", "AMD EPYC 512 KB", 2, 24105, 238});
  BOOST_TEST(w.host_name == "vm");
  BOOST_TEST(w.cpu_model == "AMD EPYC 512 KB");
  BOOST_TEST((w.logical_cpus == std::optional<std::int64_t>(2)));
  BOOST_TEST((w.memory_mb == std::optional<std::int64_t>(24105)));
  BOOST_TEST((w.local_disk_gb == std::optional<std::int64_t>(238)));
  BOOST_TEST(json::serialize(worker_node{"vm", "c", 2, 24105, 238}.to_json()) ==
             R"({"type":"worker_node","host_name":"vm","cpu_model":"c","logical_cpus":2,"memory_mb":24105,"local_disk_gb":238})");

  auto unknown = round_trip(worker_node{"", "", std::nullopt, std::nullopt, std::nullopt});
  BOOST_TEST(!unknown.logical_cpus.has_value());
  BOOST_TEST(!unknown.memory_mb.has_value());
  BOOST_TEST(!unknown.local_disk_gb.has_value());

  // Out of range on the sending side: sent as null, so that what the stub sends always decodes.
  auto huge = worker_node{"h", "c", worker_node::max_logical_cpus + 1, -5, worker_node::max_local_disk_gb + 1}.to_json();
  BOOST_TEST(huge.at("logical_cpus").is_null());
  BOOST_TEST(huge.at("memory_mb").is_null());
  BOOST_TEST(huge.at("local_disk_gb").is_null());
  BOOST_TEST(worker_node::from_json(huge).has_value());

  // Received out of range, or of another kind: refused, naming the key.
  auto o = worker_node{"h", "c", 1, 1, 1}.to_json();
  o["memory_mb"] = -1;
  auto neg = worker_node::from_json(o);
  BOOST_TEST_REQUIRE(!neg.has_value());
  BOOST_TEST(neg.error().message().find("\"memory_mb\"") != std::string::npos, neg.error());
  o["memory_mb"] = 1;
  o["logical_cpus"] = "2";
  auto text = worker_node::from_json(o);
  BOOST_TEST_REQUIRE(!text.has_value());
  BOOST_TEST(text.error().message().find("\"logical_cpus\"") != std::string::npos, text.error());
  o["logical_cpus"] = worker_node::max_logical_cpus + 1;
  BOOST_TEST(!worker_node::from_json(o).has_value());
  o["logical_cpus"] = 1;
  o.erase("host_name");
  auto missing = worker_node::from_json(o);
  BOOST_TEST_REQUIRE(!missing.has_value());
  BOOST_TEST(missing.error().message().find("\"host_name\" is missing") != std::string::npos, missing.error());

  // It is the stub's to send, not the coordinator's.
  auto d = decode_stub_message(worker_node{"vm", "c", 2, 3, 4}.to_json());
  BOOST_TEST_REQUIRE(d.has_value());
  BOOST_TEST(std::get<worker_node>(*d).host_name == "vm");
  BOOST_TEST(decode_coordinator_message(worker_node{}.to_json()).error().message() == "unexpected message 'worker_node'");
}

// A received message lives in its frame's arena; what a message keeps (welcome's job and settings,
// job_update's fields) is copied out of it, so a kept object never holds the whole frame's memory.
BOOST_AUTO_TEST_CASE(kept_objects_do_not_share_the_frames_arena) {
  welcome w;
  w.node_index = 3;
  w.job = json::object{{"PandaID", "1"}, {"jobPars", std::string(5000, 'x')}};
  w.settings = json::object{{"actor_dir", "/somewhere/long/enough/to/allocate"}};
  frame_decoder d;
  d.feed(encode(w));
  auto frame = d.next();
  BOOST_TEST_REQUIRE(frame.has_value(), frame.error());
  BOOST_TEST_REQUIRE(frame->has_value());
  const auto& message = **frame;
  BOOST_TEST(message.storage().get() != json::storage_ptr().get());  // the frame's own arena
  auto back = welcome::from_json(message);
  BOOST_TEST_REQUIRE(back.has_value(), back.error());
  BOOST_TEST(back->job == w.job);
  BOOST_TEST(back->job.storage().get() == json::storage_ptr().get());
  BOOST_TEST(back->settings.storage().get() == json::storage_ptr().get());

  job_update u;
  u.state = "running";
  u.fields = json::object{{"pilotID", "a long enough pilot id to be allocated"}};
  frame_decoder d2;
  d2.feed(encode(u));
  auto f2 = d2.next();
  BOOST_TEST_REQUIRE(f2.has_value(), f2.error());
  BOOST_TEST_REQUIRE(f2->has_value());
  auto ub = job_update::from_json(**f2);
  BOOST_TEST_REQUIRE(ub.has_value(), ub.error());
  BOOST_TEST(ub->fields == u.fields);
  BOOST_TEST(ub->fields.storage().get() == json::storage_ptr().get());
}

// Built in an arena or not, a message is the same bytes on the wire.
BOOST_AUTO_TEST_CASE(messages_built_in_an_arena_encode_the_same) {
  ranges_reply r;
  r.request_id = 9;
  r.ranges.push_back({"EVNT.01-5", "root://x/EVNT.01", "guid-1", 5, 5});
  r.no_more = true;
  BOOST_TEST(encode_frame(r.to_json(message_arena())) == encode_frame(r.to_json()));
  ranges_update u;
  rty::range_update x;
  x.range_id = "EVNT.01-5";
  x.status = rty::range_status::finished;
  x.path = "/task/EVNT.01-5.HITS";
  x.fsize = 12;
  u.updates.push_back(x);
  BOOST_TEST(encode_frame(u.to_json(message_arena())) == encode_frame(u.to_json()));
}

BOOST_AUTO_TEST_CASE(merge_run_and_result_round_trip_and_decode_on_their_side) {
  merge_run run{"HITS.pool.root.1", 2, {"/bin/bash", "-c", "x y"}, "/o/merge-tmp/HITS.pool.root.1.2",
                "/o/merge-tmp/HITS.pool.root.1.2/merge.log"};
  auto back = round_trip(run);
  BOOST_TEST(back.output_name == run.output_name);
  BOOST_TEST(back.attempt == 2);
  BOOST_TEST((back.argv == run.argv));
  BOOST_TEST(back.work_dir == run.work_dir);
  BOOST_TEST(back.log_path == run.log_path);
  auto empty = run.to_json();
  empty["argv"] = json::array{};
  BOOST_TEST(merge_run::from_json(empty).error().message() == "merge_run message: key \"argv\" is empty");
  auto not_strings = run.to_json();
  not_strings["argv"] = json::array{1};
  BOOST_TEST(merge_run::from_json(not_strings).error().message().find("argv[0]") != std::string::npos);

  auto res = round_trip(merge_result{"HITS.pool.root.1", 2, false, -1, 0, "refused"});
  BOOST_TEST(!res.started);
  BOOST_TEST(res.code == -1);
  BOOST_TEST(res.reason == "refused");

  BOOST_TEST(std::holds_alternative<merge_run>(*decode_coordinator_message(run.to_json())));
  BOOST_TEST(std::holds_alternative<merge_result>(*decode_stub_message(merge_result{}.to_json())));
  BOOST_TEST(!decode_stub_message(run.to_json()).has_value());
  BOOST_TEST(!decode_coordinator_message(merge_result{}.to_json()).has_value());
}
