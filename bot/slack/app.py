"""The Bolt app: what every listener shares (settings, docs, history, metrics), the listeners
registered in order, repeated events dropped, and one error handler."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from http.client import RemoteDisconnected
from urllib.error import URLError

from slack_bolt import App, BoltContext, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.config import Settings
from bot.content import Section
from bot.live import LiveDocs
from bot.observe import Metrics
from bot.render import (
    POPULAR,
)
from bot.report import parse_since
from bot.slack.actions import register_actions, register_stale
from bot.slack.commands import register_commands
from bot.slack.feedback import register_feedback
from bot.slack.home import register_home
from bot.slack.messages import LEASE_SECONDS, Hold, hold_message, register_messages
from bot.slack.reply import SORRY
from bot.slack.webapi import KeepAliveClient, Responder
from bot.store import Store

log = logging.getLogger("bot.slack")


#: How long the most asked sections are reused before the history is read again, in seconds.
POPULAR_TTL = 300.0


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


#: Threads that run listeners (answers) after their acknowledgement: Bolt's default.
LISTENER_THREADS = 5


class Listeners(ThreadPoolExecutor):
    """Bolt's listener threads (answers sent after the acknowledgement), counted, so that a
    stopping bot can wait for the answers in progress (``finish``)."""

    def __init__(self, threads: int = LISTENER_THREADS) -> None:
        super().__init__(max_workers=threads, thread_name_prefix="listener")
        self._busy = 0
        self._idle = threading.Condition()

    def submit(self, fn: Callable, /, *args: object, **kwargs: object) -> Future:
        """Run a listener, counted until it returns."""

        def counted() -> object:
            try:
                return fn(*args, **kwargs)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

        with self._idle:
            self._busy += 1
        try:
            return super().submit(counted)
        except BaseException:  # shut down: not run, so not counted
            with self._idle:
                self._busy -= 1
            raise

    @property
    def busy(self) -> int:
        """Listeners queued or running."""
        with self._idle:
            return self._busy

    def finish(self, timeout: float) -> int:
        """Take no more listeners, wait up to ``timeout`` seconds for those queued or
        running, and return how many are still unfinished."""
        self.shutdown(wait=False)
        with self._idle:
            self._idle.wait_for(lambda: self._busy == 0, timeout)
            return self._busy


def make_client(settings: Settings) -> WebClient:
    """A Web API client on SLACK_API_URL that keeps its connections open (one per thread) and
    retries 429 (Retry-After), 5xx, drops, timeouts."""
    return KeepAliveClient(
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


@dataclass
class Bot:
    """What every listener needs: settings, the docs, the history store and the metrics."""

    settings: Settings
    live: LiveDocs
    store: Store | None
    metrics: Metrics
    seen: Seen
    #: The keys this process holds, until their listener takes them (``taken``).
    holds: dict[str, Hold] = field(default_factory=dict)
    _popular: tuple[float, tuple[str, ...]] | None = None
    store_up: bool = True

    def first(self, key: str) -> bool:
        """True the first time this key is handled, here or (with a shared store) anywhere."""
        if not self.seen.first(key):
            return False
        return self.store is None or self._claim(key)

    def hold(self, key: str, payload: str) -> bool:
        """Take a key for LEASE_SECONDS, until ``done``: True for the first here and in any
        replica, or for the first after its holder died (its lease ran out). The hold is
        kept in ``holds`` for the listener (``taken``). With the store down, True: a reply
        that may be doubled beats none (/healthz and the metric say so)."""
        if not self.seen.first(key):
            return False
        if self.store is None:
            return True
        holder = uuid.uuid4().hex
        try:
            outcome = self.store.lease(key, LEASE_SECONDS, payload, holder)
        except Exception:  # the store is down: answering beats staying silent
            self.store_failed(f"could not claim {key}")
            return True
        self.store_answered()
        if outcome in ("mine", "again"):
            self.holds[key] = Hold(holder, again=outcome == "again")
            return True
        return False

    def taken(self, key: str) -> Hold | None:
        """The hold ``hold`` took on this key (asked once by its listener), or None (no
        store, or the store was down)."""
        return self.holds.pop(key, None)

    def keep(self, key: str, hold: Hold | None) -> bool:
        """Just before replying: renew the hold for LEASE_SECONDS. False when another
        holder took the key over meanwhile (this one waited past its lease): that holder
        answers it, not this one. True without a store, or when it is down."""
        if hold is None or self.store is None:
            return True
        try:
            return self.store.renew(key, hold.holder, LEASE_SECONDS)
        except Exception:  # the store is down: answering beats staying silent
            self.store_failed(f"could not renew {key}")
            return True

    def done(self, key: str, hold: Hold | None = None) -> None:
        """Mark a held key done: delivered (or given up on), never to be taken over. With
        ``hold``: only while that hold still holds it."""
        if self.store is None:
            return
        try:
            self.store.finish(key, hold.holder if hold is not None else None)
        except Exception:
            self.store_failed(f"could not mark {key} done")

    def store_failed(self, what: str) -> None:
        """Log a store failure and note the store as down."""
        log.exception("%s in %s; answering anyway", what, getattr(self.store, "name", "?"))
        self.store_up = False
        self.metrics.store_up.set(0)

    def store_answered(self) -> None:
        """Note the store as up."""
        if not self.store_up:
            log.info("the history store answers again")
        self.store_up = True
        self.metrics.store_up.set(1)

    def popular(self) -> tuple[Section, ...]:
        """The sections asked about most in the last 30 days (answers, best guesses, picks),
        read from the history at most every POPULAR_TTL seconds."""
        if self.store is None:
            return ()
        now = time.monotonic()
        cached = self._popular
        if cached is None or now - cached[0] > POPULAR_TTL:
            try:
                rows = self.store.history(time.time() - parse_since("30d"))
            except Exception:  # the history is a nicety here: answer without it
                log.exception("could not read the most asked sections from %s", self.store.name)
                rows = []
            counts: dict[str, int] = {}
            for row in rows:
                if row.get("section_id") and row.get("decision") in ("answer", "hedged", "picked"):
                    counts[row["section_id"]] = counts.get(row["section_id"], 0) + 1
            ranked = sorted(counts, key=lambda k: -counts[k])
            cached = self._popular = (now, tuple(ranked))
        index = self.live.current.index
        found = (index.section(sid) for sid in cached[1])
        return tuple(s for s in found if s is not None)[:POPULAR]

    def _claim(self, key: str) -> bool:
        try:
            claimed = self.store.claim(key)  # type: ignore[union-attr]
        except Exception:  # the store is down: answering beats staying silent
            self.store_failed(f"could not claim {key}")
            return True
        self.store_answered()
        return claimed


def build_app(
    settings: Settings,
    live: LiveDocs,
    store: Store | None = None,
    metrics: Metrics | None = None,
    listeners: Listeners | None = None,
) -> App:
    """The Bolt app with every listener registered; token and secret passed explicitly.
    ``listeners``: the threads that run them (a new ``Listeners`` when not given)."""
    app = App(
        listener_executor=listeners or Listeners(),
        client=make_client(settings),  # carries the bot token, passed explicitly
        signing_secret=settings.signing_secret or "",
        # Socket Mode messages are not signed; in HTTP mode the check is always on.
        request_verification_enabled=not settings.socket_mode,
        token_verification_enabled=False,
        raise_error_for_unhandled_request=False,
    )
    bot = Bot(settings, live, store, metrics or Metrics(), Seen())
    register_client(app)
    register_dedupe(app, bot)
    register_commands(app, bot)
    register_messages(app, bot)
    register_actions(app, bot)
    register_feedback(app, bot)
    register_home(app, bot)
    register_stale(app, bot)
    register_errors(app, bot)
    return app


def register_client(app: App) -> None:
    """Every listener gets the app's own client (``make_client``: kept connections), not the
    plain one Bolt makes for each request (the same token: the bot never changes it), and a
    ``respond`` that keeps its connection too and retries as that client does."""

    @app.middleware
    def shared_client(context: BoltContext, next: Callable[[], BoltResponse]) -> BoltResponse:
        context["client"] = app.client
        if context.response_url:
            context["respond"] = Responder(context.response_url, app.client)
        return next()


def register_dedupe(app: App, bot: Bot) -> None:
    """Drop an event already handled: Slack retries, Socket Mode redeliveries, replicas."""

    @app.middleware
    def drop_repeats(body: dict, next: Callable[[], BoltResponse]) -> BoltResponse | None:
        event_id = body.get("event_id") if isinstance(body, dict) else None
        event = body.get("event") if isinstance(body, dict) else None
        kind = event.get("type") if isinstance(event, dict) else None
        if event_id and kind in ("message", "app_mention"):
            # Held with a lease before Slack hears back, so that if this process dies before
            # the reply, the message is answered all the same (messages.recover_lapsed).
            repeated = not bot.seen.first(f"event:{event_id}") or not hold_message(bot, event)
        else:  # other events are claimed here for good
            repeated = bool(event_id) and not bot.first(f"event:{event_id}")
        if repeated:
            log.info("ignoring repeated event %s", event_id)
            return BoltResponse(status=200, body="")
        return next()


def register_errors(app: App, bot: Bot) -> None:
    """One global error handler: log the traceback, tell the user, keep running."""

    @app.error
    def handle_error(error: Exception, body: dict) -> None:
        log.error("error handling a Slack request", exc_info=error)
        if isinstance(error, SlackApiError):
            bot.metrics.slack_errors.inc()
        try:
            if isinstance(body, dict) and body.get("response_url"):
                Responder(body["response_url"], app.client)(text=SORRY, response_type="ephemeral")
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
