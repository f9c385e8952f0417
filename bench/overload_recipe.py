#!/usr/bin/python3
"""Issue 14's overload recipe: is any prompt stale when it reaches a desktop
while the intake is flooded?

usage: overload_recipe.py ASSIST_SYNC_BINARY [RUNS] [SECONDS]

Each run starts `assist-sync gateway --ack-delay-ms 300` and `assist-sync
run` against it, then three clients post `/v1/prompts/batch` bodies of 1,000
lines, every line a session of its own never used before, for SECONDS
(default 3). It prints the gateway's `max_prompt_age_at_delivery_s` (the
oldest prompt shown, by its own timestamp; the limit is 2.0 s), what was
shown, and how the service answered. Exit 1 when any run showed a prompt
older than 2.0 s.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def spawn(argv, pattern, env=None):
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = re.search(pattern, line)
        if match:
            return proc, match
    proc.kill()
    sys.exit("%s did not start" % argv[1])


def post_batches(url, client, until, counts):
    batch = 0
    while time.monotonic() < until:
        lines = []
        for i in range(1000):
            session = "C%d-B%d-%d" % (client, batch, i)
            lines.append(json.dumps({
                "session_id": session, "agent_id": "A-" + session, "interaction_id": "I-" + session,
                "snippets": [{"snippet_id": "KB-1001", "content": "Offer retention code RET24.",
                              "tags": ["retention"], "source_system": "CRM"}],
                "priority_level": 3}))
        batch += 1
        request = urllib.request.Request(url + "/v1/prompts/batch", data="\n".join(lines).encode(), method="POST",
                                         headers={"Content-Type": "application/x-ndjson"})
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                body = reply.read().decode()
            for line in body.splitlines():
                result = json.loads(line)
                key = "accepted" if result.get("status") == 202 else "refused %s" % result.get("status")
                counts[key] = counts.get(key, 0) + 1
        except Exception as error:  # an answer the summary should show, not a crash of the recipe
            counts["http_errors"] = counts.get("http_errors", 0) + 1
            counts["last_error"] = str(error)


def one_run(binary, seconds):
    gateway, match = spawn([binary, "gateway", "--listen", "127.0.0.1:0", "--ack-delay-ms", "300"],
                           r"token_url=(\S+) realtime_url=(\S+) stats_url=(\S+)")
    token_url, realtime_url, stats_url = match.groups()
    work = tempfile.mkdtemp(prefix="assist-overload-")
    config = os.path.join(work, "assist-sync.toml")
    with open(config, "w") as f:
        f.write('[gateway]\ntoken_url = "%s"\nrealtime_url = "%s"\nclient_id = "demo-client"\n\n'
                '[audit]\npath = "%s"\n\n[http]\nlisten = "127.0.0.1:0"\n'
                % (token_url, realtime_url, os.path.join(work, "audit.jsonl")))
    env = dict(os.environ, ASSIST_CLIENT_SECRET="demo-secret")
    service, match = spawn([binary, "run", "--config", config], r"listening on (http://\S+)", env)
    url = match.group(1)
    try:
        time.sleep(0.5)  # the first connection up
        counts = [{} for _ in range(3)]
        until = time.monotonic() + seconds
        clients = [threading.Thread(target=post_batches, args=(url, c, until, counts[c])) for c in range(3)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        time.sleep(3)  # the last prompts delivered or expired
        stats = json.load(urllib.request.urlopen(stats_url, timeout=10))
    finally:
        service.terminate()
        service.wait(30)
        gateway.terminate()
        gateway.wait(10)
    total = {}
    for c in counts:
        for key, value in c.items():
            total[key] = value if key == "last_error" else total.get(key, 0) + value
    return stats, total


def main():
    binary = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
    worst = 0.0
    for run in range(1, runs + 1):
        stats, total = one_run(binary, seconds)
        age = stats["max_prompt_age_at_delivery_s"]
        worst = max(worst, age)
        print("run %d: max age at delivery %.3f s, shown %d, stale NACKs %s, service %s"
              % (run, age, stats["prompts_delivered"], stats.get("nacks", {}), total), flush=True)
    print("worst max age at delivery over %d runs: %.3f s (limit 2.0 s)" % (runs, worst))
    sys.exit(0 if worst <= 2.0 else 1)


if __name__ == "__main__":
    main()
