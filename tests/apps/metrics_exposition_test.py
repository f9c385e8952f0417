#!/usr/bin/env python3
"""GET /metrics of `assist-sync run` read by a parser the project did not
write: the Prometheus Python client (Debian's python3-prometheus-client).

Runs the real binary against the real emulator (ACKs held back, so a prompt
stays pending), provokes one validation refusal and one max_pending refusal,
then checks that the exposition parses, follows the client's naming rules,
counts both refusals as docs/metrics.md says, and carries the process_*
metrics and assist_sync_build_info.

usage: metrics_exposition_test.py ASSIST_SYNC_BINARY WORK_DIR
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from prometheus_client.metrics_core import METRIC_LABEL_NAME_RE, METRIC_NAME_RE, RESERVED_METRIC_LABEL_NAME_RE
from prometheus_client.parser import text_string_to_metric_families

binary, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


def request(port, method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=20) as res:
            return res.status, res.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def prompt(session, priority=3):
    return json.dumps({"session_id": session, "agent_id": "A", "interaction_id": "I-" + session,
                       "snippets": [{"snippet_id": "KB-1", "content": "Verify the account.", "tags": [],
                                     "source_system": "CRM"}],
                       "priority_level": priority}).encode()


gateway = subprocess.Popen([binary, "gateway", "--listen", "127.0.0.1:0", "--ack-delay-ms", "600000"],
                           stdout=subprocess.PIPE, text=True)
line = gateway.stdout.readline()
urls = dict(re.findall(r"(token_url|realtime_url)=(\S+)", line))
with open(os.path.join(work, "run.toml"), "w") as f:
    f.write(f'[gateway]\ntoken_url = "{urls["token_url"]}"\nrealtime_url = "{urls["realtime_url"]}"\n'
            f'client_id = "demo-client"\n[sync]\nmax_pending = 1\nstop_drain_ms = 100\n'
            f'[audit]\npath = "{work}/audit.jsonl"\n[http]\nlisten = "127.0.0.1:0"\n')
env = dict(os.environ, ASSIST_CLIENT_SECRET="demo-secret")
run = subprocess.Popen([binary, "--log-format", "json", "run", "--config", os.path.join(work, "run.toml")],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
try:
    port = int(re.search(r":(\d+)$", run.stdout.readline().strip()).group(1))
    deadline = time.monotonic() + 20
    while request(port, "GET", "/readyz")[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    check(request(port, "POST", "/v1/prompts", prompt("S-1", priority=9))[0] == 400, "invalid prompt: 400")
    check(request(port, "POST", "/v1/prompts", prompt("S-2"))[0] == 202, "first prompt: 202")
    check(request(port, "POST", "/v1/prompts", prompt("S-3"))[0] == 429, "beyond max_pending: 429")
    status, text = request(port, "GET", "/metrics")
    check(status == 200, "/metrics: 200")
finally:
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=60)
    gateway.send_signal(signal.SIGTERM)
    gateway.wait(timeout=60)

# It parses (the parser raises on a malformed line), and follows the naming rules.
families = list(text_string_to_metric_families(text))
names = [f.name for f in families]
check(len(names) == len(set(names)), f"families declared twice: {sorted(n for n in names if names.count(n) > 1)}")
declared = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
helps = set(re.findall(r"^# HELP (\S+) ", text, re.M))
for name, kind in declared.items():
    check(METRIC_NAME_RE.match(name), f"{name}: not a valid metric name")
    check(name in helps, f"{name}: no HELP")
    check((kind == "counter") == name.endswith("_total"), f"{name}: only counters end in _total ({kind})")
    check(not re.search(r"_(ms|milliseconds|us|microseconds|kb|mb|percent)(_|$)", name),
          f"{name}: not in base units (seconds, bytes, ratio)")
for family in families:
    for sample in family.samples:
        for label in sample.labels:
            check(METRIC_LABEL_NAME_RE.match(label) and not RESERVED_METRIC_LABEL_NAME_RE.match(label),
                  f"{sample.name}: bad label name {label}")
    if family.type == "histogram":
        buckets = [s for s in family.samples if s.name.endswith("_bucket")]
        count = [s.value for s in family.samples if s.name.endswith("_count")]
        check(buckets and buckets[-1].labels.get("le") == "+Inf", f"{family.name}: no +Inf bucket")
        check(count and count[0] == buckets[-1].value, f"{family.name}: _count differs from the +Inf bucket")


def value(name, **labels):
    for family in families:
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    failures.append(f"no sample {name}{labels}")
    return float("nan")  # fails every comparison below


# The refusals are counted as docs/metrics.md says.
check(value("assist_sync_outcomes_total", outcome="rejected_validation") == 1, "validation refusal counted")
check(value("assist_sync_outcomes_total", outcome="rejected_concurrency") == 1, "max_pending refusal counted")
outcomes = sum(s.value for f in families if f.name == "assist_sync_outcomes" for s in f.samples)
check(value("assist_sync_syncs_total") == outcomes, "outcomes_total sums to syncs_total")

# The process and the build.
version = (subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.split() or ["?"])[-1]
check(value("assist_sync_build_info", version=version) == 1, f"build_info with version {version}")
check(value("process_cpu_seconds_total") > 0, "process_cpu_seconds_total")
check(value("process_resident_memory_bytes") > 1 << 20, "process_resident_memory_bytes")
check(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"), "virtual >= resident")
check(value("process_open_fds") >= 3, "process_open_fds")
check(value("process_max_fds") >= value("process_open_fds"), "process_max_fds")
start = value("process_start_time_seconds")
check(time.time() - 3600 < start <= time.time(), f"process_start_time_seconds {start}")
check(value("assist_sync_log_lines_dropped_total") == 0, "no log line dropped")

print("\n".join(failures) or f"{len(families)} families parsed, every check passed")
sys.exit(1 if failures else 0)
