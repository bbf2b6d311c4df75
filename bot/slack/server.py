"""The server: /healthz, /metrics and /slack/events over WSGI (waitress), Socket Mode's
connection, the retention purge and reloads; `serve` runs them until stopped."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.client import RemoteDisconnected
from urllib.error import URLError
from urllib.parse import parse_qs

from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from waitress import create_server as waitress_server
from waitress.server import BaseWSGIServer

from bot.config import ConfigError, Settings
from bot.content import Library
from bot.docs_cache import DocsCache, Kept
from bot.engine.search import common_english_words
from bot.live import APART_FILES, LiveDocs, open_semantic
from bot.observe import Metrics
from bot.slack.app import Bot, Listeners, Seen, build_app, make_client
from bot.slack.messages import recover_lapsed
from bot.store import Store, open_store

log = logging.getLogger("bot.slack")


#: Requests larger than this are refused (Slack's own payloads are far smaller).
MAX_BODY_BYTES = 1_000_000
#: What the HTTP server takes in before it gives up on a body: up to this, a body over
#: MAX_BODY_BYTES is read to the end (spooled to disk) and answered 413; cutting it off
#: earlier resets the connection under the client, which then sees no answer at all.
SPOOL_BYTES = 16 * 1024 * 1024


#: How often /healthz asks the history store whether it answers, at most, in seconds.
STORE_PING = 5.0


@dataclass
class Health:
    """What /healthz reports."""

    mode: str
    live: LiveDocs
    connected: Callable[[], bool] = lambda: True
    store: Store | None = None
    metrics: Metrics | None = None
    _pinged: tuple[float, bool] = (0.0, True)
    _pinging: threading.Lock = field(default_factory=threading.Lock)

    def status(self) -> tuple[int, dict]:
        """HTTP status and JSON body: 200 once ready, 503 otherwise. With a history store,
        ``store`` says whether it answers ("ok" or "down"): a bot whose store is down still
        answers (200), but replicas may then both answer one message."""
        sections = len(self.live.current.index)  # (asked every few seconds)
        ok = sections > 0 and self.connected()
        body: dict = {
            "ok": ok,
            "mode": self.mode,
            "sections": sections,
            "semantic": self.live.semantic_state,
        }
        if self.store is not None:
            body["store"] = "ok" if self.store_answers() else "down"
        return (200 if ok else 503), body

    def store_answers(self) -> bool:
        """Whether the store answered a ping in the last STORE_PING seconds; one ping at a
        time (a hung database holds one request, the others get the last result)."""
        at, up = self._pinged
        if time.monotonic() - at < STORE_PING or not self._pinging.acquire(blocking=False):
            return up
        try:
            self.store.ping()  # type: ignore[union-attr]
            up = True
        except Exception as err:  # sqlite3 and psycopg errors alike
            if self._pinged[1]:
                log.error("the history store does not answer: %s: %s", type(err).__name__, err)
            up = False
        finally:
            self._pinged = (time.monotonic(), up)
            self._pinging.release()
        if self.metrics is not None:
            self.metrics.store_up.set(1 if up else 0)
        return up


#: Slack's rule: a request signed more than five minutes ago is refused (a replay).
SIGNATURE_MAX_AGE = 300


def signature_headers(timestamp: str | None, signature: str | None,
                      now: float | None = None) -> bool:  # fmt: skip
    """Whether a request carries a v0 signature made in the last five minutes (checked
    before its body is read)."""
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > SIGNATURE_MAX_AGE:
        return False
    return signature.startswith("v0=")


def signed(raw: bytes, timestamp: str | None, signature: str | None, secret: str,
           now: float | None = None) -> bool:  # fmt: skip
    """Whether ``raw`` carries Slack's signature (v0 HMAC-SHA256 of "v0:ts:body" with the
    signing secret) from the last five minutes; on the bytes as sent, whatever they hold."""
    if not signature_headers(timestamp, signature, now):
        return False
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256)
    return hmac.compare_digest("v0=" + digest.hexdigest(), signature)


def front_door(environ: dict, secret: str) -> tuple[str, str] | None:
    """Refuse a request to /slack/events before anything reads it as Slack's: too large
    (413), not signed with the signing secret or stale (401), or signed but not a payload
    Bolt can read (400). None when it may go on; its body is then ready to read again.

    The signature is checked on the raw bytes first, so an unsigned request costs a read
    and one HMAC, whatever it holds.
    """
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return "400 Bad Request", "Content-Length is not a number"
    if length > MAX_BODY_BYTES:
        return "413 Content Too Large", f"body of {length} bytes, over {MAX_BODY_BYTES}"
    timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP")
    signature = environ.get("HTTP_X_SLACK_SIGNATURE")
    if not signature_headers(timestamp, signature):
        return "401 Unauthorized", "no signature, or a stale one"  # the body is not even read
    raw = environ["wsgi.input"].read(length) if length else b""
    if not signed(raw, timestamp, signature, secret):
        return "401 Unauthorized", "signature missing, wrong or stale"
    kind = environ.get("CONTENT_TYPE") or ""
    try:
        text = raw.decode("utf-8")
        if "json" in kind:  # events
            data = json.loads(text)
        else:  # a slash command's form, or an interaction's form with a JSON `payload`
            payload = parse_qs(text).get("payload")
            data = json.loads(payload[-1]) if payload else {}
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except ValueError as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return "400 Bad Request", f"signed, but not a payload: {type(err).__name__}"
    environ["wsgi.input"] = io.BytesIO(raw)
    environ["CONTENT_LENGTH"] = str(len(raw))
    return None


def make_wsgi(
    health: Health,
    handler: SlackRequestHandler | None,
    metrics: Metrics | None = None,
    secret: str | None = None,
) -> Callable:
    """The WSGI app: GET /healthz and /metrics, and POST /slack/events in HTTP mode (past
    ``front_door`` when the signing secret is given)."""

    def wsgi(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/healthz" and method in ("GET", "HEAD"):
            status, body = health.status()
            data = json.dumps(body).encode()
            reason = "200 OK" if status == 200 else "503 Service Unavailable"
            start_response(reason, [("Content-Type", "application/json")])
            return [data]
        if metrics is not None and path == "/metrics" and method in ("GET", "HEAD"):
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
            return [metrics.exposition()]
        if handler is not None and path == "/slack/events" and method == "POST":
            refused = front_door(environ, secret) if secret is not None else None
            if refused is not None:
                status, why = refused
                log.warning("refused a request to /slack/events: %s %s", status, why)
                start_response(status, [("Content-Type", "text/plain")])
                return [status.encode() + b"\n"]
            return handler(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    return wsgi


def create_server(
    settings: Settings,
    live: LiveDocs,
    store: Store | None = None,
    metrics: Metrics | None = None,
    listeners: Listeners | None = None,
) -> tuple[BaseWSGIServer, SocketModeHandler | None]:
    """The HTTP server (waitress) and, in Socket Mode, the socket handler (not yet connected).
    ``listeners``: the threads that answer (``build_app``)."""
    metrics = metrics or Metrics()
    if live.semantic is not None:
        metrics.embedded.set_function(live.semantic.share)
    app = build_app(settings, live, store, metrics, listeners)
    socket: SocketModeHandler | None = None
    if settings.socket_mode:
        socket = SocketModeHandler(app, app_token=settings.app_token)
        health = Health("socket", live, socket.client.is_connected, store, metrics)
        wsgi = make_wsgi(health, None, metrics)
    else:
        health = Health("http", live, store=store, metrics=metrics)
        wsgi = make_wsgi(health, SlackRequestHandler(app), metrics, settings.signing_secret or "")
    try:
        server = waitress_server(
            wsgi,
            host=settings.host,
            port=settings.port,
            threads=8,
            max_request_body_size=SPOOL_BYTES,
            # A body up to the limit stays in memory (waitress spools past 512 KB by default,
            # which made a refused 929 KB body cost half as much again); at most 100
            # connections.
            inbuf_overflow=MAX_BODY_BYTES,
            # Read 256 KB at a time, not 8 KB: a large body (refused once read) then takes a
            # few turns of the server's loop instead of a hundred (bench/front_door.py).
            recv_bytes=262_144,
            ident="devops-role-bot",
        )
    except OSError as err:  # the port taken, or a host that is not this machine's
        raise ConfigError(
            f"PORT={settings.port} (HOST={settings.host}): cannot listen there:"
            f" {err.strerror or err}"
        ) from err
    return server, socket


#: How often records older than RETENTION_DAYS are deleted, in seconds.
PURGE_EVERY = 6 * 3600


def purge_regularly(store: Store, retention_days: int) -> threading.Thread:
    """Delete records older than the retention now and every PURGE_EVERY seconds."""

    def loop() -> None:
        while True:
            try:
                deleted = store.purge(retention_days)
                log.info("deleted %d records older than %d days", deleted, retention_days)
            except Exception:  # the purge must not stop the bot; the next one retries
                log.exception("could not delete old records from %s", store.name)
            time.sleep(PURGE_EVERY)

    thread = threading.Thread(target=loop, name="retention", daemon=True)
    thread.start()
    return thread


#: How often lapsed leases (messages a process took and died before answering) are looked
#: for, in seconds.
RECOVER_EVERY = 10.0
#: How long a thread runs before one waiting for the interpreter gets it (Python: 5 ms). An
#: acknowledgement takes the interpreter back after each database or socket call: beside
#: answers and reloads at 100,000 sections its work took p50/p99 15.5/70.5 ms at 5 ms and
#: 6.4/36.9 ms at 1 ms (bench/pauses.py).
SWITCH_INTERVAL = 0.001


def recover_regularly(bot: Bot, client: WebClient, stopping: threading.Event,
                      every: float = RECOVER_EVERY) -> threading.Thread:  # fmt: skip
    """Answer, every ``every`` seconds, the messages whose holder died (recover_lapsed)."""

    def loop() -> None:
        while not stopping.wait(every):
            try:
                recover_lapsed(bot, client)
            except Exception:  # the store is down, say: the next round tries again
                log.exception("could not look for unanswered messages in %s", bot.store.name)

    thread = threading.Thread(target=loop, name="recover", daemon=True)
    thread.start()
    return thread


#: How long a stopping bot waits for the answers in progress and the docs being kept, in
#: seconds: within the 10 s that `docker stop` (and Kubernetes) give before they kill it.
STOP_SECONDS = 8.0


def stop_on_sigterm() -> None:
    """Stop on SIGTERM (`docker stop`, Kubernetes, systemd) as on Ctrl-C: KeyboardInterrupt in
    the main thread. Without it a bot that is a container's first process ignores SIGTERM
    and is killed 10 s later, with the answers it was sending."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def wind_down(listeners: Listeners, live: LiveDocs, recovering: threading.Thread,
              timeout: float = STOP_SECONDS) -> int:  # fmt: skip
    """Once no request comes in: wait up to ``timeout`` seconds in all for the answers in
    progress, the recovery round and the docs being kept. Returns how many answers were left
    unfinished (one log line either way)."""
    deadline = time.monotonic() + timeout
    busy = listeners.busy
    if busy:
        log.info("stopping: finishing %d answer(s) in progress", busy)
    left = listeners.finish(timeout)
    live.stop(timeout=max(0.0, deadline - time.monotonic()))
    recovering.join(max(0.0, deadline - time.monotonic()))
    live.kept(max(0.0, deadline - time.monotonic()))
    if left:
        log.warning(
            "stopped with %d answer(s) unfinished after %g s: a message's lease lets the next"
            " start (or another replica) answer it; a slash command's answer is lost",
            left,
            timeout,
        )
    else:
        log.info("stopped")
    return left


