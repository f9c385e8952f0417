#!/usr/bin/python3
"""Scale-out throughput and latency (issue 20; docs/performance.md): one
emulator, a nats-server, and 1, 2 then 3 `assist-sync run` instances in
`[ingest] mode = "nats"`, beside one instance in `local` mode as the
reference measured in the same go.

- throughput: PROMPTS prompts over SESSIONS sessions fed as HTTP batches of
  500 (answered 202, as a producer feeds), two feeder threads per instance,
  each to its own instance; the figure is prompts per second from the first
  request until every accepted prompt has its outcome (the instances'
  assist_sync_syncs_total), so it counts delivery, not only acceptance; only
  prompts answered 202 count (local mode answers 429 beyond max_pending,
  once a request has waited http.admission_wait_ms for room);
- latency: one prompt at a time, `POST /v1/prompts?wait=outcome`, RATE per
  second for LATENCY_PROMPTS prompts, against one instance: accept -> ACK as
  the HTTP client sees it (request to answer), p50/p99, local against nats:
  the difference is what JetStream adds (publish, PubAck, fetch, the outcome's
  way back through the outcomes stream).

usage: scale_out_bench.py BUILD_DIR [--prompts N] [--rounds R] [--instances 0 1 2 3]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ingest"))
import scale_out_test as harness  # noqa: E402  the test's process handling, shared

SESSIONS, BATCH, FEEDERS_PER_INSTANCE = 600, 500, 2
RATE, LATENCY_PROMPTS = 200, 2000


def outcomes_recorded(instances):
    """Prompts with an outcome, summed over the instances' /metrics."""
    total = 0
    for x in instances:
        found = re.search(r"^assist_sync_syncs_total (\d+)", harness.http(x.url + "/metrics")[1], re.M)
        total += int(found.group(1)) if found else 0
    return total


def feed_all(instances, prompts):
    """Feeds `prompts` prompts as a producer would (202, no wait), two feeder
    threads per instance; returns (seconds from the first request until every
    accepted prompt has its outcome, answers by HTTP status)."""
    lock = threading.Lock()
    next_index, statuses = [0], {}

    def feeder(target):
        while True:
            with lock:
                start = next_index[0]
                if start >= prompts:
                    return
                next_index[0] = min(prompts, start + BATCH)
            body = "\n".join(harness.prompt_line(i) for i in range(start, min(prompts, start + BATCH)))
            status, text = harness.http(target.url + "/v1/prompts/batch", body.encode(), timeout=120)
            assert status == 200, (status, text[:300])
            with lock:
                for code in re.findall(r'"status":(\d+)', text):
                    statuses[code] = statuses.get(code, 0) + 1

    before = outcomes_recorded(instances)
    started = time.monotonic()
    threads = [threading.Thread(target=feeder, args=(x,)) for x in instances for _ in range(FEEDERS_PER_INSTANCE)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    accepted = statuses.get("202", 0)
    harness.wait_for(lambda: outcomes_recorded(instances) - before >= accepted, 120, "every outcome")
    return time.monotonic() - started, statuses


def latencies(instance):
    """Accept -> outcome as the HTTP client sees it, one prompt at a time at RATE/s."""
    out, interval = [], 1.0 / RATE
    next_at = time.monotonic()
    for i in range(LATENCY_PROMPTS):
        time.sleep(max(0.0, next_at - time.monotonic()))
        next_at += interval
        sent = time.monotonic()
        status, text = harness.http(instance.url + "/v1/prompts?wait=outcome", harness.prompt_line(i).encode())
        if status == 200 and '"ACKED"' in text:
            out.append((time.monotonic() - sent) * 1000.0)
    out.sort()
    return out[len(out) // 2], out[int(len(out) * 0.99) - 1], len(out)


def one_setup(binary, work, count, nats_mode, prompts):
    """Starts nats-server (nats mode), the emulator and `count` instances; measures; stops them."""
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    nats = None
    nats_url = None
    if nats_mode:
        port = harness.free_port()
        nats = subprocess.Popen(["nats-server", "-js", "-sd", os.path.join(work, "nats"), "-a", "127.0.0.1",
                                 "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        nats_url = "nats://127.0.0.1:%d" % port
    gateway = subprocess.Popen([binary, "gateway", "--listen", "127.0.0.1:0", "--max-inflight", "1000"],
                               stdout=subprocess.PIPE, text=True)
    instances = []
    try:
        line = gateway.stdout.readline()
        instances = [harness.Instance(binary, work, i + 1, nats_url, line) for i in range(count)]
        harness.wait_for(lambda: all(x.ready() for x in instances), 30, "ready")
        time.sleep(harness.LEASE_TTL if nats_mode else 0.5)  # partitions spread
        seconds, statuses = feed_all(instances, prompts)
        p50, p99, n = latencies(instances[0]) if count == 1 else (None, None, 0)
        return statuses.get("202", 0) / seconds, statuses, p50, p99, n
    finally:
        for x in instances:
            x.stop()
        gateway.terminate()
        gateway.wait(10)
        if nats:
            nats.terminate()
            nats.wait(10)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build")
    parser.add_argument("--prompts", type=int, default=30000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--instances", type=int, nargs="*",
                        help="only these setups: 0 for the local reference, 1-3 for nats with that many instances")
    args = parser.parse_args()
    binary = os.path.join(args.build, "apps", "assist-sync")
    if not shutil.which("nats-server"):
        sys.exit("nats-server is not installed (scripts/bootstrap.sh installs it)")
    work = tempfile.mkdtemp(prefix="scale-out-bench-")
    setups = [("local, 1 instance", 1, False), ("nats, 1 instance", 1, True), ("nats, 2 instances", 2, True),
              ("nats, 3 instances", 3, True)]
    if args.instances:
        setups = [(n, c, m) for n, c, m in setups if (c if m else 0) in args.instances]
    for round_number in range(1, args.rounds + 1):
        reference = None
        for name, count, nats_mode in setups:
            rate, statuses, p50, p99, n = one_setup(binary, work, count, nats_mode, args.prompts)
            reference = reference or rate
            latency = "; accept->ACK p50 %.2f ms p99 %.2f ms (%d prompts at %d/s)" % (p50, p99, n, RATE) if n else ""
            print("round %d, %-18s %8.0f prompts/s (%.2f of the round's first)%s; %s"
                  % (round_number, name + ":", rate, rate / reference, latency,
                     ", ".join("HTTP %s: %d" % kv for kv in sorted(statuses.items()))), flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
