#!/usr/bin/python3
"""The paths users run, each as a ratio to the raw-socket floor measured in the
same round on the same machine (issue 19; docs/performance.md).

usage: scripts/perf_ratios.py [--build build/release] [--rounds 3] [--prompts 100000]

Each round runs, one after the other:
  floor     bench/floor_bench: a plain Beast client and server, pre-serialised
            frames of the pipeline's size, one write per frame, 1,000 in flight;
  pipeline  bench/pipeline_bench --connections 1 (the library, audit on with its
            default durability, the emulator in a child process);
  send      `assist-sync send` of a JSONL file (100 sessions: one connection,
            audit on) against `assist-sync gateway`; its own elapsed time;
  run       `assist-sync run` (audit on) fed /v1/prompts/batch bodies of 1,000
            lines by two client threads, from the first request until the
            gateway has shown every prompt. 1,000 sessions (10 connections),
            the service's defaults: beyond max_pending (5,000) a request
            waits for room (http.admission_wait_ms); a line refused anyway
            (429) is sent again.
Each path starts with the page cache written back (sync): a path's audit log
(about 90 MB per 100,000 prompts) is otherwise flushed while the next runs.
Prints each figure and its ratio to that round's floor, then the median
ratio of each path over the rounds. Targets (issue 19): send and pipeline
>= 0.8, run >= 0.5. Exit 1 when a path lost or refused a prompt.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

def prompt_line(i, sessions):
    session = i % sessions
    # No timestamp: produced when submitted (a file's timestamps would be stale by the time it is read).
    return json.dumps({
        "session_id": "SESS-%05d" % session, "agent_id": "AGT-%05d" % session, "interaction_id": "INT-%d" % i,
        "snippets": [{"snippet_id": "KB-1001", "content": "Verify customer account status before escalation.",
                      "tags": ["billing", "escalation"], "source_system": "CRM", "relevance_score": 0.92},
                     {"snippet_id": "KB-2040", "content": "Offer retention code RET24 if churn risk is high.",
                      "tags": ["retention"], "source_system": "CRM", "relevance_score": 0.85}],
        "priority_override": False, "priority_level": 3}, separators=(",", ":"))


def spawn(argv, pattern, env=None):
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        match = re.search(pattern, proc.stdout.readline())
        if match:
            return proc, match
    proc.kill()
    sys.exit("%s did not start" % " ".join(argv[:2]))


def number(pattern, text):
    match = re.search(pattern, text)
    if not match:
        sys.exit("unexpected output:\n" + text)
    return float(match.group(1))


def run_floor(build, prompts, work):
    out = subprocess.run([os.path.join(build, "bench/floor_bench"), "--frames", str(prompts)],
                         capture_output=True, text=True, check=True).stdout
    return number(r"throughput (\d+) answered/s", out), True


def run_pipeline(build, prompts, work):
    proc = subprocess.run([os.path.join(build, "bench/pipeline_bench"), "--connections", "1", "--prompts",
                           str(prompts)], capture_output=True, text=True)
    return number(r"throughput (\d+) acked/s", proc.stdout), proc.returncode == 0


class Gateway:
    def __init__(self, binary):
        self.proc, match = spawn([binary, "gateway", "--listen", "127.0.0.1:0", "--max-inflight", "1000"],
                                 r"token_url=(\S+) realtime_url=(\S+) stats_url=(\S+)")
        self.token_url, self.realtime_url, self.stats_url = match.groups()

    def delivered(self):
        return json.load(urllib.request.urlopen(self.stats_url, timeout=10))["prompts_delivered"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def run_send(build, prompts, work):
    binary = os.path.join(build, "apps/assist-sync")
    path = os.path.join(work, "prompts.jsonl")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write("\n".join(prompt_line(i, 100) for i in range(prompts)) + "\n")
    gateway = Gateway(binary)
    try:
        audit = os.path.join(work, "send-audit.jsonl")
        proc = subprocess.run([binary, "send", path, "--token-url", gateway.token_url, "--realtime-url",
                               gateway.realtime_url, "--client-id", "demo-client", "--audit", audit, "--json"],
                              capture_output=True, text=True, env=dict(os.environ, ASSIST_CLIENT_SECRET="demo-secret"))
        summary = json.loads(proc.stdout)
        os.remove(audit)
        return summary["acked"] / summary["elapsed_s"], proc.returncode == 0 and summary["acked"] == prompts
    finally:
        gateway.stop()


def post_batches(url, bodies, refused):
    for body in bodies:
        while body:
            request = urllib.request.Request(url + "/v1/prompts/batch", data=body.encode(), method="POST",
                                             headers={"Content-Type": "application/x-ndjson"})
            with urllib.request.urlopen(request, timeout=60) as reply:
                results = [json.loads(line) for line in reply.read().decode().splitlines()]
            lines = body.split("\n")
            again = [lines[r["line"] - 1] for r in results if r["status"] in (429, 503)]
            refused[0] += sum(1 for r in results if r["status"] not in (202, 429, 503))
            if refused[0]:
                print("run: refused: %s" % [r for r in results if r["status"] not in (202, 429, 503)][0])
            body = "\n".join(again)
            if again:
                time.sleep(0.002)  # the intake is full: let it drain


def run_service(build, prompts, work):
    binary = os.path.join(build, "apps/assist-sync")
    gateway = Gateway(binary)
    config = os.path.join(work, "run.toml")
    audit = os.path.join(work, "run-audit.jsonl")
    with open(config, "w") as f:
        f.write('[gateway]\ntoken_url = "%s"\nrealtime_url = "%s"\nclient_id = "demo-client"\n\n'
                '[audit]\npath = "%s"\n\n[http]\nlisten = "127.0.0.1:0"\n'
                % (gateway.token_url, gateway.realtime_url, audit))
    service, match = spawn([binary, "run", "--config", config], r"listening on (http://\S+)",
                           dict(os.environ, ASSIST_CLIENT_SECRET="demo-secret"))
    url = match.group(1)
    try:
        lines = [prompt_line(i, 1000) for i in range(prompts)]
        bodies = ["\n".join(lines[i:i + 1000]) for i in range(0, prompts, 1000)]
        refused = [0]
        feeders = [threading.Thread(target=post_batches, args=(url, bodies[k::2], refused)) for k in range(2)]
        t0 = time.monotonic()
        for feeder in feeders:
            feeder.start()
        for feeder in feeders:
            feeder.join()
        while gateway.delivered() < prompts and time.monotonic() - t0 < 300:
            time.sleep(0.02)
        elapsed = time.monotonic() - t0
        return gateway.delivered() / elapsed, refused[0] == 0 and gateway.delivered() == prompts
    finally:
        service.terminate()
        service.wait(30)
        gateway.stop()
        os.remove(audit)


PATHS = [("floor", run_floor), ("pipeline", run_pipeline), ("send", run_send), ("run", run_service)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default="build/release")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=100_000)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="assist-ratios-")
    ratios = {name: [] for name, _ in PATHS}
    complete = True
    try:
        for round_number in range(1, args.rounds + 1):
            figures = {}
            for name, path in PATHS:
                os.sync()
                figures[name], ok = path(args.build, args.prompts, work)
                complete = complete and ok
            floor = figures["floor"]
            print("round %d: %s" % (round_number, "  ".join(
                "%s %.0f/s (%.2f)" % (name, figures[name], figures[name] / floor) for name, _ in PATHS)), flush=True)
            for name, _ in PATHS:
                ratios[name].append(figures[name] / floor)
    finally:
        shutil.rmtree(work)
    print("median ratio to the floor over %d rounds: %s" % (args.rounds, "  ".join(
        "%s %.2f" % (name, statistics.median(ratios[name])) for name, _ in PATHS[1:])))
    if not complete:
        print("a path did not deliver every prompt (see above)")
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
