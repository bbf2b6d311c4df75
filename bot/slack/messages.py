"""Events with a question: mentions in channels (answered in a thread) and direct messages.

Each message is held with a lease (``Bot.hold``) until its reply is delivered, with what it
takes to answer it: if the process dies in between, ``recover_lapsed`` in another replica
(or this one, restarted) answers it once the lease runs out. A message is answered once,
however often Slack sends it.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from slack_bolt import App
from slack_sdk import WebClient

from bot.slack.reply import FILES_ONLY, builtin_reply, deliver, notice, question_of, reply_for

if TYPE_CHECKING:
    from bot.slack.app import Bot

log = logging.getLogger("bot.slack")

#: How long a message's claim holds before another replica (or this one, restarted) may take
#: it over and answer: far longer than an answer takes, short enough that a question whose
#: process died is answered within a minute or so.
LEASE_SECONDS = 30.0
#: How many lapsed messages one recovery round takes on at most.
RECOVER_BATCH = 500


def register_messages(app: App, bot: Bot) -> None:
    """Mentions (answered in a thread) and direct messages (answered in the DM). The message
    was held before Slack got its acknowledgement (``hold_message``, a middleware)."""

    @app.event("app_mention")
    def handle_mention(event: dict, client: WebClient) -> None:
        entry = answerable(event)
        if entry is not None:
            reply_to(bot, client, event, entry, message_key(event))

    @app.event("message")
    def handle_message(event: dict, client: WebClient) -> None:
        entry = answerable(event)
        if entry is not None:
            reply_to(bot, client, event, entry, message_key(event))


def answerable(event: dict) -> str | None:
    """The entry a message event is answered as ("mention" or "dm"), or None for one the bot
    leaves alone: edits, deletions, joins and bot messages (a subtype or a bot_id; a DM with
    a file attached, file_share, is a message the person typed), channel messages that do
    not mention it."""
    if event.get("bot_id"):
        return None
    if event.get("type") == "app_mention" and not event.get("subtype"):
        return "dm" if event.get("channel_type") == "im" else "mention"
    if event.get("type") == "message" and event.get("channel_type") == "im":
        return "dm" if event.get("subtype") in (None, "file_share") else None
    return None


def hold_message(bot: Bot, event: dict) -> bool:
    """Before Slack is told the event arrived: hold a message the bot will answer, keeping
    what answering it takes. False when it is held or answered already (a retry, the other
    event of a mention in a DM, a replica's)."""
    entry = answerable(event)
    if entry is None:
        return True
    return bot.hold(message_key(event), json.dumps({"event": event, "entry": entry}))


def message_key(event: dict) -> str:
    """What identifies a message whichever event brought it (a mention in a DM comes twice)."""
    return f"msg:{event.get('channel')}:{event.get('ts')}"


def reply_to(bot: Bot, client: WebClient, event: dict, entry: str, key: str) -> None:
    """Reply to a held message and mark it done, delivered or not (a failure is the error
    handler's to report; taking it over again would only fail again)."""
    try:
        channel = event.get("channel")
        if event.get("subtype") == "file_share" and not question_of(event.get("text", "")):
            deliver(client.chat_postMessage, notice(FILES_ONLY), bot, channel=channel,
                    thread_ts=event.get("thread_ts"))  # fmt: skip
            return
        question = question_of(event.get("text", ""))
        reply = builtin_reply(question, bot.live.current.library) or reply_for(
            question, bot, entry=entry, user_id=event.get("user"), shareable=False
        )
        if entry == "mention":
            thread_ts = event.get("thread_ts") or event.get("ts")
        else:
            thread_ts = event.get("thread_ts")
        deliver(client.chat_postMessage, reply, bot, channel=channel, thread_ts=thread_ts)
    finally:
        bot.done(key)


def recover_lapsed(bot: Bot, client: WebClient) -> int:
    """Answer the messages whose holder died before replying (their lease ran out): each
    is taken over by one replica and answered once. How many were answered."""
    if bot.store is None:
        return 0
    answered = 0
    for key, payload in bot.store.lapsed(RECOVER_BATCH):
        if bot.store.lease(key, LEASE_SECONDS, None) != "mine":
            continue  # another replica took it
        try:
            held = json.loads(payload)
            event, entry = held["event"], held["entry"]
        except (ValueError, KeyError, TypeError):
            log.error("cannot read what %s needs to be answered; giving up on it", key)
            bot.done(key)
            continue
        log.warning("answering %s, which a process that died had taken", key)
        reply_to(bot, client, event, entry, key)
        bot.metrics.recovered.inc()
        answered += 1
    return answered
