"""Buttons: sections (did-you-mean, best guess, topics), pages, the rest of a long section,
Share in channel, and buttons from an older version."""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.content import Section
from bot.engine.search import Match
from bot.render import (
    ACTION_MORE,
    ACTION_SHARE,
    PAGE_ACTIONS,
    SHOW_ACTIONS,
    Shared,
    Shown,
    page_modal,
    plain,
    section_modal,
    section_text,
)
from bot.slack.home import publish_home
from bot.slack.reply import (
    GONE,
    STALE,
    Reply,
    deliver,
    not_here,
    record_pick,
    refusal_of,
    section_reply,
)

if TYPE_CHECKING:
    from bot.slack.app import Bot

log = logging.getLogger("bot.slack")


def register_actions(app: App, bot: Bot) -> None:
    """Section buttons (did-you-mean, decline topics, Home tab) and "Share in channel"."""

    @app.action(SHOW_ACTIONS)
    def handle_show(
        ack: Ack, body: dict, action: dict, respond: Respond, client: WebClient
    ) -> None:
        ack()
        shown = Shown.of(action.get("value", ""))
        section = section_or_gone(bot, shown.section_id, respond)
        if section is None:
            return
        container = body.get("container", {})
        user_id = body.get("user", {}).get("id")
        match = Match(section, shown.score if shown.score is not None else 100)
        if container.get("type") == "view":  # the Home tab: a modal, where the person looks
            feedback_id = record_pick(bot, section, shown, entry="home", user_id=user_id)
            view = section_modal(match, feedback_id=feedback_id, library=bot.live.current.library)
            # From a modal (a page's sections), the section goes on top of it: Slack opens no
            # second modal with views.open.
            opener = client.views_push if body.get("view", {}).get("type") == "modal" else (
                client.views_open)  # fmt: skip
            refused = refusal_of(lambda: opener(trigger_id=body["trigger_id"], view=view))
            if refused is not None:
                log.error("Slack refused the section modal (%s); sending it as a DM", refused)
                bot.metrics.slack_errors.inc()
                client.chat_postMessage(channel=user_id, text=plain(section_text(match)))
            return
        entry = _entry_of(body)
        feedback_id = record_pick(bot, section, shown, entry=entry, user_id=user_id)
        # A picked section shows no "match N%": that probability is the best section's only.
        if container.get("is_ephemeral"):
            reply = section_reply(match, shareable=True, feedback_id=feedback_id,
                                  library=bot.live.current.library)  # fmt: skip
            deliver(respond, reply, bot, replace_original=True)
        else:
            reply = section_reply(match, feedback_id=feedback_id, library=bot.live.current.library)
            post_beside(client, respond, reply, bot, body)

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
        section = section_or_gone(bot, section_id, respond)
        if section is None:
            return
        reply = section_reply(Match(section, 0), part=part, library=bot.live.current.library)
        if body.get("container", {}).get("is_ephemeral"):
            deliver(respond, reply, bot, response_type="ephemeral", replace_original=False)
        else:
            post_beside(client, respond, reply, bot, body)

    @app.action(ACTION_SHARE)
    def handle_share(ack: Ack, body: dict, action: dict, respond: Respond) -> None:
        ack()
        shared = Shared.of(action.get("value", ""))
        section = section_or_gone(bot, shared.section_id, respond)
        if section is None:
            return
        reply = section_reply(Match(section, 0), shared_by=body["user"]["id"],
                              label=shared.label, hedged=shared.hedged,
                              library=bot.live.current.library)  # fmt: skip
        deliver(respond, reply, bot, response_type="in_channel", replace_original=False)
        respond(delete_original=True)


def section_or_gone(bot: Bot, section_id: str, respond: Respond) -> Section | None:
    """The section a button names, or None after telling the clicker it is gone."""
    section = bot.live.current.index.section(section_id)
    if section is None:
        respond(text=GONE, replace_original=False, response_type="ephemeral")
    return section


def post_beside(client: WebClient, respond: Respond, reply: Reply, bot: Bot, body: dict) -> None:
    """Post a reply to a click beside the message clicked (``_beside``); where Slack no longer
    takes the bot's messages (a channel made read-only, or left, since), to the clicker
    alone."""
    try:
        deliver(client.chat_postMessage, reply, bot, **_beside(body))
    except SlackApiError as err:
        code = not_here(err)
        if code is None or not body.get("response_url"):
            raise
        log.warning("Slack refused a reply beside a click (%s); shown to the clicker alone", code)
        bot.metrics.slack_errors.inc()
        deliver(respond, reply, bot, response_type="ephemeral", replace_original=False)


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
