#!/usr/bin/python3
"""assist-sync against a gateway written apart from it (foreign_gateway.py):
the contract, not our emulator, is what both sides agree on.

usage: foreign_gateway_test.py ASSIST_SYNC_BINARY WORK_DIR

1. Chaos (issue 14's acceptance run): fractional seconds and unknown members
   in HELLO and the token answer, a connection dropped every 700 frames,
   4 s tokens (rotation, close 4001), a 429 on the first token request.
   `send` of 6,000 prompts over 150 sessions must end with every prompt
   acked and exit 0; the gateway must count 0 stale, 0 shown twice and 0
   order violations.
2. A peer whose first frame is not a HELLO: `send` must give up, exit 3
   (a permanent gateway failure) within 10 s and name the problem, not
   reconnect forever.
"""
import json
import os
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def start_gateway(work, *flags):
    ready = os.path.join(work, "ready-%d" % time.monotonic_ns())
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "foreign_gateway.py"), "--ready-file", ready,
                             *flags])
    deadline = time.monotonic() + 20
    while not os.path.exists(ready):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            sys.exit("foreign gateway did not start")
        time.sleep(0.05)
    with open(ready) as f:
        token_url, realtime_url, stats_url = f.read().split()
    return proc, token_url, realtime_url, stats_url


def prompts_file(work, count, sessions):
    path = os.path.join(work, "prompts.jsonl")
    with open(path, "w") as f:
        for i in range(count):
            f.write(json.dumps({
                "session_id": "S%d" % (i % sessions), "agent_id": "A%d" % (i % sessions),
                "interaction_id": "I%d" % i,  # no two share one: nothing is superseded
                "snippets": [{"snippet_id": "KB-%d" % i, "content": "Offer retention code RET24.",
                              "tags": ["retention"], "source_system": "CRM"}],
                "priority_level": 3}) + "\n")
    return path


def send(binary, path, token_url, realtime_url, timeout_s, *flags):
    env = dict(os.environ, ASSIST_CLIENT_SECRET="foreign-secret")
    started = time.monotonic()
    done = subprocess.run([binary, "send", path, "--token-url", token_url, "--realtime-url", realtime_url,
                           "--client-id", "foreign-client", "--json", "--timeout", str(timeout_s), *flags],
                          env=env, capture_output=True, text=True, timeout=timeout_s + 60)
    return done, time.monotonic() - started


def send_6000(binary, work, gateway_flags, send_flags=()):
    """`send` of 6,000 prompts over 150 sessions against a foreign gateway
    started with `gateway_flags`: the finished process, its time, the gateway's stats."""
    proc, token_url, realtime_url, stats_url = start_gateway(work, *gateway_flags)
    try:
        done, elapsed = send(binary, prompts_file(work, 6000, 150), token_url, realtime_url, 120, *send_flags)
        stats = json.load(urllib.request.urlopen(stats_url, timeout=10))
    finally:
        proc.terminate()
        proc.wait(10)
    return done, elapsed, stats


def expect_all_acked(done, stats):
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["acked"] == 6000, summary
    assert stats["shown"] == 6000, stats
    assert stats["stale_shown"] == 0, stats
    assert stats["order_violations"] == 0, stats


def chaos(binary, work):
    done, elapsed, stats = send_6000(binary, work, ("--drop-every", "700", "--token-ttl", "4", "--first-token-429"))
    print("send exit %d in %.1f s; gateway %s" % (done.returncode, elapsed, stats))
    expect_all_acked(done, stats)
    assert stats["drops"] >= 8, stats          # the faults did happen
    assert stats["token_429s"] == 1, stats


def rotation(binary, work):
    """The same faults with 1 s tokens, and ACKs 100 ms late with at most 200
    prompts in flight: `send` takes about 3 s, so its connections are rotated
    onto fresh tokens (close 4001) several times under load."""
    done, elapsed, stats = send_6000(
        binary, work, ("--drop-every", "700", "--token-ttl", "1", "--first-token-429", "--ack-delay-ms", "100"),
        ("--max-inflight", "200"))
    print("rotation: send exit %d in %.1f s; gateway %s" % (done.returncode, elapsed, stats))
    expect_all_acked(done, stats)
    assert stats["tokens"] >= 3, stats  # rotated onto fresh tokens


def not_a_gateway(binary, work):
    proc, token_url, realtime_url, _ = start_gateway(work, "--first-frame", "WELCOME")
    try:
        done, elapsed = send(binary, prompts_file(work, 10, 2), token_url, realtime_url, 60)
    finally:
        proc.terminate()
        proc.wait(10)
    print("not a gateway: send exit %d in %.1f s: %s" % (done.returncode, elapsed, done.stderr.strip()[-400:]))
    assert done.returncode == 3, (done.returncode, done.stdout)  # gateway_fatal (docs/operations.md)
    assert elapsed < 10, elapsed
    assert "HELLO" in done.stderr or "gateway" in done.stderr, done.stderr


def main():
    binary, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    chaos(binary, work)
    rotation(binary, work)
    not_a_gateway(binary, work)


if __name__ == "__main__":
    main()
