#!/usr/bin/env python3
"""Security probes of the control channel (tracker issue 13, items 3 and 6).

  run_handshake.py SCENARIO     (RTY_BUILD_DIR, RTY_SOURCE_DIR from ctest; E2E_KEEP=1 keeps the tree)

The peer side is written here in Python from the formulas in src/protocol/handshake.hpp (hmac and
hashlib, not the project's code), so these probes also check the C++ against an independent
implementation of the wire format.

fake_coordinator
    A real raythena-stub connects to a process that plays the coordinator. Control: with the secret
    (right proof, sealed welcome) the welcome's payload script runs. Attacks, each without the secret:
    a wrong proof, no proof at all (the welcome straight after the hello, as protocol 1 did), and the
    right proof relayed from elsewhere followed by an injected, unsealed welcome. The stub must exit
    with a line that says why, and the payload must never run.
injected_frames
    A real run. A peer that completed the handshake (as a relay of a real stub's handshake would)
    sends a frame without a valid MAC: an unsealed one, a replayed one. The coordinator drops that
    connection with a line naming the MAC failure, and the run completes exactly once.
unauthenticated_flood_memory
    Twenty connections that never authenticate each announce a 16 MiB frame and start sending it.
    The coordinator refuses each at the length prefix (4 KiB limit before the hello is verified):
    its RSS grows by less than 64 MB, and the run completes.
"""
import hashlib
import hmac
import json
import os
import re
import secrets
import socket
import struct
import subprocess
import sys
import threading
import time

import seclib  # noqa: F401  (sets sys.path)
import run_e2e
from run_e2e import Failure, Site, check, wait_until

STUB = os.path.join(run_e2e.BUILD, "src", "stub", "raythena-stub")


def protocol_version():
    """The channel protocol version this build speaks, from src/protocol/frame.hpp: a probe of another
    version would be refused for that alone and prove nothing about authentication."""
    with open(os.path.join(seclib.SRC, "src", "protocol", "frame.hpp")) as f:
        m = re.search(r"inline constexpr std::uint32_t version = (\d+);", f.read())
    if not m:
        raise Failure("no protocol version in src/protocol/frame.hpp")
    return int(m.group(1))


VERSION = protocol_version()


# ---- the wire format, independently ----------------------------------------------------------------

def hm(key, msg):
    return hmac.new(key, msg, hashlib.sha256)


def transcript(label, nc, ns, node):
    return ("%s%s\n%s\n%s" % (label, nc, ns, node)).encode()


def stub_proof(secret, nc, ns, node):
    return hm(secret, transcript("raythenad-auth-v2\nstub\n", nc, ns, node)).hexdigest()


def coordinator_proof(secret, nc, ns, node):
    return hm(secret, transcript("raythenad-auth-v2\ncoordinator\n", nc, ns, node)).hexdigest()


def session_keys(secret, nc, ns, node):
    base = hm(secret, transcript("raythenad-session-v2\n", nc, ns, node)).digest()
    return hm(base, b"coordinator-to-stub").digest(), hm(base, b"stub-to-coordinator").digest()


def plain(obj):
    body = json.dumps(obj, separators=(",", ":")).encode()
    return struct.pack(">I", len(body)) + body


class Sealer:
    def __init__(self, key):
        self.key, self.seq = key, 0

    def seal(self, obj):
        body = json.dumps(obj, separators=(",", ":")).encode()
        tag = hm(self.key, struct.pack(">Q", self.seq) + body).digest()
        self.seq += 1
        return struct.pack(">I", len(body) + 32) + body + tag


# The frame readers of the end-to-end tests (run_e2e.read_frame takes sealed=True for a MAC'd frame).
read_frame, closed_by_peer = run_e2e.read_frame, run_e2e.closed_by_peer


# ---- fake_coordinator ------------------------------------------------------------------------------

