"""Build the Bolt app, register listeners, and serve it in Socket Mode or HTTP mode."""

from __future__ import annotations

import json
import logging
import re
import signal
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.client import RemoteDisconnected
from urllib.error import URLError

from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt import Ack, App, BoltResponse, Respond, Say
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient
from waitress import create_server as waitress_server
from waitress.server import BaseWSGIServer

from bot.config import Settings
from bot.content import Library, Section
from bot.live import LiveDocs
from bot.observe import Metrics
from bot.render import (
    ACTION_HELPFUL,
    ACTION_MORE,
    ACTION_NOT_HELPFUL,
    ACTION_SHARE,
    COMMAND,
    FEEDBACK_BLOCK,
    FEEDBACK_INPUT,
    FEEDBACK_MODAL,
    PAGE_ACTIONS,
    POPULAR,
    SHOW_ACTIONS,
    THANKS,
    Shared,
    Shown,
    answer_blocks,
    answer_text,
    feedback_modal,
    greeting_blocks,
    heading_path_text,
    help_blocks,
    home_fallback,
    home_view,
    notice_blocks,
    page_modal,
    plain,
    report_blocks,
    section_blocks,
    section_modal,
    section_text,
    thanked,
    topic_blocks,
    topics_text,
    vote_noted,
)
from bot.report import build_report, parse_since, report_text
from bot.search import Match, common_english_words
from bot.smalltalk import small_talk
from bot.store import Record, Store, open_store

log = logging.getLogger("bot.slack")

#: Requests larger than this are refused (Slack's own payloads are far smaller).
MAX_BODY_BYTES = 1_000_000
_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
SORRY = "Sorry, something went wrong answering that. Please try again in a moment."
STALE = (
    "That button is from an older version of me and no longer works."
    f" Ask again with `{COMMAND} <question>`, or mention me."
)
GONE = f"That section is no longer in the docs. Ask again with `{COMMAND} <question>`."
FILES_ONLY = "I can only read what you type, not files. Ask me your question in words."
#: Slack's answers to a reply it will not show (Web API error codes, and the body of a
#: response_url's HTTP 400): the same reply then goes again as plain text.
REFUSALS = frozenset({"invalid_blocks", "invalid_blocks_format", "invalid_arguments",
                      "msg_too_long", "msg_blocks_too_long", "no_text"})  # fmt: skip
