#!/usr/bin/python3
"""Scale-out through NATS JetStream (issue 20, docs/scale-out.md), end to end:
a real nats-server, the gateway emulator and three `assist-sync run`
instances in `[ingest] mode = "nats"`. 30,000 prompts over 600 sessions are
fed through the HTTP APIs of all three; halfway, one instance is killed with
SIGKILL. Then:
- every prompt answered 202 has exactly one outcome across the three audit
  logs: the one recorded on its first delivery, or, when the instance that
  took it died before recording one, the UNCONFIRMED its next owner recorded
  (a redelivery of a prompt whose outcome was recorded but not acknowledged
  adds a line whose reason starts with "redelivered": counted, not an outcome);
- the emulator showed no prompt twice, no session out of order, none stale;
- the dead instance's partitions were taken over within the lease TTL plus
  one renew interval, plus slack for a loaded machine.

usage: scale_out_test.py ASSIST_SYNC_BINARY WORK_DIR [--quick]
Exits 77 (skipped in ctest) when nats-server is not installed.
"""
import collections
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

SKIP = 77
PROMPTS, SESSIONS, INSTANCES = 30000, 600, 3
LEASE_TTL, ACK_WAIT, PARTITIONS = 3.0, 12.0, 16
RESUME_SLACK = 3.0  # beyond TTL + renew interval: the server's expiry sweep, a loaded 2-core machine


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, data=None, timeout=30):
    request = urllib.request.Request(url, data=data)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


