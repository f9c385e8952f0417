#!/usr/bin/python3
"""`assist-sync run` with its audit log on a 200 KB tmpfs (issue 15): when the
disk fills, no prompt reaches a desktop without its SYNC_BROADCAST line, the
prompts in flight get their outcome lines (the reserved headroom), and the
service ends at once with exit 4.

usage: tiny_disk_test.py ASSIST_SYNC_BINARY WORK_DIR

Needs to mount a tmpfs (root, and a kernel that lets this process mount):
otherwise it exits 77, which ctest reports as skipped.
"""
import collections
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

SKIP = 77


def main():
    binary, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    disk = os.path.join(work, "tiny")
    os.makedirs(disk, exist_ok=True)
    subprocess.run(["umount", disk], capture_output=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", disk], capture_output=True).returncode:
        print("cannot mount a tmpfs here: skipped")
        sys.exit(SKIP)
    try:
        run_test(binary, work, disk)
    finally:
        subprocess.run(["umount", "-l", disk], capture_output=True)


def run_test(binary, work, disk):
    delivered_file = os.path.join(work, "delivered.txt")
    gateway = subprocess.Popen([binary, "gateway", "--listen", "127.0.0.1:0", "--max-inflight", "100",
                                "--delivered-ids", delivered_file], stdout=subprocess.PIPE, text=True)
    try:
        line = gateway.stdout.readline()
        token_url = re.search(r"token_url=(\S+)", line).group(1)
        realtime_url = re.search(r"realtime_url=(\S+)", line).group(1)
        audit = os.path.join(disk, "audit.jsonl")
        config = os.path.join(work, "tiny-disk.toml")
        with open(config, "w") as f:
            # The headroom takes the outcome lines of 100 frames in flight (about 45 KB) and the
            # SYNC_FAILED lines of the burst refused (64 frames, about 30 KB), with room to spare
            # (its SYNC_BROADCAST lines are left out).
            f.write('[gateway]\ntoken_url = "%s"\nrealtime_url = "%s"\nclient_id = "demo-client"\n\n'
                    '[audit]\npath = "%s"\nreserve_bytes = 16384\nheadroom_bytes = 163840\n\n'
                    '[http]\nlisten = "127.0.0.1:0"\n' % (token_url, realtime_url, audit))
        service = subprocess.Popen([binary, "run", "--config", config], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True,
                                   env=dict(os.environ, ASSIST_CLIENT_SECRET="demo-secret"))
        url = re.search(r"listening on (http://\S+)", service.stdout.readline()).group(1)
        body = "\n".join(json.dumps({
            "session_id": "S%d" % (i % 50), "agent_id": "A%d" % (i % 50), "interaction_id": "I%d" % i,
            "snippets": [{"snippet_id": "KB-1", "content": "Offer retention code RET24.", "tags": ["retention"],
                          "source_system": "CRM"}],
            "priority_level": 3}) for i in range(1000)).encode()
        posted_at = time.monotonic()
        try:
            urllib.request.urlopen(urllib.request.Request(url + "/v1/prompts/batch", data=body), timeout=30).read()
        except OSError:
            pass  # the service may already be gone: the disk filled during the batch
        code = service.wait(10)
        ended_after = time.monotonic() - posted_at
        stderr = service.stderr.read()
    finally:
        gateway.terminate()
        gateway.wait(10)

    with open(delivered_file) as f:
        delivered = {line.strip() for line in f if line.strip()}
    broadcast, outcomes = set(), collections.Counter()
    with open(audit) as f:
        for line in f:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # the last line, cut off by the full disk after the outcomes were written
            kind = event["event_type"]
            if kind == "SYNC_BROADCAST":
                broadcast.add(event["frame_id"])
            elif kind.startswith("SYNC_"):
                outcomes[event["frame_id"]] += 1
    print("exit %d %.2f s after the batch; %d delivered, %d without SYNC_BROADCAST, %d without an outcome line"
          % (code, ended_after, len(delivered), len(delivered - broadcast),
             sum(1 for d in delivered if outcomes[d] != 1)))
    assert code == 4, (code, stderr[-2000:])
    assert "cannot reserve" in stderr, stderr[-2000:]
    assert ended_after < 5, ended_after
    assert len(delivered) > 50, len(delivered)  # the disk filled while prompts were flowing
    assert not delivered - broadcast, sorted(delivered - broadcast)[:5]
    assert all(outcomes[d] == 1 for d in delivered), [d for d in delivered if outcomes[d] != 1][:5]


if __name__ == "__main__":
    main()
