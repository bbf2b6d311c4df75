"""A local stand-in for Slack: Web API and response_url over HTTP, Socket Mode over WebSocket."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl
from urllib.request import Request, urlopen

from slack_sdk.signature import SignatureVerifier
from websockets.sync.server import ServerConnection, serve

BOT_USER = "UBOT"
BOT_ID = "BBOT"


@dataclass
class Call:
    """One request the bot made to the stand-in."""

    method: str  # Web API method, or "response_url"
    params: dict
    path: str = ""
    at: float = field(default_factory=time.monotonic)


class FakeSlack:
    """Records Web API and response_url calls; can answer 429 or 500 on demand."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.failures: dict[str, list[tuple[int, dict]]] = {}
        self.ws_url = ""
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._ts = 0
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if "json" in (self.headers.get("Content-Type") or ""):
                    params = json.loads(raw or "{}")
                else:
                    params = dict(parse_qsl(raw))
                    for key in ("blocks", "view"):
                        if isinstance(params.get(key), str):
                            params[key] = json.loads(params[key])
                if self.path.startswith("/response/"):
                    standin.record("response_url", params, self.path)
                    return self.reply(200, b"ok", "text/plain")
                method = self.path.removeprefix("/api/")
                failure = standin.next_failure(method)
                standin.record(method, params)
                if failure and failure[0] == 0:  # a hang: answer late, after the timeout
                    time.sleep(float(failure[1]["delay"]))
                    failure = None
                if failure:
                    status, headers = failure
                    body = json.dumps({"ok": False, "error": "ratelimited"}).encode()
                    return self.reply(status, body, "application/json", headers)
                body = json.dumps(standin.answer(method, params)).encode()
                return self.reply(200, body, "application/json")

            def reply(self, status: int, body: bytes, ctype: str, headers: dict | None = None):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.api_url = self.url + "/api/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def record(self, method: str, params: dict, path: str = "") -> None:
        with self._cond:
            self.calls.append(Call(method, params, path))
            self._cond.notify_all()

    def next_failure(self, method: str) -> tuple[int, dict] | None:
        with self._lock:
            pending = self.failures.get(method)
            return pending.pop(0) if pending else None

    def fail(self, method: str, *failures: tuple[int, dict]) -> None:
        """Answer the next calls of a method with these (status, headers); status 0 with
        {"delay": seconds} answers normally but only after that delay."""
        with self._lock:
            self.failures.setdefault(method, []).extend(failures)

    def answer(self, method: str, params: dict) -> dict:
        if method == "auth.test":
            return {"ok": True, "user_id": BOT_USER, "bot_id": BOT_ID, "team_id": "T1"}
        if method == "apps.connections.open":
            return {"ok": True, "url": self.ws_url}
        with self._lock:
            self._ts += 1
            ts = f"1700000000.{self._ts:06d}"
        return {"ok": True, "ts": ts, "channel": params.get("channel")}

    def wait_for(self, method: str, count: int = 1, timeout: float = 10) -> list[Call]:
        """Wait until ``count`` calls of a method arrived; return them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [c for c in self.calls if c.method == method]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [c.method for c in self.calls]
                    raise AssertionError(f"expected {count} {method} call(s), saw {seen}")
                self._cond.wait(left)

    def wait_for_path(self, path: str, timeout: float = 10) -> Call:
        """Wait for the first call to a response_url path."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for c in self.calls:
                    if c.path == path:
                        return c
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"nothing posted to {path}")
                self._cond.wait(left)

    def of(self, method: str) -> list[Call]:
        """The calls of a method so far."""
        with self._lock:
            return [c for c in self.calls if c.method == method]


def signed_post(
    url: str, body: str, secret: str, *, content_type: str, timestamp: int | None = None,
    headers: dict | None = None,
) -> tuple[int, bytes, float]:  # fmt: skip
    """POST a body signed as Slack signs it; return status, body and seconds taken."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    req = Request(url, data=body.encode(), method="POST")
    req.add_header("Content-Type", content_type)
    req.add_header("X-Slack-Request-Timestamp", ts)
    req.add_header("X-Slack-Signature", signature)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    t0 = time.monotonic()
    try:
        with urlopen(req, timeout=10) as resp:
            return resp.status, resp.read(), time.monotonic() - t0
    except Exception as err:  # HTTPError carries the status
        status = getattr(err, "code", 0)
        return status, b"", time.monotonic() - t0


class SocketModeServer:
    """A local Socket Mode endpoint: says hello, pushes envelopes, records acks."""

    def __init__(self) -> None:
        self.acks: queue.Queue[dict] = queue.Queue()
        self.connections: list[ServerConnection] = []
        self.connected = threading.Event()
        self.refuse = False
        self._server = serve(self._handle, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _handle(self, conn: ServerConnection) -> None:
        if self.refuse:
            conn.close()
            return
        self.connections.append(conn)
        conn.send(json.dumps({"type": "hello", "num_connections": 1}))
        self.connected.set()
        for message in conn:
            self.acks.put(json.loads(message))

    def push(self, envelope: dict) -> None:
        """Send an envelope to the connected bot."""
        assert self.connected.wait(10), "the bot never connected"
        self.connections[-1].send(json.dumps(envelope))

    def drop(self) -> None:
        """Close the bot's current connection, as a network failure would."""
        self.connected.clear()
        self.connections[-1].close()

    def close(self) -> None:
        self._server.shutdown()


@contextmanager
def running(server) -> Iterator[int]:
    """Run a waitress server in a thread; yield its port; close it after."""
    stopping = threading.Event()

    def run() -> None:
        try:
            server.run()
        except OSError:  # select() on the sockets close() just closed from this thread
            if not stopping.is_set():
                raise

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield server.effective_port
    finally:
        stopping.set()
        server.close()
        thread.join(timeout=5)
