#!/usr/bin/python3
"""Interop: Python's websockets (a client the project did not write) against
`assist-sync gateway` run as a process.

usage: interop_client.py ASSIST_SYNC_BINARY WORK_DIR

Starts the gateway on an ephemeral port, reads the URLs from its start-up
line, fetches a token (client_secret_basic), opens the WebSocket with the
token in the Authorization header, sends one PROMPT_SYNC and expects its ACK,
then stops the gateway with SIGTERM and checks the stats file it writes.
"""
import asyncio
import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid

import websockets


def fetch_token(token_url):
    credentials = base64.b64encode(b"demo-client:demo-secret").decode()
    request = urllib.request.Request(
        token_url,
        data=b"grant_type=client_credentials&scope=realtime:read+agentassist:write",
        headers={"Authorization": "Basic " + credentials,
                 "Content-Type": "application/x-www-form-urlencoded"},
        method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        body = json.load(response)
    assert body["token_type"] == "Bearer", body
    assert body["scope"] == "realtime:read agentassist:write", body
    return body["access_token"]


async def exchange(realtime_url, token):
    frame_id = str(uuid.uuid4())
    prompt = {
        "type": "PROMPT_SYNC", "frame_id": frame_id, "sequence": 1,
        "payload": {
            "session_id": "SESS-998877", "agent_id": "AGT-4455", "interaction_id": "INT-112233",
            "snippets": [{"snippet_id": "KB-1001", "content": "Verify account status.",
                          "tags": ["billing"], "source_system": "CRM"}],
            "priority_override": True, "priority_level": 5, "relevance_score": 0.75,
            "timestamp": time.time(), "ttl_seconds": 45,
        },
    }
    async with websockets.connect(realtime_url,
                                  extra_headers={"Authorization": "Bearer " + token}) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert hello["type"] == "HELLO", hello
        await ws.send(json.dumps(prompt))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert ack == {"type": "ACK", "frame_id": frame_id, "sequence": 1, "duplicate": False}, ack
        pong = await ws.ping()
        await asyncio.wait_for(pong, 10)


def main():
    binary, work_dir = sys.argv[1], sys.argv[2]
    os.makedirs(work_dir, exist_ok=True)
    stats_file = os.path.join(work_dir, "stats.json")
    if os.path.exists(stats_file):
        os.remove(stats_file)
    gateway = subprocess.Popen([binary, "gateway", "--listen", "127.0.0.1:0", "--stats-file", stats_file],
                               stdout=subprocess.PIPE, text=True)
    try:
        line = gateway.stdout.readline()
        match = re.search(r"token_url=(\S+) realtime_url=(\S+)", line)
        assert match, "no start-up line: %r" % line
        token = fetch_token(match.group(1))
        asyncio.run(exchange(match.group(2), token))
    finally:
        gateway.send_signal(signal.SIGTERM)
        code = gateway.wait(timeout=20)
    assert code == 0, "gateway exited with %d" % code
    with open(stats_file) as f:
        stats = json.load(f)
    assert stats["prompts_delivered"] == 1, stats
    assert stats["tokens_issued"] == 1, stats
    assert stats["connections_opened"] == 1, stats
    print("interop ok:", json.dumps(stats))


if __name__ == "__main__":
    main()
