"""Build the Bolt app, register listeners, and serve it in Socket Mode or HTTP mode."""

from __future__ import annotations

import json
import logging
import re
import signal
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.client import RemoteDisconnected
from urllib.error import URLError

from slack_bolt import Ack, App, BoltResponse, Respond, Say
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient
from waitress import create_server as waitress_server
from waitress.server import BaseWSGIServer

from bot.config import Settings
from bot.content import Library
from bot.live import LiveDocs, Snapshot
from bot.render import (
    ACTION_SHARE,
    ACTION_SHOW,
    COMMAND,
    answer_blocks,
    help_blocks,
    home_view,
    section_blocks,
    topic_blocks,
)
from bot.search import Match

log = logging.getLogger("bot.slack")

#: Requests larger than this are refused (Slack's own payloads are far smaller).
MAX_BODY_BYTES = 1_000_000
_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
SORRY = "Sorry, something went wrong answering that. Please try again in a moment."


class Seen:
    """A bounded, thread-safe memory of keys already handled (event ids, message ts)."""

    def __init__(self, size: int = 10_000) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def first(self, key: str) -> bool:
        """True the first time a key is seen, False every time after."""
        with self._lock:
            if key in self._keys:
                return False
            self._keys[key] = None
            if len(self._keys) > self._size:
                self._keys.popitem(last=False)
            return True


@dataclass
class Health:
    """What /healthz reports."""

    mode: str
    live: LiveDocs
    connected: Callable[[], bool] = lambda: True

    def status(self) -> tuple[int, dict]:
        """HTTP status and JSON body: 200 once ready, 503 otherwise."""
        sections = len(self.live.current.library.sections)
        ok = sections > 0 and self.connected()
        body = {"ok": ok, "mode": self.mode, "sections": sections}
        return (200 if ok else 503), body


