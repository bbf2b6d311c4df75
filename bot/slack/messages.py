"""Events with a question: mentions in channels (answered in a thread) and direct messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import App, Say

from bot.slack.reply import FILES_ONLY, builtin_reply, deliver, notice, question_of, reply_for

if TYPE_CHECKING:
    from bot.slack.app import Bot


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
                deliver(say, notice(FILES_ONLY), bot, thread_ts=event.get("thread_ts"))
            return
        answer_once(event, say, entry="dm")
