#!/usr/bin/python3
"""A gateway written apart from assist-sync, from the contract alone
(docs/protocol.md), on Python's asyncio and websockets (Debian's
python3-websockets): what a platform team might build. It says what the
contract allows and the project's emulator does not: fractional numbers of
seconds, members the client does not know, and its own faults.

usage: foreign_gateway.py [--drop-every N] [--token-ttl S] [--first-token-429]
                          [--ack-delay-ms MS] [--first-frame TYPE] --ready-file FILE

Writes "token_url realtime_url stats_url" to --ready-file once listening on
127.0.0.1 (ephemeral ports). GET stats_url answers its counters as JSON:
frames, shown, duplicates (replays suppressed), stale_shown (older than
2.0 s when shown), order_violations, max_age_s, closes_4001, drops, tokens,
token_429s. SIGTERM ends it.
"""
import argparse
import asyncio
import base64
import json
import os
import signal
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import websockets

FRESHNESS_S = 2.0
SCOPE = "realtime:read agentassist:write interactions:read"


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.tokens = {}  # access token -> expiry (unix s)
        self.token_requests = 0
        self.shown = set()
        self.last_sequence = {}
        self.frames = 0
        self.stats = {"frames": 0, "shown": 0, "duplicates": 0, "stale_shown": 0, "order_violations": 0,
                      "max_age_s": 0.0, "closes_4001": 0, "drops": 0, "tokens": 0, "token_429s": 0,
                      "nacks": 0, "connections": 0}

    def issue_token(self):
        with self.lock:
            self.token_requests += 1
            if self.args.first_token_429 and self.token_requests == 1:
                self.stats["token_429s"] += 1
                return None
            token = uuid.uuid4().hex
            self.tokens[token] = time.time() + self.args.token_ttl
            self.stats["tokens"] += 1
            return token

    def token_expiry(self, token):
        with self.lock:
            expiry = self.tokens.get(token)
        return expiry if expiry and expiry > time.time() else None


def token_handler(state):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, status, body, headers=()):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path != "/stats":
                return self.reply(HTTPStatus.NOT_FOUND, {"error": "not_found"})
            with state.lock:
                self.reply(HTTPStatus.OK, dict(state.stats))

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            form = parse_qs(self.rfile.read(length).decode())
            if self.path != "/oauth/token" or form.get("grant_type") != ["client_credentials"]:
                return self.reply(HTTPStatus.BAD_REQUEST, {"error": "invalid_request"})
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                client = base64.b64decode(auth[6:]).decode().split(":", 1)
            else:
                client = [form.get("client_id", [""])[0], form.get("client_secret", [""])[0]]
            if client != ["foreign-client", "foreign-secret"]:
                return self.reply(HTTPStatus.UNAUTHORIZED, {"error": "invalid_client"})
            token = state.issue_token()
            if token is None:
                return self.reply(HTTPStatus.TOO_MANY_REQUESTS, {"error": "slow_down"}, [("Retry-After", "1")])
            self.reply(HTTPStatus.OK, {"access_token": token, "token_type": "bearer",
                                       "expires_in": float(state.args.token_ttl), "scope": SCOPE,
                                       "issued_by": "foreign-gateway"})
    return Handler


def bearer_token(path, headers):
    auth = headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[7:]
    return parse_qs(urlparse(path).query).get("access_token", [None])[0]


def upgrade_check(state):
    async def check(path, headers):
        token = bearer_token(path, headers)
        if not token or state.token_expiry(token) is None:
            return HTTPStatus.UNAUTHORIZED, [("Content-Type", "text/plain")], b"unknown or expired token\n"
        return None
    return check