#: How long the most asked sections are reused before the history is read again, in seconds.
POPULAR_TTL = 300.0


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply: its blocks, the notification text, and the whole reply as plain text (sent
    alone if Slack refuses the blocks)."""

    blocks: list[dict]
    text: str
    plain: str


def deliver(send: Callable[..., object], reply: Reply, bot: Bot, **where: object) -> None:
    """Send a reply; if Slack refuses it, log why and send the same reply as plain text.

    ``send`` is ``say``, ``respond`` or ``client.chat_postMessage``: a Web API refusal is a
    SlackApiError, a response_url's is an HTTP 400 whose body is the error code.
    """
    # Links in a section are the docs' own: no previews of every page they mention.
    where = {"unfurl_links": False, "unfurl_media": False, **where}
    refused = _refusal(lambda: send(blocks=reply.blocks, text=reply.text, **where))
    if refused is None:
        return
    log.error("Slack refused a reply (%s); sending it again as plain text", refused)
    bot.metrics.slack_errors.inc()
    again = _refusal(lambda: send(text=reply.plain, **where))
    if again is not None:
        log.error("Slack refused the plain-text reply too (%s)", again)


def _refusal(call: Callable[[], object]) -> str | None:
    """Make one Slack call; the reason Slack refused its content, or None once it is sent."""
    try:
        result = call()
    except SlackApiError as err:
        data = err.response.data if isinstance(err.response.data, dict) else {}
        code = data.get("error")
        if code not in REFUSALS:
            raise
        why = data.get("errors") or data.get("response_metadata", {}).get("messages") or []
        return "; ".join([str(code), *map(str, why)])
    status = getattr(result, "status_code", 200)
    if status < 400:
        return None
    body = str(getattr(result, "body", "")).strip()
    if body in REFUSALS:
        return body
    # An expired or unknown response_url: sending the text again would fail the same way.
    log.warning("the response_url answered HTTP %s %s; the reply is lost", status, body[:200])
    return None


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


@dataclass
class Bot:
    """What every listener needs: settings, the docs, the history store and the metrics."""

    settings: Settings
    live: LiveDocs
    store: Store | None
    metrics: Metrics
    seen: Seen
    _popular: tuple[float, tuple[str, ...]] | None = None

    def first(self, key: str) -> bool:
        """True the first time this key is handled, here or (with a shared store) anywhere."""
        if not self.seen.first(key):
            return False
        return self.store is None or self._claim(key)

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
            return self.store.claim(key)  # type: ignore[union-attr]
        except Exception:  # the store is down: answering beats staying silent
            log.exception("could not claim %s in the store; answering anyway", key)
            return True


def build_app(
    settings: Settings,
    live: LiveDocs,
    store: Store | None = None,
    metrics: Metrics | None = None,
) -> App:
    """The Bolt app with every listener registered; token and secret passed explicitly."""
    app = App(
        client=make_client(settings),  # carries the bot token, passed explicitly
        signing_secret=settings.signing_secret or "",
        # Socket Mode messages are not signed; in HTTP mode the check is always on.
        request_verification_enabled=not settings.socket_mode,
        token_verification_enabled=False,
        raise_error_for_unhandled_request=False,
    )
    bot = Bot(settings, live, store, metrics or Metrics(), Seen())
    register_dedupe(app, bot)
    register_commands(app, bot)
    register_messages(app, bot)
    register_actions(app, bot)
    register_feedback(app, bot)
    register_home(app, bot)
    register_stale(app, bot)
    register_errors(app, bot)
    return app


def register_dedupe(app: App, bot: Bot) -> None:
    """Drop an event already handled: Slack retries, Socket Mode redeliveries, replicas."""

    @app.middleware
    def drop_repeats(body: dict, next: Callable[[], BoltResponse]) -> BoltResponse | None:
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if event_id and not bot.first(f"event:{event_id}"):
            log.info("ignoring repeated event %s", event_id)
            return BoltResponse(status=200, body="")
        return next()


def reply_for(question: str, bot: Bot, *, entry: str, user_id: str | None, shareable: bool
              ) -> Reply:  # fmt: skip
    """The reply to a question; the outcome is recorded and logged."""
    docs = bot.live.current
    t0 = time.perf_counter()
    answer = docs.index.answer(question)
    latency_ms = (time.perf_counter() - t0) * 1000
    best = answer.best.section if answer.best else None
    question_id = None
    if bot.store is not None:
        try:
            record = Record.of(
                answer, entry=entry, latency_ms=latency_ms, user_hash=bot.store.user_hash(user_id)
            )
            bot.store.record(record)
            question_id = record.id
        except Exception:  # the answer matters more than its record
            log.exception("could not record the question in %s", bot.store.name)
    bot.metrics.questions.labels(entry, answer.decision).inc()
    bot.metrics.latency.observe(latency_ms / 1000)
    log.info(
        "question: entry=%s decision=%s section=%s score=%s latency_ms=%.2f",
        entry, answer.decision, best.id if best else None, answer.score, latency_ms,
        extra={"entry": entry, "decision": answer.decision, "section": best.id if best else None,
               "score": answer.score, "latency_ms": round(latency_ms, 2)},
    )  # fmt: skip
    popular = bot.popular() if answer.decision == "decline" else ()
    blocks, text = answer_blocks(answer, docs.library, shareable=shareable,
                                 feedback_id=question_id, popular=popular)  # fmt: skip
    return Reply(blocks, text, plain(answer_text(answer, docs.library)))


def record_pick(bot: Bot, section: Section, shown: Shown, *, entry: str,
                user_id: str | None) -> str | None:  # fmt: skip
    """Record a section opened from a button (a did-you-mean choice or a topic) as a
    "picked" answer, so that votes on it count; its record id, or None without a store."""
    if bot.store is None:
        return None
    record = Record(
        id=uuid.uuid4().hex, asked_at=time.time(), entry=entry,
        question=shown.question or heading_path_text(section), decision="picked",
        section_id=section.id, section=" > ".join(section.heading_path),
        score=shown.score if shown.score is not None else 100, latency_ms=0.0,
        user_hash=bot.store.user_hash(user_id),
    )  # fmt: skip
    try:
        bot.store.record(record)
    except Exception:  # the answer matters more than its record
        log.exception("could not record the picked section in %s", bot.store.name)
        return None
    return record.id


def register_commands(app: App, bot: Bot) -> None:
    """`/devops-role <question>`, `help`, `topics` and (for admins) `report`: ephemeral."""

    @app.command(COMMAND)
    def handle_command(ack: Ack, command: dict, respond: Respond, context: dict) -> None:
        ack()
        docs = bot.live.current
        text = (command.get("text") or "").strip()
        reply = builtin_reply(text, docs.library, context.get("bot_user_id"))
        if reply is None and text.lower() == "report":
            reply = report_reply(bot, command.get("user_id", ""))
        if reply is None:
            reply = reply_for(
                text, bot, entry="slash", user_id=command.get("user_id"), shareable=True
            )
        deliver(respond, reply, bot, response_type="ephemeral")


def builtin_reply(text: str, library: Library, bot_user_id: str | None = None) -> Reply | None:
    """The reply to `help` (or nothing), `topics`, a greeting, thanks or an acknowledgement
    (smalltalk.small_talk); None for a question."""
    kind = small_talk(text)
    if kind == "help":
        blocks, fallback = help_blocks(library, bot_user_id)
        return Reply(blocks, fallback, plain(f"{fallback}\n\n{topics_text(library)}"))
    if kind == "topics":
        return Reply(topic_blocks(library), "Topics", plain(topics_text(library)))
    if kind is not None:
        blocks, fallback = greeting_blocks(kind, library)
        return Reply(blocks, fallback, fallback)
    return None


def report_reply(bot: Bot, user_id: str) -> Reply:
    """The last 30 days' report for admins; a polite refusal for everyone else."""
    if user_id not in bot.settings.admin_user_ids:
        return _notice("Sorry, the questions report is only for the owners of the docs.")
    if bot.store is None:
        return _notice("No history is kept, so there is no report.")
    since = parse_since("30d")
    report = build_report(bot.store.history(time.time() - since), since_seconds=since)
    text = report_text(report)
    return Reply(report_blocks(text), "Questions report", plain(text))


