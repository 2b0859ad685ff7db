#define BOOST_TEST_MODULE pilot_http
#include <boost/test/unit_test.hpp>

#include "common/json_util.hpp"
#include "pilot/request.hpp"

#include <boost/json.hpp>
#include <zlib.h>

#include <charconv>

using namespace rty::pilot;
namespace json = boost::json;

namespace {

std::string base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  int bits = 0, acc = 0;
  for (char c : in) {
    const int v = value(c);
    if (v < 0) continue;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

std::string gzip(std::string_view data) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

json::array exchanges(const char* file) {
  auto v = rty::json::read_file(std::string(RTY_FIXTURES_DIR) + "/" + file);
  BOOST_TEST_REQUIRE(v.has_value(), v.error());
  return v->as_object().at("exchanges").as_array();
}

std::string header(const json::object& exchange, std::string_view name) {
  for (const auto& h : exchange.at("headers").as_array()) {
    const std::string_view line = h.as_string();
    if (line.size() > name.size() + 1 && line.substr(0, name.size()) == name && line[name.size()] == ':')
      return std::string(line.substr(name.size() + 2));
  }
  return {};
}

// What the fixture's body_decoded should become as fields (independent restatement of the rules).
fields expected_fields(const json::object& decoded) {
  fields f;
  for (const auto& kv : decoded) {
    const auto& v = kv.value();
    std::string text;
    if (v.is_string()) {
      if (v.get_string().empty()) continue;
      text = std::string(v.get_string());
    } else if (v.is_int64()) {
      text = std::to_string(v.get_int64());
    } else if (v.is_double()) {
      char buf[64];
      text.assign(buf, std::to_chars(buf, buf + 64, v.get_double()).ptr);
    } else {
      text = json::serialize(v);
    }
    f[std::string(kv.key())] = text;
  }
  return f;
}

struct decoded_exchange {
  std::string path;
  endpoint ep;
  fields f;
  json::object raw;
};

std::vector<decoded_exchange> decode_all(const char* file) {
  std::vector<decoded_exchange> out;
  for (const auto& e : exchanges(file)) {
    const auto& ex = e.as_object();
    const std::string path(ex.at("path").as_string());
    const auto body = base64_decode(ex.at("body_b64").as_string());
    BOOST_TEST(body.size() == static_cast<std::size_t>(ex.at("body_bytes").as_int64()));
    auto f = decode_body(path, header(ex, "Content-Type"), body);
    BOOST_TEST_REQUIRE(f.has_value(), path << ": " << f.error());
    out.push_back({path, route(path), *f, ex});
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(routes_every_path) {
  BOOST_TEST((route("/") == endpoint::get_job));
  BOOST_TEST((route("/?x=1") == endpoint::get_job));
  BOOST_TEST((route("/server/panda/getJob") == endpoint::get_job));
  BOOST_TEST((route("/server/panda/updateJob") == endpoint::update_job));
  BOOST_TEST((route("/server/panda/updateWorkerPilotStatus") == endpoint::update_worker_pilot_status));
  BOOST_TEST((route("/server/panda/getEventRanges?pandaID=1&nRanges=2") == endpoint::get_event_ranges));
  BOOST_TEST((route("/server/panda/updateEventRanges") == endpoint::update_event_ranges));
  BOOST_TEST((route("http://127.0.0.1:8080/server/panda/updateEventRanges") == endpoint::update_event_ranges));
  for (const char* p : {"/server/panda/updateJobsInBulk", "/server/panda/getStatus", "/server/panda/getKeyPair"})
    BOOST_TEST((route(p) == endpoint::not_implemented), p);
  BOOST_TEST((route("/api/v1/pilot/update_worker_node") == endpoint::update_worker_node));
  BOOST_TEST((route("/api/v1/pilot/update_worker_node_gpu") == endpoint::update_worker_node_gpu));
  BOOST_TEST((route("/server/panda/getResourceTypes") == endpoint::get_resource_types));
  for (const char* p : {"/api/v1/pilot/update_worker_node/", "/api/v1/pilot/other", "/server/panda/setDebugMode",
                        "/server/panda/getJob/", "/server/panda/", "/getJob", "", "/SERVER/panda/getJob"})
    BOOST_TEST((route(p) == endpoint::unknown), p);
}

BOOST_AUTO_TEST_CASE(pilot_3_11_capture_decodes_byte_for_byte) {
  const auto all = decode_all("pilot3-3.11.5.1-wire.json");
  BOOST_TEST_REQUIRE(all.size() == 19u);
  int gzip_bodies = 0;
  for (const auto& d : all) {
    BOOST_TEST((d.f == expected_fields(d.raw.at("body_decoded").as_object())), d.path);
    if (d.raw.at("body_encoding").as_string().starts_with("gzip")) ++gzip_bodies;
  }
  BOOST_TEST(gzip_bodies == 8);
  // Routing of the capture, in order.
  const endpoint order[] = {endpoint::update_worker_pilot_status, endpoint::update_worker_node,
                            endpoint::get_resource_types,
                            endpoint::get_job, endpoint::update_job, endpoint::update_job};
  for (int i = 0; i < 6; ++i) BOOST_TEST((all[i].ep == order[i]), all[i].path);
  BOOST_TEST((all.back().ep == endpoint::update_worker_pilot_status));

  // Spot checks on the gzip-JSON getJob: numbers, doubles and booleans become text; "" is dropped.
  const auto& get_job = all[3].f;
  BOOST_TEST(get_job.at("diskSpace") == "81428");
  BOOST_TEST(get_job.at("cpu") == "2445.406");
  BOOST_TEST(get_job.at("allowOtherCountry") == "false");
  BOOST_TEST(get_job.at("resourceType") == "MCORE");
  BOOST_TEST(!get_job.contains("workingGroup"));
  const auto& started = all[4].f;
  BOOST_TEST(started.at("state") == "starting");
  BOOST_TEST(started.at("coreCount") == "2");
  BOOST_TEST(all[5].f.at("state") == "running");
  const auto& finished = all[all.size() - 2].f;
  BOOST_TEST(finished.at("state") == "finished");
  BOOST_TEST(finished.at("endTime") == "1795652568.8403678");
  BOOST_TEST(finished.at("metaData") == R"({"exitCode": 0, "exitMsg": "OK", "files": {"output": [], "input": []}})");
  BOOST_TEST(all.back().f.at("status") == "finished");
}

BOOST_AUTO_TEST_CASE(pilot_3_2_capture_decodes_byte_for_byte) {
  const auto all = decode_all("pilot3-3.2.2.22-wire.json");
  BOOST_TEST_REQUIRE(all.size() == 12u);
  for (const auto& d : all) BOOST_TEST((d.f == expected_fields(d.raw.at("body_decoded").as_object())), d.path);
  BOOST_TEST((all[0].ep == endpoint::get_job));
  BOOST_TEST(all[0].f.at("allowOtherCountry") == "False");  // form text, as pilot wrote it
  BOOST_TEST(!all[0].f.contains("workingGroup"));
  BOOST_TEST(all[1].f.at("pilotID") == "unknown|PR|3.2.2 (22)");         // %7C and '+' decoded
  BOOST_TEST(all[1].f.at("cpuConsumptionUnit") == "s+AMD EPYC 512 KB+AVX2");  // %2B is a literal '+'
  BOOST_TEST(all[1].f.at("timestamp") == "2026-11-26T00:23:18+00:00");
  BOOST_TEST((all.back().ep == endpoint::update_job));
  BOOST_TEST(all.back().f.at("state") == "finished");
}

BOOST_AUTO_TEST_CASE(get_event_ranges_from_both_captures) {
  for (const char* file : {"pilot3-3.11.5.1-wire.json", "pilot3-3.2.2.22-wire.json"}) {
    int n = 0;
    for (const auto& d : decode_all(file)) {
      if (d.ep != endpoint::get_event_ranges) continue;
      ++n;
      auto r = parse_get_event_ranges(d.f);
      BOOST_TEST_REQUIRE(r.has_value(), r.error());
      BOOST_TEST(r->panda_id == "6000000001");
      BOOST_TEST(r->n_ranges == 2);
      BOOST_TEST(r->jobset_id == "6000000000");
      BOOST_TEST(r->task_id == "40000001");
    }
    BOOST_TEST(n >= 6, file);
  }
}

BOOST_AUTO_TEST_CASE(update_event_ranges_from_the_3_11_capture) {
  std::vector<rty::range_update> all;
  int requests = 0;
  for (const auto& d : decode_all("pilot3-3.11.5.1-wire.json")) {
    if (d.ep != endpoint::update_event_ranges) continue;
    ++requests;
    auto r = parse_update_event_ranges(d.f);
    BOOST_TEST_REQUIRE(r.has_value(), r.error());
    if (d.f.at("version") == "0") {
      BOOST_TEST_REQUIRE(r->size() == 1u);
      BOOST_TEST((r->front().status == rty::range_status::failed));
      BOOST_TEST(r->front().error_code == 1220);
      BOOST_TEST(r->front().path.empty());
      BOOST_TEST(r->front().type.empty());
    }
    all.insert(all.end(), r->begin(), r->end());
  }
  BOOST_TEST(requests == 5);
  BOOST_TEST(all.size() == 8u);  // 2 files x 4 events, each reported once
  int failed = 0;
  for (const auto& u : all) {
    if (u.status == rty::range_status::failed) {
      ++failed;
      continue;
    }
    BOOST_TEST((u.status == rty::range_status::finished));
    BOOST_TEST(u.type == "es_output");
    BOOST_TEST(u.path.starts_with("/scratch/pilotxxxxxxxxxxxx/node_0/PanDA_Pilot-6000000001/"));
    BOOST_TEST(u.path.ends_with(u.range_id));
    BOOST_TEST(u.fsize == 2048);
    BOOST_TEST(u.chksum.size() == 8u);
  }
  BOOST_TEST(failed == 2);  // every 3rd range failed on purpose: -3 of file 1, -2 of file 2

  // The first finished update, field by field.
  const auto first = decode_all("pilot3-3.11.5.1-wire.json")[9];
  auto r = parse_update_event_ranges(first.f);
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST_REQUIRE(r->size() == 2u);
  const rty::range_update expect{"EVNT.40000000._000001.pool.root.1-2", rty::range_status::finished,
                                 "/scratch/pilotxxxxxxxxxxxx/node_0/PanDA_Pilot-6000000001/athenaMP-workers-EVNTtoHITS-sim/"
                                 "worker_0/HITS.pool.root.EVNT.40000000._000001.pool.root.1-2",
                                 "3ee40e8c", 2048, "es_output", 0};
  BOOST_TEST(((*r)[0] == expect));
}

BOOST_AUTO_TEST_CASE(zip_and_fatal_shapes) {
  fields f{{"version", "1"},
           {"eventRanges",
            R"([{"zipFile": {"numEvents": 2, "lfn": "EventService_premerge_Range-00007.tar", "adler32": "36503831", "objstoreID": 1641, "fsize": 860160, "pathConvention": 1000}, "eventRanges": [{"eventRangeID": "Range-00007", "eventStatus": "finished"}, {"eventRangeID": "Range-00009", "eventStatus": "finished"}]}])"}};
  auto r = parse_update_event_ranges(f);
  BOOST_TEST_REQUIRE(r.has_value(), r.error());
  BOOST_TEST_REQUIRE(r->size() == 2u);
  for (const auto& u : *r) {
    BOOST_TEST(u.type == "zip_output");
    BOOST_TEST(u.path == "EventService_premerge_Range-00007.tar");
    BOOST_TEST(u.chksum == "36503831");
    BOOST_TEST(u.fsize == 860160);
  }
  BOOST_TEST((*r)[1].range_id == "Range-00009");

  fields fatal{{"version", "0"}, {"eventRanges", R"([{"errorCode": 1220, "eventRangeID": "F2-2", "eventStatus": "fatal"}])"}};
  auto rf = parse_update_event_ranges(fatal);
  BOOST_TEST_REQUIRE(rf.has_value());
  BOOST_TEST((rf->front().status == rty::range_status::fatal));
  BOOST_TEST(rf->front().error_code == 1220);

  // Numbers sent as strings (other pilot versions) are accepted.
  fields text_numbers{{"eventRanges",
                       R"([{"esOutput": {"numEvents": 1}, "eventRanges": [{"eventRangeID": "a-1", "eventStatus": "finished", "pfn": "/j/a", "fsize": "10", "adler32": "0000000a"}]}])"}};
  auto rt = parse_update_event_ranges(text_numbers);
  BOOST_TEST_REQUIRE(rt.has_value(), rt.error());
  BOOST_TEST(rt->front().fsize == 10);

  fields empty{{"eventRanges", "[]"}};
  auto re = parse_update_event_ranges(empty);
  BOOST_TEST_REQUIRE(re.has_value());
  BOOST_TEST(re->empty());
}

BOOST_AUTO_TEST_CASE(bad_update_event_ranges_are_errors_naming_the_problem) {
  const auto error_of = [](fields f) {
    auto r = parse_update_event_ranges(f);
    BOOST_TEST_REQUIRE(!r.has_value());
    return r.error().message();
  };
  BOOST_TEST(error_of({{"version", "1"}}).find("no eventRanges") != std::string::npos);
  BOOST_TEST(error_of({{"eventRanges", "[{\"esOutput\""}}).find("not valid JSON") != std::string::npos);
  BOOST_TEST(error_of({{"eventRanges", "{}"}}).find("not a JSON list") != std::string::npos);
  BOOST_TEST(error_of({{"eventRanges", "[1]"}}).find("eventRanges[0] is not an object") != std::string::npos);
  const auto no_pfn = error_of(
      {{"eventRanges",
        R"([{"esOutput": {"numEvents": 2}, "eventRanges": [{"eventRangeID": "ok-1", "eventStatus": "finished", "pfn": "/x", "fsize": 1, "adler32": "00000001"}, {"eventRangeID": "F1-1", "eventStatus": "finished", "fsize": 1, "adler32": "00000001"}]}])"}});
  BOOST_TEST(no_pfn.find("without pfn") != std::string::npos, no_pfn);
  BOOST_TEST(no_pfn.find("F1-1") != std::string::npos, no_pfn);
  BOOST_TEST(no_pfn.find("eventRanges[0].eventRanges[1]") != std::string::npos, no_pfn);
  BOOST_TEST(error_of({{"eventRanges",
                        R"([{"esOutput": {}, "eventRanges": [{"eventRangeID": "a", "eventStatus": "finished", "pfn": "/x", "adler32": "00000001"}]}])"}})
                 .find("fsize") != std::string::npos);
  BOOST_TEST(error_of({{"eventRanges",
                        R"([{"esOutput": {}, "eventRanges": [{"eventRangeID": "a", "eventStatus": "finished", "pfn": "/x", "fsize": 3}]}])"}})
                 .find("adler32") != std::string::npos);
  BOOST_TEST(error_of({{"eventRanges", R"([{"eventRangeID": "a", "eventStatus": "finished"}])"}}).find("finished entry without") !=
             std::string::npos);
  BOOST_TEST(error_of({{"eventRanges", R"([{"eventRangeID": "a", "eventStatus": "done"}])"}}).find("\"done\"") !=
             std::string::npos);
  BOOST_TEST(error_of({{"eventRanges", R"([{"eventStatus": "failed"}])"}}).find("no eventRangeID") != std::string::npos);
  BOOST_TEST(error_of({{"eventRanges", R"([{"eventRangeID": "a", "eventStatus": "failed", "errorCode": "x"}])"}})
                 .find("errorCode") != std::string::npos);
  BOOST_TEST(error_of({{"eventRanges", R"([{"esOutput": {}, "eventRanges": 3}])"}}).find("eventRanges list") !=
             std::string::npos);
  BOOST_TEST(error_of({{"eventRanges", R"([{"zipFile": {"adler32": "1", "fsize": 1}, "eventRanges": []}])"}}).find("lfn") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_get_event_ranges_requests) {
  const auto error_of = [](fields f) {
    auto r = parse_get_event_ranges(f);
    BOOST_TEST_REQUIRE(!r.has_value());
    return r.error().message();
  };
  BOOST_TEST(error_of({{"nRanges", "2"}}).find("pandaID") != std::string::npos);
  BOOST_TEST(error_of({{"pandaID", "1"}}).find("nRanges") != std::string::npos);
  BOOST_TEST(error_of({{"pandaID", "1"}, {"nRanges", "two"}}).find("\"two\"") != std::string::npos);
  BOOST_TEST(error_of({{"pandaID", "1"}, {"nRanges", "2.5"}}).find("not an integer") != std::string::npos);
  BOOST_TEST(error_of({{"pandaID", "1"}, {"nRanges", "0"}}).find("at least 1") != std::string::npos);
  BOOST_TEST(error_of({{"pandaID", "1"}, {"nRanges", "-3"}}).find("at least 1") != std::string::npos);
  BOOST_TEST(error_of({{"pandaID", "1"}, {"nRanges", "99999999999"}}).find("out of range") != std::string::npos);
  auto lenient = parse_get_event_ranges({{"pandaID", "1"}, {"nRanges", " +8 "}});
  BOOST_TEST_REQUIRE(lenient.has_value());
  BOOST_TEST(lenient->n_ranges == 8);
  BOOST_TEST(lenient->jobset_id.empty());
}

BOOST_AUTO_TEST_CASE(panda_id_compared_as_text) {
  BOOST_TEST(panda_id_matches(json::object{{"PandaID", "6000000001"}}, "6000000001"));
  BOOST_TEST(panda_id_matches(json::object{{"PandaID", 6000000001}}, "6000000001"));
  BOOST_TEST(!panda_id_matches(json::object{{"PandaID", "6000000001"}}, "6000000002"));
  BOOST_TEST(!panda_id_matches(json::object{{"PandaID", "6000000001"}}, "06000000001"));
  BOOST_TEST(!panda_id_matches(json::object{}, ""));
}

BOOST_AUTO_TEST_CASE(query_string_fallback_and_precedence) {
  // pilot's GET fallback: everything in the query.
  auto q = decode_body("/server/panda/getEventRanges?pandaID=6000000001&jobsetID=6000000000&taskID=40000001&nRanges=2", "", "");
  BOOST_TEST_REQUIRE(q.has_value());
  auto r = parse_get_event_ranges(*q);
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->n_ranges == 2);
  // Body wins over the query.
  auto both = decode_body("/x?a=query&b=only", "application/x-www-form-urlencoded", "a=body");
  BOOST_TEST_REQUIRE(both.has_value());
  BOOST_TEST(both->at("a") == "body");
  BOOST_TEST(both->at("b") == "only");
}

BOOST_AUTO_TEST_CASE(form_rules_like_parse_qs) {
  auto f = decode_body("/", "application/x-www-form-urlencoded", "a=1&a=2&empty=&noeq&b=x+y%2Bz%20w&bad=%zz%4&&c=%E2%82%AC");
  BOOST_TEST_REQUIRE(f.has_value());
  BOOST_TEST(f->at("a") == "1");  // first value wins
  BOOST_TEST(!f->contains("empty"));
  BOOST_TEST(!f->contains("noeq"));
  BOOST_TEST(f->at("b") == "x y+z w");
  BOOST_TEST(f->at("bad") == "%zz%4");  // malformed escapes kept
  BOOST_TEST(f->at("c") == "\xE2\x82\xAC");
  BOOST_TEST(f->size() == 4u);
}

BOOST_AUTO_TEST_CASE(json_and_gzip_bodies) {
  const std::string text = R"({"jobId": "1", "state": "running", "coreCount": 2, "big": 18446744073709551615, "f": 0.5, "n": null, "o": {"k": [1]}, "e": ""})";
  auto plain = decode_body("/server/panda/updateJob", "application/json", text);
  BOOST_TEST_REQUIRE(plain.has_value(), plain.error());
  auto zipped = decode_body("/server/panda/updateJob", "application/json", gzip(text));
  BOOST_TEST_REQUIRE(zipped.has_value(), zipped.error());
  BOOST_TEST((*plain == *zipped));
  BOOST_TEST(plain->at("coreCount") == "2");
  BOOST_TEST(plain->at("big") == "18446744073709551615");
  BOOST_TEST(plain->at("f") == "0.5");
  BOOST_TEST(plain->at("n") == "null");
  BOOST_TEST(plain->at("o") == R"({"k":[1]})");
  BOOST_TEST(!plain->contains("e"));
  // Detected by magic bytes whatever the Content-Type says (pilot sends no Content-Encoding).
  auto sniffed = decode_body("/server/panda/getJob", "application/x-www-form-urlencoded", gzip(text));
  BOOST_TEST_REQUIRE(sniffed.has_value());
  BOOST_TEST(sniffed->at("state") == "running");
  // A '{' body with a form Content-Type is JSON too.
  auto brace = decode_body("/", "application/x-www-form-urlencoded", " {\"a\": \"b\"}");
  BOOST_TEST_REQUIRE(brace.has_value());
  BOOST_TEST(brace->at("a") == "b");
  // Empty bodies are no fields, whatever the type.
  BOOST_TEST(decode_body("/", "application/json", "").has_value());
  auto nothing = decode_body("/", "", "");
  BOOST_TEST_REQUIRE(nothing.has_value());
  BOOST_TEST(nothing->empty());
}

BOOST_AUTO_TEST_CASE(malformed_bodies_are_errors) {
  const auto error_of = [](std::string_view ct, std::string_view body, std::size_t limit = default_max_decompressed) {
    auto r = decode_body("/server/panda/updateJob", ct, body, limit);
    BOOST_TEST_REQUIRE(!r.has_value());
    return r.error().message();
  };
  const std::string text = R"({"state": "running", "pad": ")" + std::string(5000, 'x') + "\"}";
  const auto z = gzip(text);
  BOOST_TEST(error_of("", z.substr(0, z.size() / 2)).find("truncated") != std::string::npos);
  BOOST_TEST(error_of("", std::string("\x1f\x8b garbage", 10)).find("does not inflate") != std::string::npos);
  BOOST_TEST(error_of("", z, 1000).find("limit of 1000") != std::string::npos);
  BOOST_TEST(error_of("", gzip("[1,2]")).find("not an object") != std::string::npos);
  BOOST_TEST(error_of("", gzip("state=running")).find("not valid JSON") != std::string::npos);
  BOOST_TEST(error_of("application/json", "{\"a\": ").find("not valid JSON") != std::string::npos);
  BOOST_TEST(error_of("application/json", "[]").find("not an object") != std::string::npos);
  // Invalid UTF-8: raw, percent-encoded, inside JSON; overlong and surrogate forms.
  BOOST_TEST(error_of("", "state=\xff").find("UTF-8") != std::string::npos);
  BOOST_TEST(error_of("", "state=%C3%28").find("UTF-8") != std::string::npos);
  BOOST_TEST(error_of("", "state=%C0%AF").find("UTF-8") != std::string::npos);
  BOOST_TEST(error_of("", "state=%ED%A0%80").find("UTF-8") != std::string::npos);
  BOOST_TEST(error_of("", "state=%E2%82").find("UTF-8") != std::string::npos);
  BOOST_TEST(!decode_body("/", "application/json", "{\"a\": \"\xff\"}").has_value());
  BOOST_TEST(!decode_body("/?a=%ff", "", "").has_value());
}

// Issue 13, item 2: a 9 MiB updateJob once made a frame past the channel's 16 MiB limit, and the
// coordinator declared the node lost. What is forwarded is capped per field and in total.
BOOST_AUTO_TEST_CASE(forwarded_fields_are_capped_with_the_cut_noted) {
  fields f;
  f["state"] = "running";
  f["pilotErrorDiag"] = std::string(9 * 1024 * 1024, '\n');  // escapes to 18 MiB of JSON
  std::string utf8;
  for (int i = 0; i < 40000; ++i) utf8 += "\xc3\xa9";  // 80,000 bytes of 2-byte characters
  f["exeErrorDiag"] = utf8;
  f[std::string(300, 'k')] = "v";
  auto c = cap_fields(f);
  BOOST_TEST(c.kept.at("state") == "running");
  BOOST_TEST(c.cut == 2u);
  BOOST_TEST(c.dropped == 1u);  // the 300-byte name
  const auto& diag = c.kept.at("pilotErrorDiag");
  BOOST_TEST(diag.size() < default_field_cap + 64);
  BOOST_TEST(diag.find("...[cut: 9437184 bytes]") != std::string::npos);
  const auto& exe = c.kept.at("exeErrorDiag");
  const auto body = exe.substr(0, exe.find("...[cut"));
  BOOST_TEST(body.size() % 2 == 0u);  // cut between characters, never inside one
  BOOST_TEST(body.size() <= default_field_cap);
  // the total: many fields under the per-field cap still stop at `total`
  fields many;
  for (int i = 0; i < 100; ++i) many["f" + std::to_string(1000 + i)] = std::string(60 * 1024, 'x');
  auto m = cap_fields(many);
  std::size_t bytes = 0;
  for (auto& [k, v] : m.kept) bytes += k.size() + v.size();
  BOOST_TEST(bytes <= default_fields_total);
  BOOST_TEST(m.dropped > 0u);
  BOOST_TEST(m.kept.size() + m.dropped == 100u);
}

// pilot 3.11's update_worker_node as captured on the wire (gzip JSON): what the node reports is kept.
BOOST_AUTO_TEST_CASE(update_worker_node_from_the_capture) {
  const auto all = decode_all("pilot3-3.11.5.1-wire.json");
  int seen = 0;
  for (const auto& d : all) {
    if (d.ep != endpoint::update_worker_node) continue;
    ++seen;
    auto node = parse_worker_node(d.f);
    BOOST_TEST(node.host_name == "vm");
    BOOST_TEST(node.cpu_model == "AMD EPYC 512 KB");
    BOOST_TEST(*node.logical_cpus == 2);
    BOOST_TEST(*node.total_memory_mb == 24105);
    BOOST_TEST(*node.local_disk_gb == 238);
  }
  BOOST_TEST(seen == 1);
  int resource_type_requests = 0;
  for (const auto& d : all) resource_type_requests += d.ep == endpoint::get_resource_types;
  BOOST_TEST(resource_type_requests == 1);
  // Lenient: a number that is not one, or a missing field, stays unset.
  auto odd = parse_worker_node({{"n_logical_cpus", "many"}, {"total_memory", "2048.5"}, {"host_name", std::string(300, 'h')}});
  BOOST_TEST(!odd.logical_cpus);
  BOOST_TEST(*odd.total_memory_mb == 2048);
  BOOST_TEST(odd.host_name.size() == 256u);
  BOOST_TEST(!odd.local_disk_gb);
}
