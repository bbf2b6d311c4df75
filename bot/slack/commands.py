"""The slash command: `/devops-role <question>`, `help`, `topics` and (admins) `report`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from slack_bolt import Ack, App, Respond

from bot.render import (
    COMMAND,
    plain,
    report_blocks,
)
from bot.report import build_report, parse_since, report_text
from bot.slack.reply import Reply, builtin_reply, deliver, notice, reply_for

if TYPE_CHECKING:
    from bot.slack.app import Bot

log = logging.getLogger("bot.slack")


def register_commands(app: App, bot: Bot) -> None:
    """`/devops-role <question>`, `help`, `topics` and (for admins) `report`: ephemeral."""

    def ack_first(ack: Ack, next: Callable[[], None]) -> None:
        # Acknowledged here, in the request's own thread, before the listener is started:
        # Bolt otherwise waits for the listener's ack() in 10 ms steps while the answer is
        # being computed, and the acknowledgement comes late under load.
        ack()
        next()

    @app.command(COMMAND, middleware=[ack_first])
    def handle_command(command: dict, respond: Respond, context: dict) -> None:
        # A slash command has no event id: its trigger_id (one per invocation) tells a
        # replay of the same signed request, within the five minutes its signature holds.
        trigger = command.get("trigger_id")
        if trigger and not bot.first(f"slash:{trigger}"):
            log.info("ignoring a repeated slash command (trigger %s)", trigger)
            return
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


def report_reply(bot: Bot, user_id: str) -> Reply:
    """The last 30 days' report for admins; a polite refusal for everyone else."""
    if user_id not in bot.settings.admin_user_ids:
        return notice("Sorry, the questions report is only for the owners of the docs.")
    if bot.store is None:
        return notice("No history is kept, so there is no report.")
    since = parse_since("30d")
    report = build_report(bot.store.history(time.time() - since), since_seconds=since)
    text = report_text(report)
    return Reply(report_blocks(text), "Questions report", plain(text))