def _notice(text: str) -> Reply:
    blocks, fallback = notice_blocks(text)
    return Reply(blocks, fallback, plain(fallback))


def question_of(text: str) -> str:
    """A mention's text without the mentions of users and the bot."""
    return " ".join(_MENTION.sub(" ", text or "").split())


def register_messages(app: App, bot: Bot) -> None:
    """Mentions (answered in a thread) and direct messages (answered in the DM)."""

    def answer_once(event: dict, say: Say, *, entry: str) -> None:
        if not bot.first(f"msg:{event.get('channel')}:{event.get('ts')}"):
            return
        question = question_of(event.get("text", ""))
        reply = builtin_reply(question, bot.live.current.library) or reply_for(
            question, bot, entry=entry, user_id=event.get("user"), shareable=False
        )
        if entry == "mention":
            thread_ts = event.get("thread_ts") or event.get("ts")
        else:
            thread_ts = event.get("thread_ts")
        deliver(say, reply, bot, thread_ts=thread_ts)

    @app.event("app_mention")
    def handle_mention(event: dict, say: Say) -> None:
        if event.get("bot_id") or event.get("subtype"):
            return
        answer_once(event, say, entry="dm" if event.get("channel_type") == "im" else "mention")

    @app.event("message")
    def handle_message(event: dict, say: Say) -> None:
        # Edits, deletions, joins and bot messages all carry a subtype or a bot_id; a DM with
        # a file attached (file_share) is a message the person typed, and is answered.
        subtype = event.get("subtype")
        if subtype not in (None, "file_share") or event.get("bot_id"):
            return
        if event.get("channel_type") != "im":
            return
        if subtype == "file_share" and not question_of(event.get("text", "")):
            if bot.first(f"msg:{event.get('channel')}:{event.get('ts')}"):
                deliver(say, _notice(FILES_ONLY), bot, thread_ts=event.get("thread_ts"))
            return
        answer_once(event, say, entry="dm")


