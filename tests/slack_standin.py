"""Test helpers around the stand-in for Slack (bot.demo.standin): signed requests, a Socket Mode
WebSocket server, and running the bot's HTTP server in a thread."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.request import Request, urlopen

from slack_sdk.signature import SignatureVerifier
from websockets.sync.server import ServerConnection, serve

from bot.demo.standin import BOT_ID, BOT_USER, Call, FakeSlack

__all__ = [
    "BOT_ID", "BOT_USER", "Call", "FakeSlack", "SocketModeServer", "running", "signed_post",
    "wait_until",
]  # fmt: skip


def wait_until(predicate, timeout: float = 30) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; return the last result."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


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