def reload_on_sighup(live: LiveDocs) -> None:
    """Reload the docs when the process gets SIGHUP (in a thread: handlers must be quick)."""
    signal.signal(
        signal.SIGHUP,
        lambda *_: threading.Thread(target=live.reload, args=("SIGHUP",), daemon=True).start(),
    )


def serve(
    settings: Settings,
    library: Library,
    kept: Kept | None = None,
    cache: DocsCache | None = None,
) -> int:
    """Start the bot in Socket Mode or HTTP mode on loaded docs, and serve until stopped.

    The docs are reloaded when the content folder changes and on SIGHUP. ``kept`` is what the
    docs cache held at start (``library`` was read with it), ``cache`` where they are kept.
    """
    # A thread waiting for the interpreter (an acknowledgement back from the database or
    # the socket) gets it within SWITCH_INTERVAL of asking, not Python's default 5 ms, while
    # answers and a reload keep other threads busy.
    sys.setswitchinterval(SWITCH_INTERVAL)
    # A history file that is not a database is set aside (kept): the bot must answer.
    store = open_store(settings.history.database_url, settings.history.data_dir,
                       set_aside=True)  # fmt: skip
    purge_regularly(store, settings.history.retention_days)
    metrics = Metrics()
    # The model embeds on one thread: the other core stays with the Slack listener, whose
    # acknowledgements must not wait on the embedding.
    semantic = open_semantic(settings.content, settings.history.data_dir, threads=1)
    live = LiveDocs.load(settings.content, library, semantic, kept=kept, cache=cache)
    # Reloads of many files build the docs in a child process, off the interpreter that
    # acknowledges Slack's requests (where the docs cache has a folder to pass them through).
    if hasattr(os, "fork") and cache is not None and cache.path is not None:
        live.apart = APART_FILES
    sections = len(library.sections)
    # From here on the docs are live's: these would keep the first ones (and the cache's)
    # alive through every reload.
    del library, kept
    common_english_words()  # loaded now, not by the first question with a typo in it
    live.on_reload = lambda ok: metrics.reloads.labels("ok" if ok else "failed").inc()
    live.watch()
    reload_on_sighup(live)
    listeners = Listeners()
    server, socket = create_server(settings, live, store, metrics, listeners)
    mode = "Socket Mode" if socket else "HTTP mode"
    log.info(
        "serving %d sections in %s; history in %s; /healthz and /metrics on %s:%s",
        sections,
        mode,
        store.name,
        settings.host,
        server.effective_port,
    )
    stopping = threading.Event()
    recovering = recover_regularly(
        Bot(settings, live, store, metrics, Seen()), make_client(settings), stopping
    )
    refused: list[str] = []
    if socket is not None:

        def connect() -> None:
            problem = connect_socket(socket, settings, stopping)
            if problem is not None:  # a token Slack refuses: retrying cannot help
                refused.append(problem)
                stopping.set()
                server.close()

        threading.Thread(target=connect, name="socket-connect", daemon=True).start()
    try:
        # Until Ctrl-C, or SIGTERM (``stop_on_sigterm``, put in place by the CLI before it
        # reads the docs); waitress then finishes the requests it has.
        server.run()
    except KeyboardInterrupt:
        pass
    except OSError:  # closed under select() by the connect thread
        if not refused:
            raise
    finally:
        # A second SIGTERM waits for the wind-down too (STOP_SECONDS at most), instead of
        # breaking into it; a second Ctrl-C still does.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stopping.set()
        if socket is not None:
            socket.close()
        server.close()
        left = wind_down(listeners, live, recovering)
    if refused:
        log.error("%s; stopping", refused[0])
        return 2
    if left:
        # The listeners' threads would hold the interpreter's exit until their answers end.
        logging.shutdown()
        os._exit(1)
    return 0


