"""Events with a question: mentions in channels (answered in a thread) and direct messages.

Each message is held with a lease (``Bot.hold``) until its reply is delivered, with what it
takes to answer it: if the process dies in between, ``recover_lapsed`` in another replica
(or this one, restarted) answers it once the lease runs out. A message is answered once,
however often Slack sends it: every reply carries the message's key in its metadata, and
whoever takes a message over from a holder that died first reads the conversation back
(``answered_before``), since the holder may have died after its reply went out. A holder
that is alive but waited past its lease (a bot behind on its work) renews its lease just
before replying (``Bot.keep``), and does not reply when another holder took it over.
"""

from __future__ import annotations

import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, NamedTuple

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.reply import (
    FILES_ONLY,
    builtin_reply,
    deliver,
    moved,
    not_here,
    notice,
    question_of,
    reply_for,
)

if TYPE_CHECKING:
    from bot.slack.app import Bot

log = logging.getLogger("bot.slack")

#: How long a message's claim holds before another replica (or this one, restarted) may take
#: it over and answer: far longer than an answer takes, short enough that a question whose
#: process died is answered within a minute or so.
LEASE_SECONDS = 30.0
#: How many lapsed messages one recovery round takes on at most, and how many at once.
RECOVER_BATCH = 500
RECOVER_THREADS = 4
#: Threads that live as long as the process, so that each keeps its store connection.
_RECOVERY = ThreadPoolExecutor(RECOVER_THREADS, thread_name_prefix="recover")
#: The metadata event type of a reply to a message; its payload names the message.
REPLY_EVENT = "devops_role_bot_reply"
#: How many messages since the question are read back to look for its reply.
READ_BACK = 200


class Hold(NamedTuple):
    """A lease on a message: who holds it, and whether it was taken over from a holder whose
    lease ran out (Slack may have its reply already)."""

    holder: str
    again: bool = False


def register_messages(app: App, bot: Bot) -> None:
    """Mentions (answered in a thread) and direct messages (answered in the DM). The message
    was held before Slack got its acknowledgement (``hold_message``, a middleware)."""

    def handle_message(event: dict, client: WebClient) -> None:
        entry = answerable(event)
        if entry is not None:
            key = message_key(event)
            reply_to(bot, client, event, entry, key, bot.taken(key))

    app.event("app_mention")(handle_message)
    app.event("message")(handle_message)


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


def reply_to(bot: Bot, client: WebClient, event: dict, entry: str, key: str,
             hold: Hold | None = None) -> bool:  # fmt: skip
    """Reply to a held message and mark it done, delivered or not (a failure is the error
    handler's to report; taking it over again would only fail again). ``hold``: the lease
    on it (None without a store). When it was taken over from a holder whose lease ran out,
    first look for its reply in Slack. False when nothing was sent: that reply was found, or
    another holder took the message over while this one waited (it answers it; ``done``
    then leaves the message to it)."""
    try:
        channel = event.get("channel")
        if entry == "mention":
            thread_ts = event.get("thread_ts") or event.get("ts")
        else:
            thread_ts = event.get("thread_ts")
        if hold and hold.again and answered_before(client, channel, thread_ts, event.get("ts"),
                                                   key):  # fmt: skip
            log.warning("%s was answered before its holder died; not answering it again", key)
            bot.metrics.answered_before.inc()
            return False
        metadata = {"event_type": REPLY_EVENT, "event_payload": {"key": key}}
        where = {"channel": channel, "thread_ts": thread_ts, "metadata": metadata}
        if event.get("subtype") == "file_share" and not question_of(event.get("text", "")):
            reply = notice(FILES_ONLY)
        else:
            question = question_of(event.get("text", ""))
            reply = builtin_reply(question, bot.live.current.library) or reply_for(
                question, bot, entry=entry, user_id=event.get("user"), shareable=False
            )
        if not bot.keep(key, hold):
            log.warning("%s waited past its lease and was taken over; the taker answers it", key)
            bot.metrics.taken_over_while_waiting.inc()
            return False
        try:
            deliver(client.chat_postMessage, reply, bot, **where)
        except SlackApiError as err:  # the channel takes no reply: the asker gets it alone
            code, user = not_here(err), event.get("user")
            if code is None or not user or str(channel).startswith("D"):
                raise
            log.warning("Slack refused the reply to %s in %s (%s); sending it to %s as a DM",
                        key, channel, code, user)  # fmt: skip
            bot.metrics.slack_errors.inc()
            deliver(client.chat_postMessage, moved(reply, str(channel)), bot, channel=user,
                    metadata=metadata)  # fmt: skip
        return True
    finally:
        bot.done(key, hold)


def answered_before(client: WebClient, channel: str | None, thread_ts: str | None,
                    ts: str | None, key: str) -> bool:  # fmt: skip
    """Whether Slack shows a reply to this message already: one carrying its key, in its
    thread (or, for a DM outside a thread, the conversation) since the message. When Slack
    cannot say (no history scope, an error), False: answering twice beats not at all."""
    since = {"channel": channel, "oldest": ts, "include_all_metadata": True, "limit": READ_BACK}
    try:
        if thread_ts:
            found = client.conversations_replies(ts=thread_ts, **since)
        else:
            found = client.conversations_history(**since)
    except SlackApiError as err:
        data = err.response.data if isinstance(err.response.data, dict) else {}
        needed = f", needs the {data['needed']} scope" if data.get("needed") else ""
        log.warning("could not read back whether %s was answered (%s%s); answering it",
                    key, data.get("error"), needed)  # fmt: skip
        return False
    except Exception as err:  # Slack unreachable, the client's retries spent
        log.warning("could not read back whether %s was answered (%s); answering it",
                    key, type(err).__name__)  # fmt: skip
        return False
    for message in found.get("messages") or []:
        metadata = message.get("metadata") if isinstance(message, dict) else None
        if isinstance(metadata, dict) and metadata.get("event_type") == REPLY_EVENT:
            payload = metadata.get("event_payload")
            if isinstance(payload, dict) and payload.get("key") == key:
                return True
    return False


def recover_lapsed(bot: Bot, client: WebClient) -> int:
    """Answer the messages whose holder died before replying (their lease ran out): each
    is taken over by one replica and answered once, RECOVER_THREADS at a time (a process
    killed under load leaves dozens). How many were answered."""
    if bot.store is None:
        return 0
    lapsed = bot.store.lapsed(RECOVER_BATCH)
    return sum(_RECOVERY.map(lambda held: recover_one(bot, client, *held), lapsed))


def recover_one(bot: Bot, client: WebClient, key: str, payload: str) -> bool:
    """Take over one lapsed message and answer it (unless Slack shows its reply already);
    False when it was not answered here: another replica took it first, Slack has its
    reply, or what it needs cannot be read."""
    hold = Hold(uuid.uuid4().hex, again=True)
    if bot.store.lease(key, LEASE_SECONDS, None, hold.holder) not in ("mine", "again"):
        return False  # another replica took it
    try:
        held = json.loads(payload)
        event, entry = held["event"], held["entry"]
    except (ValueError, KeyError, TypeError):
        log.error("cannot read what %s needs to be answered; giving up on it", key)
        bot.done(key, hold)
        return False
    log.warning("answering %s, whose holder's lease ran out (it died, or is far behind)", key)
    if not reply_to(bot, client, event, entry, key, hold):
        return False
    bot.metrics.recovered.inc()
    return True
