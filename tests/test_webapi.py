"""The Web API client keeps its connection to Slack open, over the wire against the Slack
stand-in (which keeps connections alive as Slack does, and can drop them)."""

from __future__ import annotations

import logging
import socket

import pytest
from slack_sdk.errors import SlackApiError

from bot.demo.standin import FakeSlack
from bot.live import LiveDocs
from bot.observe import Metrics
from bot.slack.app import make_client
from bot.slack.server import create_server
from bot.slack.webapi import Responder
from tests.slack_standin import running, wait_until
from tests.test_delivery import dm
from tests.test_slack_app import post_command, post_event, settings_for, texts


def test_one_connection_carries_many_calls_and_a_dropped_one_is_replaced(fake, caplog):
    """Ten calls from one thread open one connection. Once Slack has closed it (as a load
    balancer drops an idle connection) the next call notices before sending, opens a new
    one and is delivered once, with no error logged."""
    client = make_client(settings_for(fake))
    for n in range(10):
        assert client.chat_postMessage(channel="C1", text=f"hello {n}")["ok"]
    assert len(fake.connections) == 1
    # As real servers, the stand-in sends a small answer at once (TCP_NODELAY): without it
    # a kept connection waited 40 ms a call for the client's delayed ACK.
    assert fake.connections[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    fake.hang_up()
    with caplog.at_level(logging.DEBUG):
        assert client.chat_postMessage(channel="C1", text="after the drop")["ok"]
    assert len(fake.connections) == 2
    assert [c.params["text"] for c in fake.of("chat.postMessage")][-2:] == [
        "hello 9", "after the drop"]  # fmt: skip
    assert "Failed to send" not in caplog.text


def test_a_thread_keeps_one_connection_per_host(fake):
    """A listener thread posts to the Web API and to response_urls, two hosts at Slack:
    alternating between them, each keeps its own connection (one kept connection a thread
    was closed and opened again at every switch)."""
    hooks = FakeSlack()  # the response_url's host
    try:
        client = make_client(settings_for(fake))
        respond = Responder(f"{hooks.url}/response/1", client)
        for n in range(5):
            assert client.chat_postMessage(channel="C1", text=f"api {n}")["ok"]
            assert respond(text=f"hook {n}").status_code == 200
        assert len(fake.of("chat.postMessage")) == len(hooks.of("response_url")) == 5
        assert len(fake.connections) == len(hooks.connections) == 1
    finally:
        hooks.close()


def test_errors_and_retries_behave_as_before(fake):
    """A 429 with Retry-After and a 500 on a kept connection are retried by slack-sdk's
    handlers as before; a refusal (ok: false) is the same SlackApiError."""
    client = make_client(settings_for(fake))
    fake.fail("chat.postMessage", (429, {"Retry-After": "1"}), (500, {}))
    assert client.chat_postMessage(channel="C1", text="late")["ok"]
    assert len(fake.of("chat.postMessage")) == 3
    assert len(fake.connections) == 1
    fake.refuse("chat.postMessage", "channel_not_found")
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="refused")
    assert err.value.response["error"] == "channel_not_found"


def test_the_bot_answers_forty_messages_on_a_few_connections(fake, shipped_library):
    """Forty DMs answered by the bot in HTTP mode: each answer posted once, on no more
    connections than Bolt has listener threads (slack-sdk alone opened one a call)."""
    settings = settings_for(fake)
    server, _ = create_server(settings, LiveDocs.load(settings.content, shipped_library), None,
                              Metrics())  # fmt: skip
    with running(server) as port:
        for n in range(40):
            post_event(f"http://127.0.0.1:{port}", dm(f"1700000100.{n:06d}"), f"EvKeep{n}")
            assert wait_until(lambda n=n: len(fake.of("chat.postMessage")) == n + 1, 10)
    assert len(fake.of("chat.postMessage")) == 40
    assert len(fake.connections) <= 11  # Bolt's 10 listener threads and its auth.test


def test_slash_commands_answered_on_a_few_connections_and_a_failing_hook_retried(
    fake, shipped_library
):
    """Twenty slash commands: each answered once at its response_url, on no more
    connections than Bolt has listener threads. A response_url that answers 500 once (a bad
    moment at Slack's end) gets the answer on the retry: Bolt's own respond did not retry
    it, and the answer was lost."""
    settings = settings_for(fake)
    server, _ = create_server(settings, LiveDocs.load(settings.content, shipped_library), None,
                              Metrics())  # fmt: skip
    with running(server) as port:
        base = f"http://127.0.0.1:{port}"
        for n in range(20):
            assert post_command(base, fake, "what does the coach do", n)[0] == 200
            fake.wait_for_path(f"/response/{n}")
        assert len(fake.of("response_url")) == 20
        assert len(fake.connections) <= 11
        fake.fail("response_url", (500, {}))
        assert post_command(base, fake, "what does the coach do", 99)[0] == 200
        assert wait_until(lambda: len([c for c in fake.of("response_url")
                                       if c.path == "/response/99"]) == 2, 10)  # fmt: skip
        answer = [c for c in fake.of("response_url") if c.path == "/response/99"][-1]
        assert "The Coach" in texts(answer.params["blocks"])