#: Slack's answers to a token it will not take: the bot stops (exit 2) instead of retrying.
TOKEN_REFUSED = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked",
                           "token_expired", "not_allowed_token_type", "missing_scope",
                           "no_permission", "invalid_token"})  # fmt: skip


#: Seconds between tries to reach Slack: doubling from the first, up to the last.
CONNECT_BACKOFF = (1.0, 60.0)


def connect_socket(
    socket: SocketModeHandler,
    settings: Settings,
    stopping: threading.Event,
    backoff: tuple[float, float] = CONNECT_BACKOFF,
) -> str | None:
    """Open the Socket Mode connection, retrying with backoff while Slack cannot be reached
    (one log line a try, /healthz 503 meanwhile). Returns None once connected (or stopped),
    or what is wrong when Slack refuses a token."""
    # Its own client, without retries and quiet: each try is one line of our log, not six.
    quiet = logging.getLogger("bot.slack.connect")
    quiet.propagate, quiet.handlers = False, [logging.NullHandler()]
    client = WebClient(base_url=settings.api_url, timeout=settings.api_timeout, logger=quiet)
    delay, cap = backoff
    while not stopping.is_set():
        which = "SLACK_BOT_TOKEN"
        try:
            client.auth_test(token=settings.bot_token)  # the bot token, as Bolt checks it
            which = "SLACK_APP_TOKEN"
            opened = client.apps_connections_open(app_token=settings.app_token or "")
            socket.client.wss_uri = opened["url"]
            socket.connect()
            if socket.client.is_connected() or stopping.is_set():
                log.info("connected to Slack in Socket Mode")
                return None
            reason = "the Socket Mode WebSocket did not open"
        except SlackApiError as err:
            code = err.response.get("error")
            if code in TOKEN_REFUSED:
                return f"Slack refused {which}: {code}"
            reason = f"Slack answered {code or err.response.status_code}"
        except (OSError, URLError, TimeoutError, RemoteDisconnected) as err:
            cause = getattr(err, "reason", None) or err
            reason = f"cannot reach Slack at {settings.api_url} ({type(cause).__name__}: {cause})"
        log.error("%s; trying again in %g s", reason, delay)
        stopping.wait(delay)
        delay = min(cap, delay * 2)
    return None