def make_client(settings: Settings) -> WebClient:
    """A Web API client on SLACK_API_URL that retries 429 (Retry-After), 5xx, drops, timeouts."""
    return WebClient(
        token=settings.bot_token,
        base_url=settings.api_url,
        timeout=settings.api_timeout,
        retry_handlers=[
            # TimeoutError added: a Web API call that hangs is retried like a dropped one.
            ConnectionErrorRetryHandler(
                max_retry_count=2,
                error_types=[URLError, ConnectionResetError, RemoteDisconnected, TimeoutError],
            ),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def build_app(settings: Settings, live: LiveDocs) -> App:
    """The Bolt app with every listener registered; token and secret passed explicitly."""
    app = App(
        client=make_client(settings),  # carries the bot token, passed explicitly
        signing_secret=settings.signing_secret or "",
        # Socket Mode messages are not signed; in HTTP mode the check is always on.
        request_verification_enabled=not settings.socket_mode,
        token_verification_enabled=False,
        raise_error_for_unhandled_request=False,
    )
    seen = Seen()
    register_dedupe(app, seen)
    register_commands(app, live)
    register_messages(app, live, seen)
    register_actions(app, live)
    register_home(app, live)
    register_errors(app)
    return app


def register_dedupe(app: App, seen: Seen) -> None:
    """Drop an event already handled: Slack retries and Socket Mode redeliveries."""

    @app.middleware
    def drop_repeats(body: dict, next: Callable[[], BoltResponse]) -> BoltResponse | None:
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if event_id and not seen.first(f"event:{event_id}"):
            log.info("ignoring repeated event %s", event_id)
            return BoltResponse(status=200, body="")
        return next()


def reply_for(question: str, docs: Snapshot, *, shareable: bool) -> dict:
    """Blocks and fallback text answering a question."""
    answer = docs.index.answer(question)
    log.info(
        "question answered: decision=%s section=%s score=%s",
        answer.decision,
        answer.best.section.id if answer.best else None,
        answer.score,
    )
    blocks, text = answer_blocks(answer, docs.library, shareable=shareable)
    return {"blocks": blocks, "text": text}


def register_commands(app: App, live: LiveDocs) -> None:
    """`/devops-role <question>`, `help` and `topics`: answered ephemerally."""

    @app.command(COMMAND)
    def handle_command(ack: Ack, command: dict, respond: Respond, context: dict) -> None:
        ack()
        docs = live.current
        text = (command.get("text") or "").strip()
        if text.lower() in ("", "help"):
            blocks, fallback = help_blocks(docs.library, context.get("bot_user_id"))
        elif text.lower() == "topics":
            blocks, fallback = topic_blocks(docs.library), "Topics"
        else:
            reply = reply_for(text, docs, shareable=True)
            blocks, fallback = reply["blocks"], reply["text"]
        respond(response_type="ephemeral", blocks=blocks, text=fallback)


def question_of(text: str) -> str:
    """A mention's text without the mentions of users and the bot."""
    return " ".join(_MENTION.sub(" ", text or "").split())


def register_messages(app: App, live: LiveDocs, seen: Seen) -> None:
    """Mentions (answered in a thread) and direct messages (answered in the DM)."""

    def answer_once(event: dict, say: Say, *, thread: bool) -> None:
        if not seen.first(f"msg:{event.get('channel')}:{event.get('ts')}"):
            return
        docs = live.current
        question = question_of(event.get("text", ""))
        if not question:
            blocks, text = help_blocks(docs.library)
            reply = {"blocks": blocks, "text": text}
        else:
            reply = reply_for(question, docs, shareable=False)
        thread_ts = (event.get("thread_ts") or event.get("ts")) if thread else None
        if thread_ts is None and event.get("thread_ts"):
            thread_ts = event["thread_ts"]
        say(**reply, thread_ts=thread_ts)

    @app.event("app_mention")
    def handle_mention(event: dict, say: Say) -> None:
        if event.get("bot_id") or event.get("subtype"):
            return
        answer_once(event, say, thread=True)

    @app.event("message")
    def handle_message(event: dict, say: Say) -> None:
        # Edits, deletions, joins and bot messages all carry a subtype or a bot_id.
        if event.get("subtype") or event.get("bot_id") or event.get("channel_type") != "im":
            return
        answer_once(event, say, thread=False)


def register_actions(app: App, live: LiveDocs) -> None:
    """Did-you-mean and Home-tab topic buttons, and "Share in channel"."""

    @app.action(ACTION_SHOW)
    def handle_show(
        ack: Ack, body: dict, action: dict, respond: Respond, client: WebClient
    ) -> None:
        ack()
        section = live.current.index.section(action.get("value", ""))
        if section is None:
            respond(text="That section is no longer in the docs.", replace_original=False)
            return
        container = body.get("container", {})
        if container.get("type") == "view":  # App Home: answer in the DM with the bot
            blocks, text = section_blocks(Match(section, 100))
            client.chat_postMessage(channel=body["user"]["id"], blocks=blocks, text=text)
        elif container.get("is_ephemeral"):
            blocks, text = section_blocks(Match(section, 100), shareable=True)
            respond(blocks=blocks, text=text, replace_original=True)
        else:
            blocks, text = section_blocks(Match(section, 100))
            message = body.get("message", {})
            client.chat_postMessage(
                channel=container.get("channel_id") or body["channel"]["id"],
                thread_ts=message.get("thread_ts") or message.get("ts"),
                blocks=blocks,
                text=text,
            )

    @app.action(ACTION_SHARE)
    def handle_share(ack: Ack, body: dict, action: dict, respond: Respond) -> None:
        ack()
        section = live.current.index.section(action.get("value", ""))
        if section is None:
            respond(text="That section is no longer in the docs.", replace_original=False)
            return
        score = _score_in(body)
        blocks, text = section_blocks(Match(section, score), shared_by=body["user"]["id"])
        respond(response_type="in_channel", replace_original=False, blocks=blocks, text=text)
        respond(delete_original=True)


def _score_in(body: dict) -> int:
    """The match score shown on the ephemeral answer being shared."""
    for block in body.get("message", {}).get("blocks", []):
        for element in block.get("elements", []):
            m = re.search(r"match (\d+)/100", str(element.get("text", "")))
            if m:
                return int(m.group(1))
    return 100


def register_home(app: App, live: LiveDocs) -> None:
    """Publish the App Home tab when a user opens it."""

    @app.event("app_home_opened")
    def handle_home(event: dict, client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        client.views_publish(user_id=event["user"], view=home_view(live.current.library))


def register_errors(app: App) -> None:
    """One global error handler: log the traceback, tell the user, keep running."""

    @app.error
    def handle_error(error: Exception, body: dict) -> None:
        log.error("error handling a Slack request", exc_info=error)
        try:
            if isinstance(body, dict) and body.get("response_url"):
                WebhookClient(body["response_url"]).send(text=SORRY, response_type="ephemeral")
            elif isinstance(body, dict) and isinstance(body.get("event"), dict):
                event = body["event"]
                if event.get("channel") and not event.get("bot_id"):
                    app.client.chat_postMessage(
                        channel=event["channel"],
                        thread_ts=event.get("thread_ts") or event.get("ts"),
                        text=SORRY,
                    )
        except Exception:  # the apology itself failed: the log above still has the cause
            log.exception("could not tell the user about the error")


def make_wsgi(health: Health, handler: SlackRequestHandler | None) -> Callable:
    """The WSGI app: GET /healthz, and POST /slack/events in HTTP mode."""

    def wsgi(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/healthz" and method in ("GET", "HEAD"):
            status, body = health.status()
            data = json.dumps(body).encode()
            reason = "200 OK" if status == 200 else "503 Service Unavailable"
            start_response(reason, [("Content-Type", "application/json")])
            return [data]
        if handler is not None and path == "/slack/events" and method == "POST":
            return handler(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    return wsgi


def create_server(
    settings: Settings, live: LiveDocs
) -> tuple[BaseWSGIServer, SocketModeHandler | None]:
    """The HTTP server (waitress) and, in Socket Mode, the socket handler (not yet connected)."""
    app = build_app(settings, live)
    socket: SocketModeHandler | None = None
    if settings.socket_mode:
        socket = SocketModeHandler(app, app_token=settings.app_token)
        health = Health("socket", live, socket.client.is_connected)
        wsgi = make_wsgi(health, None)
    else:
        health = Health("http", live)
        wsgi = make_wsgi(health, SlackRequestHandler(app))
    server = waitress_server(
        wsgi,
        host=settings.host,
        port=settings.port,
        threads=8,
        max_request_body_size=MAX_BODY_BYTES,
        ident="devops-role-bot",
    )
    return server, socket


def reload_on_sighup(live: LiveDocs) -> None:
    """Reload the docs when the process gets SIGHUP (in a thread: handlers must be quick)."""
    signal.signal(
        signal.SIGHUP,
        lambda *_: threading.Thread(target=live.reload, args=("SIGHUP",), daemon=True).start(),
    )


def serve(settings: Settings, library: Library) -> int:
    """Start the bot in Socket Mode or HTTP mode on loaded docs, and serve until stopped.

    The docs are reloaded when the content folder changes and on SIGHUP.
    """
    live = LiveDocs.load(settings.content, library)
    live.watch()
    reload_on_sighup(live)
    server, socket = create_server(settings, live)
    mode = "Socket Mode" if socket else "HTTP mode"
    log.info(
        "serving %d sections in %s; /healthz on %s:%s",
        len(library.sections),
        mode,
        settings.host,
        server.effective_port,
    )
    if socket is not None:
        socket.connect()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        live.stop()
        if socket is not None:
            socket.close()
        server.close()
    return 0