async def connection(state, ws, path):
    expiry = state.token_expiry(bearer_token(path, ws.request_headers))
    if expiry is None:  # expired between the upgrade and now
        await ws.close(4001, "token expired")
        return
    with state.lock:
        state.stats["connections"] += 1
    if state.args.first_frame != "HELLO":  # a peer that is no gateway of this contract
        await ws.send(json.dumps({"type": state.args.first_frame, "version": 2}))
        await ws.wait_closed()
        return
    await ws.send(json.dumps({"type": "HELLO", "connection_id": uuid.uuid4().hex, "max_sessions": 100,
                              "max_snippets": 10, "max_inflight": 1000, "max_frame_bytes": 65536,
                              "token_expires_at": round(expiry, 2), "server": "foreign/1.0",
                              "features": {"feedback": False}}))
    sessions = set()

    async def expire():
        await asyncio.sleep(max(0.0, expiry - time.time()))
        with state.lock:
            state.stats["closes_4001"] += 1
        await ws.close(4001, "token expired")
    expiry_task = asyncio.ensure_future(expire())
    acks = []
    try:
        async for message in ws:
            try:
                frame = json.loads(message)
            except ValueError:
                await ws.send(json.dumps({"type": "NACK", "frame_id": "", "sequence": 0,
                                          "code": "INVALID_FRAME", "reason": "bad JSON"}))
                continue
            kind = frame.get("type")
            if kind == "SESSION_END":
                sessions.discard(frame.get("session_id"))
                continue
            if kind != "PROMPT_SYNC":
                continue  # unknown or server-side types are ignored (contract section 2)
            reply = judge(state, frame, sessions)
            drop = False
            with state.lock:
                state.frames += 1
                state.stats["frames"] += 1
                if state.args.drop_every and state.frames % state.args.drop_every == 0:
                    state.stats["drops"] += 1
                    drop = True
            if drop:  # shown, then the connection dies before its ACK leaves
                ws.transport.abort()
                return
            if state.args.ack_delay_ms:
                acks.append(asyncio.ensure_future(send_later(ws, reply, state.args.ack_delay_ms / 1000)))
            else:
                await ws.send(json.dumps(reply))
    except websockets.ConnectionClosed:
        pass
    finally:
        expiry_task.cancel()
        for task in acks:
            task.cancel()


async def send_later(ws, reply, delay):
    await asyncio.sleep(delay)
    try:
        await ws.send(json.dumps(reply))
    except websockets.ConnectionClosed:
        pass


def judge(state, frame, sessions):
    frame_id = frame.get("frame_id", "")
    sequence = frame.get("sequence", 0)
    payload = frame.get("payload") or {}
    session = payload.get("session_id", "")
    now = time.time()
    timestamp = float(payload.get("timestamp", 0))

    def nack(code, reason):
        with state.lock:
            state.stats["nacks"] += 1
        return {"type": "NACK", "frame_id": frame_id, "sequence": sequence, "code": code, "reason": reason}

    with state.lock:
        if frame_id in state.shown:
            state.stats["duplicates"] += 1
            return {"type": "ACK", "frame_id": frame_id, "sequence": sequence, "duplicate": True,
                    "shown_at": now}
    if timestamp > now + 5:
        return nack("INVALID_FRAME", "timestamp in the future")
    age = now - timestamp
    if age > float(payload.get("ttl_seconds", 45)):
        return nack("STALE", "older than its ttl")
    if session not in sessions and len(sessions) >= 100:
        return nack("SESSION_LIMIT", "100 sessions on this connection")
    sessions.add(session)
    with state.lock:
        state.shown.add(frame_id)
        state.stats["shown"] += 1
        state.stats["max_age_s"] = max(state.stats["max_age_s"], age)
        if age > FRESHNESS_S:
            state.stats["stale_shown"] += 1
        if state.last_sequence.get(session, -1) >= sequence:
            state.stats["order_violations"] += 1
        state.last_sequence[session] = sequence
    return {"type": "ACK", "frame_id": frame_id, "sequence": sequence, "duplicate": False, "shown_at": now}


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--drop-every", type=int, default=0)
    parser.add_argument("--token-ttl", type=float, default=1800.0)
    parser.add_argument("--first-token-429", action="store_true")
    parser.add_argument("--ack-delay-ms", type=float, default=0)
    parser.add_argument("--first-frame", default="HELLO")
    parser.add_argument("--ready-file", required=True)
    args = parser.parse_args()
    state = State(args)
    http = ThreadingHTTPServer(("127.0.0.1", 0), token_handler(state))
    threading.Thread(target=http.serve_forever, daemon=True).start()
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with websockets.serve(lambda ws, path: connection(state, ws, path), "127.0.0.1", 0,
                                max_size=65536, process_request=upgrade_check(state)) as server:
        port = server.sockets[0].getsockname()[1]
        http_port = http.server_address[1]
        with open(args.ready_file + ".tmp", "w") as f:
            f.write(f"http://127.0.0.1:{http_port}/oauth/token ws://127.0.0.1:{port}/realtime/v1 "
                    f"http://127.0.0.1:{http_port}/stats\n")
        os.rename(args.ready_file + ".tmp", args.ready_file)
        await stop
        # At once: a graceful close would wait for connection handlers a
        # dropped connection may leave behind; a test tool has nothing to save.
        os._exit(0)


if __name__ == "__main__":
    asyncio.run(main())