def register_actions(app: App, bot: Bot) -> None:
    """Section buttons (did-you-mean, decline topics, Home tab) and "Share in channel"."""

    @app.action(SHOW_ACTIONS)
    def handle_show(
        ack: Ack, body: dict, action: dict, respond: Respond, client: WebClient
    ) -> None:
        ack()
        shown = Shown.of(action.get("value", ""))
        section = bot.live.current.index.section(shown.section_id)
        if section is None:
            respond(text=GONE, replace_original=False, response_type="ephemeral")
            return
        container = body.get("container", {})
        user_id = body.get("user", {}).get("id")
        match = Match(section, shown.score if shown.score is not None else 100)
        if container.get("type") == "view":  # the Home tab: a modal, where the person looks
            feedback_id = record_pick(bot, section, shown, entry="home", user_id=user_id)
            view = section_modal(match, feedback_id=feedback_id)
            # From a modal (a page's sections), the section goes on top of it: Slack opens no
            # second modal with views.open.
            opener = client.views_push if body.get("view", {}).get("type") == "modal" else (
                client.views_open)  # fmt: skip
            refused = _refusal(lambda: opener(trigger_id=body["trigger_id"], view=view))
            if refused is not None:
                log.error("Slack refused the section modal (%s); sending it as a DM", refused)
                bot.metrics.slack_errors.inc()
                client.chat_postMessage(channel=user_id, text=plain(section_text(match)))
            return
        entry = _entry_of(body)
        feedback_id = record_pick(bot, section, shown, entry=entry, user_id=user_id)
        # A picked section shows no "match N%": that probability is the best section's only.
        if container.get("is_ephemeral"):
            reply = section_reply(match, shareable=True, feedback_id=feedback_id)
            deliver(respond, reply, bot, replace_original=True)
        else:
            deliver(client.chat_postMessage, section_reply(match, feedback_id=feedback_id), bot,
                    **_beside(body))  # fmt: skip

    @app.action(PAGE_ACTIONS)
    def handle_page(ack: Ack, body: dict, action: dict, respond: Respond,
                    client: WebClient) -> None:  # fmt: skip
        ack()
        library = bot.live.current.library
        doc = next((d for d in library.documents if d.path == action.get("value")), None)
        if doc is None:
            if body.get("response_url"):
                respond(text=GONE, replace_original=False, response_type="ephemeral")
            return
        view = page_modal(doc, library)
        if body.get("view", {}).get("type") == "modal":
            client.views_push(trigger_id=body["trigger_id"], view=view)
        else:
            client.views_open(trigger_id=body["trigger_id"], view=view)

    @app.action(ACTION_MORE)
    def handle_more(ack: Ack, body: dict, action: dict, respond: Respond,
                    client: WebClient) -> None:  # fmt: skip
        ack()
        try:
            value = json.loads(action.get("value", ""))
            section_id, part = str(value["s"]), int(value["c"])
        except (ValueError, KeyError, TypeError):
            section_id, part = "", 0
        section = bot.live.current.index.section(section_id)
        if section is None:
            respond(text=GONE, replace_original=False, response_type="ephemeral")
            return
        reply = section_reply(Match(section, 0), part=part)
        if body.get("container", {}).get("is_ephemeral"):
            deliver(respond, reply, bot, response_type="ephemeral", replace_original=False)
        else:
            deliver(client.chat_postMessage, reply, bot, **_beside(body))

    @app.action(ACTION_SHARE)
    def handle_share(ack: Ack, body: dict, action: dict, respond: Respond) -> None:
        ack()
        shared = Shared.of(action.get("value", ""))
        section = bot.live.current.index.section(shared.section_id)
        if section is None:
            respond(text=GONE, replace_original=False, response_type="ephemeral")
            return
        reply = section_reply(Match(section, 0), shared_by=body["user"]["id"],
                              label=shared.label, hedged=shared.hedged)  # fmt: skip
        deliver(respond, reply, bot, response_type="in_channel", replace_original=False)
        respond(delete_original=True)