class Instance:
    """An `assist-sync run` process against the emulator of `gateway_line`: in
    nats mode with `nats_url`, else in local mode (the benchmark's reference)."""

    def __init__(self, binary, work, index, nats_url, gateway_line):
        self.name = "i%d" % index
        self.audit = os.path.join(work, self.name + "-audit.jsonl")
        self.log = os.path.join(work, self.name + ".log")
        token_url = re.search(r"token_url=(\S+)", gateway_line).group(1)
        realtime_url = re.search(r"realtime_url=(\S+)", gateway_line).group(1)
        config = os.path.join(work, self.name + ".toml")
        with open(config, "w") as f:
            f.write('[gateway]\ntoken_url = "%s"\nrealtime_url = "%s"\nclient_id = "demo-client"\n\n'
                    '[audit]\npath = "%s"\n\n[http]\nlisten = "127.0.0.1:0"\n\n'
                    '[log]\nformat = "json"\nfile = "%s"\nlevel = "info"\n\n'
                    % (token_url, realtime_url, self.audit, self.log))
            if nats_url:
                f.write('[ingest]\nmode = "nats"\nservers = ["%s"]\npartitions = %d\nlease_ttl_seconds = %s\n'
                        'ack_wait_seconds = %s\ninstance_id = "%s"\n'
                        % (nats_url, PARTITIONS, LEASE_TTL, ACK_WAIT, self.name))
        self.stderr = open(os.path.join(work, self.name + ".stderr"), "w")
        self.process = subprocess.Popen([binary, "run", "--config", config], stdout=subprocess.PIPE,
                                        stderr=self.stderr, text=True,
                                        env=dict(os.environ, ASSIST_CLIENT_SECRET="demo-secret"))
        self.url = re.search(r"listening on (http://\S+)", self.process.stdout.readline()).group(1)

    def ready(self):
        return http(self.url + "/readyz", timeout=5)[0] == 200

    def log_events(self, message):
        """(time, record) of each line of its JSON log with this message."""
        out = []
        if not os.path.exists(self.log):
            return out
        with open(self.log) as f:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("msg") == message:
                    ts = time.mktime(time.strptime(record["ts"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
                    out.append((ts + int(record["ts"][20:23]) / 1000.0, record))
        return out

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def prompt_line(i):
    session = i % SESSIONS
    return json.dumps({"session_id": "S%d" % session, "agent_id": "A%d" % session, "interaction_id": "I%d" % i,
                       "snippets": [{"snippet_id": "KB-%d" % (i % 7), "content": "Offer retention code RET24.",
                                     "tags": ["retention"], "source_system": "CRM"}],
                       "priority_level": 3})


def feed(instances, victim, batch_size):
    """Feeds PROMPTS prompts in batches from one thread per instance, so that
    the kill falls while requests and prompts are in flight everywhere; kills
    `victim` once half are accepted. A batch whose request fails (the
    victim's) or a line refused (429/503) is offered again to the survivors:
    only prompts answered 202 count as accepted. Returns (accepted, kill time)."""
    lock = threading.Lock()
    pending = collections.deque(range(PROMPTS))
    accepted, state = set(), {"killed_at": None, "refused": 0, "requests": 0}

    def take():
        with lock:
            return [pending.popleft() for _ in range(min(batch_size, len(pending)))]

    def give_back(chunk):
        with lock:
            pending.extend(chunk)

    def kill_when_half_accepted():
        if state["killed_at"] is None and len(accepted) >= PROMPTS // 2:
            victim.process.send_signal(signal.SIGKILL)
            state["killed_at"] = time.time()

    def feeder(target):
        while True:
            if target.process.poll() is not None or (target is victim and state["killed_at"]):
                return
            chunk = take()
            if not chunk:
                with lock:
                    if not pending and state["requests_in_flight"] == 0:
                        return
                time.sleep(0.05)
                continue
            with lock:
                state["requests_in_flight"] += 1
            try:
                status, body = http(target.url + "/v1/prompts/batch", "\n".join(prompt_line(i) for i in chunk).encode())
            except OSError:
                status, body = None, ""
            retry = list(chunk)
            if status == 200:
                retry = []
                with lock:
                    for index, line in zip(chunk, body.splitlines()):
                        answer = json.loads(line)
                        if answer["status"] == 202:
                            accepted.add(answer["frame_id"])
                        else:
                            state["refused"] += 1
                            retry.append(index)
            give_back(retry)
            with lock:
                state["requests"] += 1
                state["requests_in_flight"] -= 1
                kill_when_half_accepted()
            time.sleep(0.02)

    state["requests_in_flight"] = 0
    started = time.monotonic()
    threads = [threading.Thread(target=feeder, args=(x,)) for x in instances]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    victim.process.wait()
    print("fed %d prompts in %.1f s over %d requests; %d refusals offered again"
          % (len(accepted), time.monotonic() - started, state["requests"], state["refused"]))
    assert len(accepted) == PROMPTS, len(accepted)
    return accepted, state["killed_at"]


def terminal_lines(instances):
    """frame_id -> [(instance, event_type, reason)] of every outcome line."""
    out = collections.defaultdict(list)
    for x in instances:
        if not os.path.exists(x.audit):
            continue
        with open(x.audit) as f:
            for line in f:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # the killed instance's torn last line
                kind = event.get("event_type", "")
                if kind.startswith("SYNC_") and kind != "SYNC_BROADCAST" and event.get("frame_id"):
                    out[event["frame_id"]].append((x.name, kind, event.get("reason") or ""))
    return out


def check_outcomes(accepted, lines):
    missing = [f for f in accepted if f not in lines]
    assert not missing, "%d accepted prompts without an outcome, e.g. %s" % (len(missing), missing[:3])
    kinds, redeliveries = collections.Counter(), 0
    for frame_id in accepted:
        first = [l for l in lines[frame_id] if not l[2].startswith("redelivered")]
        assert len(first) <= 1, (frame_id, lines[frame_id])
        if first:
            kinds[first[0][1]] += 1
            redeliveries += len(lines[frame_id]) - 1
        else:
            kinds[lines[frame_id][0][1] + " (redelivered)"] += 1
    print("outcomes:", dict(kinds), "; redelivery lines beside a first outcome:", redeliveries)
    return kinds


def check_gateway(stats_url, delivered_file):
    stats = json.loads(http(stats_url)[1])
    with open(delivered_file) as f:
        delivered = collections.Counter(line.strip() for line in f if line.strip())
    twice = [f for f, n in delivered.items() if n > 1]
    print("gateway: %d shown, %d duplicates suppressed, %d order violations, %d stale arrivals, max age %.3f s"
          % (len(delivered), stats["duplicates_suppressed"], stats["order_violations"], stats["stale_arrivals"],
             stats["max_prompt_age_at_delivery_s"]))
    assert not twice, twice[:5]
    assert stats["order_violations"] == 0, stats
    assert stats["stale_arrivals"] == 0, stats
    # Checked at write against 2.0 s less a 5 ms margin; what is left is the way from the
    # socket to the emulator's reading it, on a machine this test loads fully (1.994 to
    # 2.006 s seen on a 2-vCPU VM): the emulator's own stale count above is the contract's.
    assert stats["max_prompt_age_at_delivery_s"] <= 2.0 + 0.25, stats


def check_resume(instances, victim, killed_at):
    held = {r["partition"] for _, r in victim.log_events("partition taken")}
    held -= {r["partition"] for _, r in victim.log_events("partition given up")}
    assert held, "the killed instance held no partition"
    taken = {}
    for x in instances:
        if x is victim:
            continue
        for ts, r in x.log_events("partition taken"):
            if ts >= killed_at - 0.01 and r["partition"] in held:
                taken.setdefault(r["partition"], ts)
    assert set(taken) == held, ("partitions never taken over", held - set(taken))
    worst = max(taken.values()) - killed_at
    bound = LEASE_TTL + LEASE_TTL / 3 + RESUME_SLACK
    print("the killed instance's %d partitions resumed within %.2f s of the kill (bound %.1f s)"
          % (len(held), worst, bound))
    assert worst <= bound, worst


def main():
    binary, work = sys.argv[1], sys.argv[2]
    nats_server = shutil.which("nats-server")
    if not nats_server:
        print("nats-server is not installed (scripts/bootstrap.sh installs it): skipped")
        sys.exit(SKIP)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    port = free_port()
    nats = subprocess.Popen([nats_server, "-js", "-sd", os.path.join(work, "nats"), "-a", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    delivered_file = os.path.join(work, "delivered.txt")
    gateway = subprocess.Popen([binary, "gateway", "--listen", "127.0.0.1:0", "--max-inflight", "1000",
                                "--delivered-ids", delivered_file], stdout=subprocess.PIPE, text=True)
    instances = []
    try:
        gateway_line = gateway.stdout.readline()
        stats_url = re.search(r"stats_url=(\S+)", gateway_line).group(1)
        for i in range(INSTANCES):
            instances.append(Instance(binary, work, i + 1, "nats://127.0.0.1:%d" % port, gateway_line))
        wait_for(lambda: all(x.ready() for x in instances), 30, "every instance ready")
        # Each holds its share before the load starts (ceil(16 / 3) at most).
        time.sleep(2 * LEASE_TTL / 3 + 0.5)
        victim = instances[1]
        accepted, killed_at = feed(instances, victim, 500)
        survivors = [x for x in instances if x is not victim]
        wait_for(lambda: all(f in lines for lines in [terminal_lines(instances)] for f in accepted),
                 ACK_WAIT + 30, "an outcome for every accepted prompt")
        kinds = check_outcomes(accepted, terminal_lines(instances))
        assert kinds["SYNC_ACKED"] > PROMPTS // 2, kinds
        check_gateway(stats_url, delivered_file)
        check_resume(instances, victim, killed_at)
        metrics = http(survivors[0].url + "/metrics")[1]
        assert re.search(r"^assist_sync_ingest_acknowledged_total [1-9]", metrics, re.M), metrics[-1500:]
        # NATS gone: readiness fails saying why, and a prompt is refused with 503 (not accepted, not lost).
        nats.kill()
        nats.wait(10)
        wait_for(lambda: http(survivors[0].url + "/readyz", timeout=5)[0] == 503, 15, "/readyz 503 without NATS")
        print("without NATS: /readyz", http(survivors[0].url + "/readyz", timeout=5))
        status, body = http(survivors[0].url + "/v1/prompts", prompt_line(0).encode())
        assert status == 503, (status, body)
        for x in survivors:
            x.stop()
            assert x.process.returncode == 0, (x.name, x.process.returncode)
    except BaseException:
        for x in instances:
            print("%s: exit %s" % (x.name, x.process.poll()))
        raise
    finally:
        for x in instances:
            if x.process.poll() is None:
                x.process.kill()
        gateway.terminate()
        nats.terminate()
        gateway.wait(10)
        nats.wait(10)


if __name__ == "__main__":
    main()
