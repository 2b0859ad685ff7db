// Control-channel frame cost: what the MAC on every frame (protocol/frame.hpp, issue 13) adds to the
// coordinator's work per event range, against plain framing measured in the same run.
//
//   bench_frames [--frames N] [--batch R]     (default 200,000 frames of R = 8 ranges)
//
// Method: one ranges_reply with R ranges and one ranges_update with R finished ranges, shaped as the
// coordinator sends and receives them (real-looking LFNs, GUIDs and output paths). Per mode, N times:
// the coordinator's side of one request (encode the reply, decode the update), steady_clock wall time,
// one thread. Modes: plain (protocol 1 framing), sealed (seal + verify). Prints per-frame-pair µs, the
// MAC's share, and µs per range; the dispatch benchmark's coordinator CPU per range includes it.
#include "protocol/auth.hpp"
#include "protocol/frame.hpp"
#include "protocol/handshake.hpp"
#include "protocol/messages.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace p = rty::protocol;

namespace {

void bench(const char* name, double value, const char* unit) { std::printf("BENCH %s %.6g %s\n", name, value, unit); }

struct sample_frames {
  boost::json::object reply, update;
};

sample_frames make(int batch) {
  p::ranges_reply reply;
  reply.request_id = 12345;
  p::ranges_update update;
  for (int i = 0; i < batch; ++i) {
    rty::event_range r;
    r.id = "EVNT.40000001._000123.pool.root.1-" + std::to_string(1000 + i);
    r.pfn = "/lustre/atlas/harvester/EVNT.40000001._000123.pool.root.1";
    r.guid = "8F7A2C1E-4B3D-11EE-9C2A-0242AC120002";
    r.start_event = r.last_event = 1000 + i;
    reply.ranges.push_back(r);
    rty::range_update u;
    u.range_id = r.id;
    u.status = rty::range_status::finished;
    u.path = "/lustre/atlas/task/40000001/HITS.pool.root.1.Range-" + std::to_string(1000 + i);
    u.chksum = "ad:8a788590";
    u.fsize = 2112345;
    u.type = "es_output";
    update.updates.push_back(u);
  }
  return {reply.to_json(), update.to_json()};
}

}  // namespace

int main(int argc, char** argv) {
  long frames = 200000;
  int batch = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--frames")) frames = std::atol(argv[i + 1]);
    if (!std::strcmp(argv[i], "--batch")) batch = std::atoi(argv[i + 1]);
  }
  const auto f = make(batch);
  const auto keys = p::derive_session_keys(p::make_secret().value(), p::make_nonce().value(), p::make_nonce().value(), "nid00001");
  const std::string plain_update = p::encode_frame(f.update);

  // The stub's side, once: a stream of sealed updates the coordinator will verify.
  p::frame_sealer stub_out(keys.stub_to_coordinator);
  std::vector<std::string> sealed_updates;
  sealed_updates.reserve(static_cast<std::size_t>(frames));
  for (long i = 0; i < frames; ++i) sealed_updates.push_back(stub_out.seal(f.update));

  std::size_t sink = 0;
  const auto run = [&](bool sealed) {
    p::frame_sealer out(keys.coordinator_to_stub);
    p::frame_decoder in;
    if (sealed) in.require_mac(keys.stub_to_coordinator);
    const auto t = std::chrono::steady_clock::now();
    for (long i = 0; i < frames; ++i) {
      sink += (sealed ? out.seal(f.reply) : p::encode_frame(f.reply)).size();
      in.feed(sealed ? sealed_updates[static_cast<std::size_t>(i)] : plain_update);
      auto m = in.next();
      if (!m || !*m) {
        std::fprintf(stderr, "bench_frames: decode failed: %s\n", m ? "incomplete" : m.error().message().c_str());
        std::exit(1);
      }
      sink += (**m).size();
    }
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t).count() / frames;
  };
  run(false);  // warm-up
  const double plain = run(false), sealed = run(true);
  bench("frames_plain_us_per_request", plain, "us");
  bench("frames_sealed_us_per_request", sealed, "us");
  bench("frames_mac_us_per_request", sealed - plain, "us");
  bench("frames_mac_us_per_range", (sealed - plain) / batch, "us");
  bench("frames_sealed_vs_plain", sealed / plain, "x");
  bench("frames_bytes_per_request", static_cast<double>(p::encode_frame(f.reply).size() + plain_update.size()), "B");
  return sink == 0;
}