def s_fake_coordinator(root):
    secret = secrets.token_hex(32).encode()
    secret_file = os.path.join(root, "secret")
    fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, secret + b"\n")
    os.close(fd)
    pids = []

    def attempt(kind):
        """One stub against a listener playing `kind`; returns (stub rc, stub log, payload ran)."""
        home = os.path.join(root, kind)
        os.makedirs(home)
        marker = os.path.join(home, "PWNED")
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        log = os.path.join(home, "stub.log")
        env = {k: v for k, v in os.environ.items() if k != "RAYTHENA_STUB_SECRET"}
        stub = subprocess.Popen([STUB, "--coordinator", "127.0.0.1:%d" % port, "--node-id", "n0",
                                 "--secret-file", secret_file, "--log-file", log], cwd=home, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pids.append(stub.pid)
        listener.settimeout(20)
        conn, _ = listener.accept()
        listener.close()
        nc = secrets.token_hex(16)
        conn.sendall(plain({"type": "challenge", "version": VERSION, "nonce": nc}))
        hello = read_frame(conn, 10)
        check(hello and hello.get("type") == "hello", "%s: no hello from the stub (%s)" % (kind, hello))
        check(secret.decode() not in json.dumps(hello), "%s: the secret is in the hello" % kind)
        ns, node = hello["nonce"], hello["node_id"]
        welcome = {"type": "welcome", "node_index": 0, "job": {"PandaID": "1", "jobsetID": "1"},
                   "settings": {"payload_script": "#!/bin/sh\nid > %s\n" % marker, "actor_dir": home,
                                "task_dir": home, "server_port": 0, "heartbeat_interval": 30,
                                "heartbeat_timeout": 60, "grace": 2}}
        c2s, _ = session_keys(secret, nc, ns, node)
        try:
            if kind == "control":
                conn.sendall(plain({"type": "accepted", "proof": coordinator_proof(secret, nc, ns, node)}))
                conn.sendall(Sealer(c2s).seal(welcome))
            elif kind == "wrong_proof":
                conn.sendall(plain({"type": "accepted", "proof": coordinator_proof(b"guess", nc, ns, node)}))
                conn.sendall(plain(welcome))
            elif kind == "no_proof":
                conn.sendall(plain(welcome))
            elif kind == "injected_welcome":
                # The right proof (as if relayed from the real coordinator), then the attacker's welcome,
                # which it cannot seal without the secret.
                conn.sendall(plain({"type": "accepted", "proof": coordinator_proof(secret, nc, ns, node)}))
                conn.sendall(plain(welcome))
        except (BrokenPipeError, ConnectionResetError):
            pass
        if kind == "control":
            wait_until(lambda: os.path.exists(marker), 20, "the control's payload to run")
            stub.kill()
            stub.wait(10)
            conn.close()
            return None, "", True
        try:
            rc = stub.wait(20)
        except subprocess.TimeoutExpired:
            raise Failure("%s: the stub is still running 20 s after a coordinator that did not prove itself" % kind)
        conn.close()
        with open(log, errors="replace") as f:
            text = f.read()
        return rc, text, os.path.exists(marker)

    try:
        _, _, ran = attempt("control")
        check(ran, "control: the payload did not run, so the probes below prove nothing")
        expect = {"wrong_proof": "not this run's coordinator",
                  "no_proof": 'accepted message: message has type "welcome"',
                  "injected_welcome": "fails its MAC check"}
        for kind, line in expect.items():
            rc, text, ran = attempt(kind)
            check(not ran, "%s: the stub ran a payload sent by a peer without the secret" % kind)
            check(rc not in (0, None), "%s: the stub exited %s" % (kind, rc))
            check(line in text, "%s: the stub's log lacks %r:\n%s" % (kind, line, text))
    finally:
        for pid in pids:
            run_e2e.kill_pid(pid)


# ---- injected_frames -------------------------------------------------------------------------------

def join_with_secret(host, port, secret, node):
    """Completes the handshake as a stub that knows the secret; returns (socket, sealer to coordinator)."""
    s = socket.create_connection((host, port), timeout=5)
    ch = read_frame(s, 5)
    check(ch and ch.get("type") == "challenge", "no challenge: %s" % ch)
    ns = secrets.token_hex(16)
    s.sendall(plain({"type": "hello", "version": VERSION, "node_id": node, "host": "probe", "pid": 1, "nonce": ns,
                     "proof": stub_proof(secret, ch["nonce"], ns, node)}))
    acc = read_frame(s, 5)
    check(acc and acc.get("type") == "accepted", "%s: not accepted: %s" % (node, acc))
    check(acc["proof"] == coordinator_proof(secret, ch["nonce"], ns, node),
          "the coordinator's proof does not match the independent formula")
    _, s2c = session_keys(secret, ch["nonce"], ns, node)
    welcome = read_frame(s, 5, sealed=True)
    check(welcome and welcome.get("type") == "welcome", "%s: no sealed welcome: %s" % (node, welcome))
    return s, Sealer(s2c)


def s_injected_frames(root):
    site = Site(root, inputs=2, events=8, per_output=8)
    run = site.start({"FAKE_PILOT_DELAY": "2", "ATHENA_PROC_NUMBER": "2"})  # 16 events on 4 workers: 8 s
    host, port = run.listen_address()
    with open(os.path.join(site.p["access"], ".raythenad-secret")) as f:
        secret = f.read().strip().encode()
    cases = {
        # an attacker's frame spliced into an authenticated stream: no tag at all
        "probe-unsealed": lambda sealer: plain({"type": "heartbeat", "pad": "x" * 40}),
        # a frame recorded earlier in the same stream, sent again
        "probe-replayed": None,
        # a sealed frame with a wrong tag (one bit of the tag flipped)
        "probe-flipped": lambda sealer: (lambda f: f[:-1] + bytes([f[-1] ^ 1]))(sealer.seal({"type": "heartbeat"})),
    }
    for node, forge in cases.items():
        s, sealer = join_with_secret(host, port, secret, node)
        run.wait_log(r"node %s joined from" % node)
        first = sealer.seal({"type": "heartbeat"})
        s.sendall(first)
        s.sendall(first if forge is None else forge(sealer))
        check(closed_by_peer(s, 10), "%s: the coordinator kept a connection that sent a bad frame" % node)
        s.close()
        run.wait_log(r"node %s lost \(frame 1 fails its MAC check" % node, timeout=10)
    check(run.proc.poll() is None, "the run ended before the probes were done; make it longer")
    run.expect_rc(run_e2e.EXIT_SUCCESS, timeout=60)
    site.verify()
    return site


# ---- unauthenticated_flood_memory ------------------------------------------------------------------

def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def s_unauthenticated_flood_memory(root):
    site = Site(root, inputs=2, events=8, per_output=8)
    run = site.start({"FAKE_PILOT_DELAY": "0.5", "ATHENA_PROC_NUMBER": "2"})
    host, port = run.listen_address()
    before = rss_kb(run.pid)
    peak = [before]
    results = []

    def flood():
        s = socket.create_connection((host, port), timeout=5)
        try:
            read_frame(s, 5)  # the challenge
            s.sendall(struct.pack(">I", 16 * 1024 * 1024 - 1) + b"{")
            chunk = b"x" * (1 << 20)
            sent = 0
            try:
                while sent < 16 * (1 << 20):
                    s.sendall(chunk)
                    sent += len(chunk)
                    peak[0] = max(peak[0], rss_kb(run.pid))
            except (BrokenPipeError, ConnectionResetError, socket.timeout):
                pass
            results.append((closed_by_peer(s, 10), sent))
        finally:
            s.close()

    threads = [threading.Thread(target=flood) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    peak[0] = max(peak[0], rss_kb(run.pid))
    check(len(results) == 20, "only %d of 20 flood connections finished" % len(results))
    check(all(closed for closed, _ in results), "the coordinator kept an unauthenticated 16 MiB frame open")
    growth_mb = (peak[0] - before) / 1024
    print("coordinator RSS %d kB before, %d kB at the peak of the flood: +%.1f MB" % (before, peak[0], growth_mb))
    check(growth_mb < 64, "the coordinator grew by %.1f MB during the flood (limit 64)" % growth_mb)
    run.wait_log(r"exceeds the limit of 4096 bytes")
    run.expect_rc(run_e2e.EXIT_SUCCESS, timeout=60)
    site.verify()
    return site


SCENARIOS = {name[2:]: fn for name, fn in globals().items() if name.startswith("s_")}

if __name__ == "__main__":
    sys.exit(run_e2e.run_scenario(SCENARIOS, "run_handshake.py", os.path.join(run_e2e.BUILD, "security")))
