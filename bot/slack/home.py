"""The App Home tab: published when a user opens it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from slack_bolt import App
from slack_sdk import WebClient

from bot.render import (
    home_fallback,
    home_view,
)
from bot.slack.reply import refusal_of

if TYPE_CHECKING:
    from bot.slack.app import Bot

log = logging.getLogger("bot.slack")


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
    refused = refusal_of(lambda: client.views_publish(user_id=user_id, view=view))
    if refused is not None:
        log.error("Slack refused the Home tab (%s); publishing it as text", refused)
        bot.metrics.slack_errors.inc()
        client.views_publish(user_id=user_id, view=home_fallback(library))
