"""What the app says: a reply, its delivery (with a plain-text retry when Slack refuses it),
and the replies to questions, small talk and section picks."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError

from bot.content import Library, Section
from bot.engine.search import Match
from bot.render import (
    COMMAND,
    Shown,
    answer_blocks,
    answer_text,
    greeting_blocks,
    heading_path_text,
    help_blocks,
    moved_blocks,
    notice_blocks,
    plain,
    section_blocks,
    section_text,
    topic_blocks,
    topics_text,
)
from bot.smalltalk import small_talk
from bot.store import Record

if TYPE_CHECKING:
    from bot.slack.app import Bot

log = logging.getLogger("bot.slack")


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


#: Slack's answers to a reply in a channel (or thread) the bot may not post in: read-only,
#: thread-only or non-threadable, a thread locked by admins, a channel left or archived
#: since the question. The reply then goes to the asker as a DM.
NOT_HERE = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action",
                      "restricted_action_read_only_channel",
                      "restricted_action_thread_only_channel",
                      "restricted_action_non_threadable_channel",
                      "restricted_action_thread_locked"})  # fmt: skip


def not_here(err: SlackApiError) -> str | None:
    """Slack's error code when it refused a reply for where it was to go (NOT_HERE)."""
    data = err.response.data if isinstance(err.response.data, dict) else {}
    code = data.get("error")
    return code if code in NOT_HERE else None


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
    refused = refusal_of(lambda: send(blocks=reply.blocks, text=reply.text, **where))
    if refused is None:
        return
    log.error("Slack refused a reply (%s); sending it again as plain text", refused)
    bot.metrics.slack_errors.inc()
    again = refusal_of(lambda: send(text=reply.plain, **where))
    if again is not None:
        log.error("Slack refused the plain-text reply too (%s)", again)


def refusal_of(call: Callable[[], object]) -> str | None:
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


def reply_for(question: str, bot: Bot, *, entry: str, user_id: str | None, shareable: bool
              ) -> Reply:  # fmt: skip
    """The reply to a question; the outcome is recorded and logged."""
    docs = bot.live.current
    t0 = time.perf_counter()
    answer = docs.answer(question)
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


def moved(reply: Reply, channel: str) -> Reply:
    """A reply sent to the asker as a DM because Slack refused it in ``channel``."""
    note = "I could not reply in that channel, so here is my answer."
    return Reply(moved_blocks(channel, reply.blocks), reply.text, f"{note}\n\n{reply.plain}")


def notice(text: str) -> Reply:
    blocks, fallback = notice_blocks(text)
    return Reply(blocks, fallback, plain(fallback))


def question_of(text: str) -> str:
    """A mention's text without the mentions of users and the bot."""
    return " ".join(_MENTION.sub(" ", text or "").split())


def section_reply(match: Match, *, label: str | None = None, **options: object) -> Reply:
    """A section as a reply: its blocks (``options`` as ``section_blocks`` takes them) and
    the section as plain text."""
    blocks, text = section_blocks(match, label=label, **options)  # type: ignore[arg-type]
    return Reply(blocks, text, plain(section_text(match, label)))
