"""Votes on an answer (Helpful / Not helpful) and the "what was missing" modal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.render import (
    ACTION_HELPFUL,
    ACTION_NOT_HELPFUL,
    FEEDBACK_BLOCK,
    FEEDBACK_INPUT,
    FEEDBACK_MODAL,
    THANKS,
    feedback_modal,
    thanked,
    vote_noted,
)

if TYPE_CHECKING:
    from bot.slack.app import Bot


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