def _beside(body: dict) -> dict:
    """Where a reply to a click on a message goes: in its thread in a channel; in a DM, in
    the conversation itself (Slack does not open a thread for the reader), unless the message
    was in a thread already."""
    container = body.get("container", {})
    message = body.get("message", {})
    channel = container.get("channel_id") or body["channel"]["id"]
    thread = container.get("thread_ts") or message.get("thread_ts")
    if not thread and not channel.startswith("D"):
        thread = container.get("message_ts") or message.get("ts")
    return {"channel": channel, "thread_ts": thread}


def section_reply(match: Match, *, label: str | None = None, **options: object) -> Reply:
    """A section as a reply: its blocks (``options`` as ``section_blocks`` takes them) and
    the section as plain text."""
    blocks, text = section_blocks(match, label=label, **options)  # type: ignore[arg-type]
    return Reply(blocks, text, plain(section_text(match, label)))


def _entry_of(body: dict) -> str:
    """Where a button was clicked, as the history's entry: slash (ephemeral), dm or mention."""
    container = body.get("container", {})
    if container.get("is_ephemeral"):
        return "slash"
    channel = container.get("channel_id") or body.get("channel", {}).get("id") or ""
    return "dm" if channel.startswith("D") else "mention"


def register_stale(app: App, bot: Bot) -> None:
    """A click on a button this version does not know (registered last, so it only gets what
    no other listener took): acknowledged, and the person told how to ask again, instead of
    Bolt's 404, which shows them an error."""

    @app.action(re.compile(".*"))
    def handle_stale_button(ack: Ack, body: dict, action: dict, respond: Respond,
                            client: WebClient) -> None:  # fmt: skip
        ack()
        log.info("a click on an unknown button %r", action.get("action_id"))
        container = body.get("container", {})
        if container.get("type") == "view":  # the Home tab: publish the current one
            if body.get("view", {}).get("type") == "home" and body.get("user", {}).get("id"):
                publish_home(client, bot, body["user"]["id"])
            return
        if body.get("response_url"):
            respond(text=STALE, response_type="ephemeral", replace_original=False)


def register_feedback(app: App, bot: Bot) -> None:
    """Helpful / Not helpful votes (one per person per answer) and the "what was missing" modal."""

    def vote(ack: Ack, body: dict, action: dict, respond: Respond, client: WebClient,
             kind: str) -> None:  # fmt: skip
        ack()
        if bot.store is None:
            return
        question_id = action.get("value", "")
        user_hash = bot.store.user_hash(body["user"]["id"]) or ""
        if not bot.store.vote(question_id, user_hash, kind):
            respond(text="You already voted on this answer. Thanks!", replace_original=False,
                    response_type="ephemeral")  # fmt: skip
            return
        bot.metrics.votes.labels(kind).inc()
        container = body.get("container", {})
        if container.get("type") == "view":  # a section modal: thank in it, ask in a new one
            view = body.get("view", {})
            client.views_update(view_id=view.get("id") or container.get("view_id"), view={
                k: view[k] for k in ("type", "callback_id", "private_metadata", "title", "close")
                if k in view} | {"blocks": thanked(view.get("blocks", []), kind)})  # fmt: skip
            if kind == "not_helpful" and body.get("trigger_id"):
                client.views_push(trigger_id=body["trigger_id"], view=feedback_modal(question_id))
            return
        if kind == "not_helpful" and body.get("trigger_id"):
            client.views_open(trigger_id=body["trigger_id"], view=feedback_modal(question_id))
        message = body.get("message")
        channel = container.get("channel_id") or body.get("channel", {}).get("id") or ""
        if message and channel.startswith("D"):  # the person's own DM: the buttons can go
            client.chat_update(channel=channel, ts=container.get("message_ts") or message["ts"],
                               blocks=thanked(message.get("blocks", []), kind),
                               text=message.get("text") or THANKS)  # fmt: skip
            return
        # An ephemeral answer comes without its `message` (replacing it would wipe it), and
        # in a channel the answer is everyone's: keep it and tell only the voter.
        respond(text=vote_noted(kind), response_type="ephemeral", replace_original=False)

    @app.action(ACTION_HELPFUL)
    def handle_helpful(ack: Ack, body: dict, action: dict, respond: Respond,
                       client: WebClient) -> None:  # fmt: skip
        vote(ack, body, action, respond, client, "helpful")

    @app.action(ACTION_NOT_HELPFUL)
    def handle_not_helpful(ack: Ack, body: dict, action: dict, respond: Respond,
                           client: WebClient) -> None:  # fmt: skip
        vote(ack, body, action, respond, client, "not_helpful")

    @app.view(FEEDBACK_MODAL)
    def handle_feedback(ack: Ack, body: dict, view: dict) -> None:
        ack()
        values = view.get("state", {}).get("values", {})
        comment = values.get(FEEDBACK_BLOCK, {}).get(FEEDBACK_INPUT, {}).get("value") or ""
        if bot.store is not None and comment.strip():
            user_hash = bot.store.user_hash(body["user"]["id"]) or ""
            bot.store.comment(view.get("private_metadata", ""), user_hash, comment.strip()[:2000])


def register_home(app: App, bot: Bot) -> None:
    """Publish the App Home tab when a user opens it."""

    @app.event("app_home_opened")
    def handle_home(event: dict, client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        publish_home(client, bot, event["user"])


def publish_home(client: WebClient, bot: Bot, user_id: str) -> None:
    """Publish the Home tab; if Slack refuses it, log why and publish the topics as text."""
    library = bot.live.current.library
    view = home_view(library, bot.popular())
    refused = _refusal(lambda: client.views_publish(user_id=user_id, view=view))
    if refused is not None:
        log.error("Slack refused the Home tab (%s); publishing it as text", refused)
        bot.metrics.slack_errors.inc()
        client.views_publish(user_id=user_id, view=home_fallback(library))


def register_errors(app: App, bot: Bot) -> None:
    """One global error handler: log the traceback, tell the user, keep running."""

    @app.error
    def handle_error(error: Exception, body: dict) -> None:
        log.error("error handling a Slack request", exc_info=error)
        if isinstance(error, SlackApiError):
            bot.metrics.slack_errors.inc()
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


def make_wsgi(
    health: Health, handler: SlackRequestHandler | None, metrics: Metrics | None = None
) -> Callable:
    """The WSGI app: GET /healthz and /metrics, and POST /slack/events in HTTP mode."""

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
            return handler(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    return wsgi


def create_server(
    settings: Settings,
    live: LiveDocs,
    store: Store | None = None,
    metrics: Metrics | None = None,
) -> tuple[BaseWSGIServer, SocketModeHandler | None]:
    """The HTTP server (waitress) and, in Socket Mode, the socket handler (not yet connected)."""
    metrics = metrics or Metrics()
    app = build_app(settings, live, store, metrics)
    socket: SocketModeHandler | None = None
    if settings.socket_mode:
        socket = SocketModeHandler(app, app_token=settings.app_token)
        health = Health("socket", live, socket.client.is_connected)
        wsgi = make_wsgi(health, None, metrics)
    else:
        health = Health("http", live)
        wsgi = make_wsgi(health, SlackRequestHandler(app), metrics)
    server = waitress_server(
        wsgi,
        host=settings.host,
        port=settings.port,
        threads=8,
        max_request_body_size=MAX_BODY_BYTES,
        ident="devops-role-bot",
    )
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
    store = open_store(settings.history.database_url, settings.history.data_dir)
    purge_regularly(store, settings.history.retention_days)
    metrics = Metrics()
    live = LiveDocs.load(settings.content, library)
    common_english_words()  # loaded now, not by the first question with a typo in it
    live.on_reload = lambda ok: metrics.reloads.labels("ok" if ok else "failed").inc()
    live.watch()
    reload_on_sighup(live)
    server, socket = create_server(settings, live, store, metrics)
    mode = "Socket Mode" if socket else "HTTP mode"
    log.info(
        "serving %d sections in %s; history in %s; /healthz and /metrics on %s:%s",
        len(library.sections),
        mode,
        store.name,
        settings.host,
        server.effective_port,
    )
    stopping = threading.Event()
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
        server.run()
    except KeyboardInterrupt:
        pass
    except OSError:  # closed under select() by the connect thread
        if not refused:
            raise
    finally:
        stopping.set()
        live.stop()
        if socket is not None:
            socket.close()
        server.close()
    if refused:
        log.error("%s; stopping", refused[0])
        return 2
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
