"""The Slack bot over the wire, against the local Slack stand-in, in HTTP and Socket Mode."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.__main__ import main
from bot.config import Settings
from bot.content import load_library
from bot.demo.standin import SCOPES
from bot.live import LiveDocs
from bot.render import ACTION_SHARE, ACTION_SHOW, COMMAND, SHOW_ACTIONS
from bot.slack.server import create_server
from tests.slack_standin import (
    BOT_USER,
    FakeSlack,
    SocketModeServer,
    running,
    signed_post,
    wait_until,
)

SECRET = "test-signing-secret"
TOKEN = "xoxb-test-token-never-real"


def settings_for(fake: FakeSlack, **extra: str) -> Settings:
    env = {
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.api_url,
        "HOST": "127.0.0.1",
        "PORT": "0",
        **extra,
    }
    return Settings.from_env(env)


@pytest.fixture
def bot(fake, shipped_library):
    """The real app in HTTP mode on a free port; yields its base URL."""
    settings = settings_for(fake)
    server, _ = create_server(settings, LiveDocs.load(settings.content, shipped_library))
    with running(server) as port:
        yield f"http://127.0.0.1:{port}"


def post_event(base: str, event: dict, event_id: str = "Ev1", headers: dict | None = None):
    body = json.dumps({"type": "event_callback", "event_id": event_id, "event": event})
    return signed_post(
        base + "/slack/events", body, SECRET, content_type="application/json", headers=headers
    )


def post_command(base: str, fake: FakeSlack, text: str, n: int = 1, trigger: str | None = None):
    """A signed slash command; Slack gives each invocation its own trigger_id."""
    form = {
        "command": COMMAND,
        "text": text,
        "user_id": "U1",
        "channel_id": "C1",
        "team_id": "T1",
        "response_url": f"{fake.url}/response/{n}",
        "trigger_id": trigger or f"trigger-{n}-{time.monotonic_ns()}",
    }
    return signed_post(
        base + "/slack/events",
        urlencode(form),
        SECRET,
        content_type="application/x-www-form-urlencoded",
    )


def post_action(base: str, payload: dict):
    body = urlencode({"payload": json.dumps(payload)})
    return signed_post(
        base + "/slack/events", body, SECRET, content_type="application/x-www-form-urlencoded"
    )


def texts(blocks: list[dict]) -> str:
    """Every text in a list of blocks, joined."""
    return json.dumps(blocks, ensure_ascii=False)


def test_url_verification(bot):
    """Slack's url_verification challenge is echoed."""
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"})
    status, out, _ = signed_post(
        bot + "/slack/events", body, SECRET, content_type="application/json"
    )
    assert status == 200 and b"abc123" in out


def test_healthz_http_mode(bot):
    """GET /healthz is 200 with sections and mode once loaded."""
    with urllib.request.urlopen(bot + "/healthz", timeout=5) as resp:
        assert resp.status == 200
        assert json.loads(resp.read()) == {
            "ok": True, "mode": "http", "sections": 9, "semantic": "off"
        }  # fmt: skip


def test_slash_command_answers_ephemerally_with_share_button(bot, fake):
    """/devops-role <question>: acked fast, answer ephemeral via response_url, shareable."""
    status, _, seconds = post_command(bot, fake, "what does the DevOps coach do?")
    assert status == 200 and seconds < 3
    call = fake.wait_for("response_url")[0]
    assert call.params["response_type"] == "ephemeral"
    blocks = call.params["blocks"]
    assert blocks[0]["type"] == "header" and "The Coach" in blocks[0]["text"]["text"]
    assert "training employees" in texts(blocks)
    share = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert share and share[0]["action_id"] == ACTION_SHARE
    assert call.params["text"]  # plain-text fallback


def test_share_posts_for_everyone_noting_who(bot, fake, shipped_index):
    """Share in channel posts the answer in_channel with the sharer, then deletes the original."""
    coach = shipped_index.answer("coach").best.section
    payload = {
        "type": "block_actions",
        "user": {"id": "U9"},
        "team": {"id": "T1"},
        "channel": {"id": "C1"},
        "container": {"type": "message", "is_ephemeral": True},
        "response_url": f"{fake.url}/response/share",
        "actions": [{"action_id": ACTION_SHARE, "value": coach.id, "type": "button"}],
        "trigger_id": "t",
    }
    assert post_action(bot, payload)[0] == 200
    calls = fake.wait_for("response_url", 2)
    shared = calls[0].params
    assert shared["response_type"] == "in_channel"
    assert "<@U9>" in texts(shared["blocks"]) and "The Coach" in texts(shared["blocks"])
    assert calls[1].params.get("delete_original") is True


@pytest.mark.parametrize("text", ["", "help"])
def test_help(bot, fake, text):
    """/devops-role alone or help explains the three ways to ask and lists topics."""
    post_command(bot, fake, text)
    blocks = fake.wait_for("response_url")[0].params["blocks"]
    body = texts(blocks)
    assert "direct message" in body and "mention me" in body and COMMAND in body
    assert "The Coach" in body


def test_topics(bot, fake):
    """/devops-role topics lists the sections."""
    post_command(bot, fake, "topics")
    body = texts(fake.wait_for("response_url")[0].params["blocks"])
    assert "The System Administrator" in body and "The Coach" in body


def test_mention_answers_in_thread_without_the_mention(bot, fake):
    """A channel mention is answered in a thread on that message."""
    event = {
        "type": "app_mention",
        "user": "U1",
        "text": f"<@{BOT_USER}> what does the DevOps coach do?",
        "ts": "1700000001.000100",
        "channel": "C1",
    }
    assert post_event(bot, event)[0] == 200
    call = fake.wait_for("chat.postMessage")[0]
    assert call.params["channel"] == "C1"
    assert call.params["thread_ts"] == "1700000001.000100"
    assert "The Coach" in texts(call.params["blocks"])


def test_mention_inside_a_thread_stays_in_that_thread(bot, fake):
    """A mention inside a thread is answered in the same thread."""
    event = {
        "type": "app_mention",
        "user": "U1",
        "text": f"<@{BOT_USER}> sys admin",
        "ts": "1700000002.000200",
        "thread_ts": "1700000000.000001",
        "channel": "C1",
    }
    post_event(bot, event)
    call = fake.wait_for("chat.postMessage")[0]
    assert call.params["thread_ts"] == "1700000000.000001"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("help", "direct message"), ("Help!", "mention me"), ("topics", "The Coach")],
)
def test_help_and_topics_in_a_dm(bot, fake, text, expected):
    """'help' and 'topics' in a DM work as they do after the slash command."""
    event = {
        "type": "message",
        "channel_type": "im",
        "user": "U1",
        "text": text,
        "ts": "1700000009.000900",
        "channel": "D9",
    }
    post_event(bot, event, event_id=f"Ev-{text}")
    call = fake.wait_for("chat.postMessage")[0]
    body = texts(call.params["blocks"])
    assert expected in body and "couldn't find" not in body


def test_direct_message_answered_in_dm(bot, fake):
    """A DM is answered in the DM, not in a thread."""
    event = {
        "type": "message",
        "channel_type": "im",
        "user": "U1",
        "text": "secuirty expert",
        "ts": "1700000003.000300",
        "channel": "D1",
    }
    post_event(bot, event)
    call = fake.wait_for("chat.postMessage")[0]
    assert call.params["channel"] == "D1" and "thread_ts" not in call.params
    assert "The Security Expert" in texts(call.params["blocks"])


def test_retried_event_answered_once(bot, fake):
    """A Slack retry (same event_id, X-Slack-Retry-Num) gets no second answer."""
    event = {"type": "app_mention", "user": "U1", "text": f"<@{BOT_USER}> coach",
             "ts": "1700000004.000400", "channel": "C1"}  # fmt: skip
    post_event(bot, event, "EvRetry")
    post_event(bot, event, "EvRetry", headers={"X-Slack-Retry-Num": "1",
                                              "X-Slack-Retry-Reason": "http_timeout"})  # fmt: skip
    fake.wait_for("chat.postMessage")
    time.sleep(0.5)
    assert len(fake.of("chat.postMessage")) == 1


def test_mention_that_also_arrives_as_message_answered_once(bot, fake):
    """The same message delivered as app_mention and as message.im is answered once."""
    ts = "1700000005.000500"
    base = {"user": "U1", "text": f"<@{BOT_USER}> coach", "ts": ts, "channel": "D2"}
    post_event(bot, {"type": "app_mention", **base}, "EvA")
    post_event(bot, {"type": "message", "channel_type": "im", **base}, "EvB")
    fake.wait_for("chat.postMessage")
    time.sleep(0.5)
    assert len(fake.of("chat.postMessage")) == 1


@pytest.mark.parametrize(
    "event",
    [
        {"type": "message", "channel_type": "im", "user": BOT_USER, "bot_id": "BBOT",
         "text": "coach", "ts": "1.1", "channel": "D1"},
        {"type": "message", "channel_type": "im", "bot_id": "BOTHER", "text": "coach",
         "ts": "1.2", "channel": "D1"},
        {"type": "message", "subtype": "message_changed", "channel_type": "im",
         "message": {"text": "coach"}, "ts": "1.3", "channel": "D1"},
        {"type": "message", "subtype": "message_deleted", "channel_type": "im", "ts": "1.4",
         "channel": "D1"},
        {"type": "message", "subtype": "channel_join", "user": "U1", "text": "joined",
         "ts": "1.5", "channel": "C1", "channel_type": "channel"},
    ],
)  # fmt: skip
def test_ignored_messages(bot, fake, event):
    """Own and other bots' messages, edits, deletions and joins get no answer."""
    assert post_event(bot, event, f"Ev{event['ts']}")[0] == 200
    time.sleep(0.5)
    assert fake.of("chat.postMessage") == []


def test_bad_signature_rejected_without_web_api_call(bot, fake):
    """A wrongly signed request is 401 and causes no Web API call."""
    body = json.dumps({"type": "event_callback", "event_id": "EvBad",
                       "event": {"type": "app_mention", "text": "coach", "ts": "2.1",
                                 "channel": "C1", "user": "U1"}})  # fmt: skip
    status, _, _ = signed_post(bot + "/slack/events", body, "wrong-secret",
                               content_type="application/json")  # fmt: skip
    assert status == 401
    time.sleep(0.3)
    assert [c.method for c in fake.calls] == []


def test_old_timestamp_rejected(bot, fake):
    """A request signed more than 5 minutes ago is rejected."""
    body = json.dumps({"type": "url_verification", "challenge": "c"})
    status, _, _ = signed_post(bot + "/slack/events", body, SECRET,
                               content_type="application/json",
                               timestamp=int(time.time()) - 6 * 60)  # fmt: skip
    assert status == 401


def test_user_text_never_pings(bot, fake):
    """A question with <!channel>, <!here> or <@U...> is echoed escaped."""
    post_command(bot, fake, "<!channel> <!here> <@U999> wifi password please")
    body = texts(fake.wait_for("response_url")[0].params["blocks"])
    assert "<!channel>" not in body and "<!here>" not in body and "<@U999>" not in body
    assert "couldn't find that" in body


def workspace_buttons(message: dict) -> list[dict]:
    """The buttons of a message as the workspace keeps it."""
    return [e for b in message.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]


def last_message(fake: FakeSlack, **match: object) -> dict:
    """The newest workspace message whose fields match."""
    found = [m for m in fake.state()["messages"] if all(m.get(k) == v for k, v in match.items())]
    assert found, f"no message with {match}"
    return found[-1]


#: Two documents with the same section: a question for it is a tie, so a did-you-mean.
TIED = {
    "ops.md": "# Operations\n\nHow ops works.\n\n## On-call rota\n\nWho is on call each week.\n",
    "dev.md": "# Development\n\nHow dev works.\n\n## On-call rota\n\nWho is on call each week.\n",
}


@pytest.mark.parametrize("surface", ["slash", "dm"])
@pytest.mark.parametrize(
    ("kind", "question"),
    [("suggest", "on-call rota"), ("hedged", "who makes sure the servers stay up")],
)
def test_section_buttons_are_accepted_and_each_shows_its_section(
    fake, shipped_library, make_content, surface, kind, question
):
    """A did-you-mean (a tie) and a best guess's "Not it? Maybe:" are accepted by Slack, and
    each of their buttons shows its section, in the ephemeral reply (slash) or in the DM's
    thread."""
    library = load_library(make_content(TIED)) if kind == "suggest" else shipped_library
    settings = settings_for(fake)
    server, _ = create_server(settings, LiveDocs.load(settings.content, library))
    with running(server) as port:
        fake.connect(f"http://127.0.0.1:{port}", SECRET)
        text = f"{COMMAND} {question}" if surface == "slash" else question
        assert fake.send("general" if surface == "slash" else "dm", text)["ok"]
        assert wait_until(lambda: any(section_buttons(m) for m in fake.state()["messages"]))
        asked = last_message(fake, user=BOT_USER)
        assert ("Best guess" in texts(asked["blocks"])) == (kind == "hedged")
        buttons = section_buttons(asked)
        assert len(buttons) >= 2 if kind == "suggest" else len(buttons) >= 1
        for button in buttons:
            if surface == "slash":  # the first click replaced the reply: ask again
                before = {m["ts"] for m in fake.state()["messages"]}
                assert fake.send("general", text)["ok"]
                # Wait for the new reply, not the one the last click replaced: a response_url
                # call is recorded before the workspace shows its message.
                assert wait_until(
                    lambda before=before: (
                        last_message(fake, user=BOT_USER, ephemeral=True)["ts"] not in before
                    )
                )
                asked = last_message(fake, user=BOT_USER, ephemeral=True)
            assert fake.click({"ts": asked["ts"], **button})["status"] == 200
            name = button["text"]["text"]

            def shows(name: str = name) -> bool:
                blocks = last_message(fake, user=BOT_USER).get("blocks") or [{}]
                header = blocks[0].get("text", {}).get("text", "")
                # A label names the page too where the name is ambiguous: "Rota · Ops".
                return blocks[0].get("type") == "header" and all(
                    part in header for part in name.split(" · ")
                )

            assert wait_until(shows)
            shown = last_message(fake, user=BOT_USER)
            if surface == "dm":  # in the conversation: Slack does not open a DM's thread
                assert shown["thread_ts"] is None and shown["channel"] == asked["channel"]
    assert fake.refused == []


def test_a_click_where_the_bot_may_no_longer_post_shows_the_section_to_the_clicker(
    fake, shipped_library, caplog
):
    """A section button clicked in a channel thread that no longer takes the bot's messages
    (left, or made read-only, since its reply): the section goes to the clicker alone
    (ephemeral) instead of an apology."""
    settings = settings_for(fake)
    server, _ = create_server(settings, LiveDocs.load(settings.content, shipped_library))
    with running(server) as port:
        fake.connect(f"http://127.0.0.1:{port}", SECRET)
        assert fake.send("general", f"<@{BOT_USER}> who makes sure the servers stay up")["ok"]
        assert wait_until(lambda: any(section_buttons(m) for m in fake.state()["messages"]))
        asked = last_message(fake, user=BOT_USER)
        button = section_buttons(asked)[0]
        fake.refuse("chat.postMessage", "not_in_channel")
        assert fake.click({"ts": asked["ts"], **button})["status"] == 200
        name = button["text"]["text"].split(" · ")[0]

        def shown() -> bool:
            return any(
                m.get("ephemeral") and m.get("user") == BOT_USER
                and name in texts(m.get("blocks") or [])
                for m in fake.state()["messages"]
            )  # fmt: skip

        assert wait_until(shown)
    assert "shown to the clicker alone" in caplog.text
    assert not any("went wrong" in str(m.get("text")) for m in fake.state()["messages"])


def section_buttons(message: dict) -> list[dict]:
    """The buttons of a message that show a section (did-you-mean, Not it? Maybe:)."""
    return [b for b in workspace_buttons(message) if SHOW_ACTIONS.match(b["action_id"])]


def test_a_button_posted_before_numbered_ids_still_works(bot, fake, shipped_index):
    """A did-you-mean button posted by an older version (plain show_section) still answers."""
    coach = shipped_index.answer("coach").best.section
    payload = {
        "type": "block_actions",
        "user": {"id": "U1"},
        "team": {"id": "T1"},
        "channel": {"id": "C1"},
        "container": {"type": "message", "is_ephemeral": True},
        "response_url": f"{fake.url}/response/old",
        "actions": [{"action_id": ACTION_SHOW, "value": coach.id, "type": "button"}],
    }
    assert post_action(bot, payload)[0] == 200
    shown = fake.wait_for("response_url")[0].params
    assert "The Coach" in shown["blocks"][0]["text"]["text"]
    assert "match" not in texts(shown["blocks"])  # no question, so no score to show


def test_a_stale_button_is_acknowledged_and_explained(bot, fake):
    """A click on a button this version does not know is a 200 and a short ephemeral note."""
    payload = {
        "type": "block_actions", "user": {"id": "U1"}, "team": {"id": "T1"},
        "channel": {"id": "C1"}, "container": {"type": "message", "is_ephemeral": False},
        "response_url": f"{fake.url}/response/stale",
        "actions": [{"action_id": "open_wiki_v0", "value": "x", "type": "button"}],
    }  # fmt: skip
    assert post_action(bot, payload)[0] == 200
    note = fake.wait_for("response_url")[0].params
    assert note["response_type"] == "ephemeral" and "older version" in note["text"]
    assert note.get("replace_original") is False


def test_a_stale_home_button_republishes_the_home_tab(bot, fake):
    """A click on an unknown button in the Home tab publishes the current Home tab."""
    payload = {"type": "block_actions", "user": {"id": "U1"}, "team": {"id": "T1"},
               "container": {"type": "view", "view_id": "V1"}, "view": {"id": "V1",
               "type": "home"}, "actions": [{"action_id": "old_topic", "value": "x",
               "type": "button"}]}  # fmt: skip
    assert post_action(bot, payload)[0] == 200
    assert fake.wait_for("views.publish")[0].params["view"]["type"] == "home"


def test_app_home_published_and_a_topic_opens_in_a_modal(bot, fake):
    """The Home tab is accepted; a topic click opens the section in a modal, where the person
    is looking."""
    fake.connect(bot, SECRET)
    assert fake.page_action("/demo/home", {})["ok"]
    fake.wait_for("views.publish")
    assert fake.home is not None and fake.refused == []
    buttons = [e for b in fake.home["blocks"] if b["type"] == "actions" for e in b["elements"]]
    coach = next(b for b in buttons if b["text"]["text"] == "The Coach")
    assert fake.click({"home": True, **coach})["status"] == 200
    view = fake.wait_for("views.open")[0].params["view"]
    assert view["type"] == "modal" and "The Coach" in texts(view["blocks"])
    assert fake.modal["blocks"] == view["blocks"] and fake.refused == []


@pytest.mark.parametrize("where", ["slash", "dm", "dm-long", "home"])
def test_a_refused_reply_is_sent_again_as_plain_text(bot, fake, where, caplog):
    """When Slack refuses a reply anyway, the error is logged and the same answer goes again as
    plain text, so the person is never left without one."""
    question = "what does the DevOps coach do?"
    if where == "slash":
        fake.refuse("response_url", "invalid_blocks")
        post_command(bot, fake, question)
        calls = fake.wait_for("response_url", 2)
    elif where in ("dm", "dm-long"):
        fake.refuse("chat.postMessage", "msg_too_long" if where == "dm" else "msg_blocks_too_long")
        event = {"type": "message", "channel_type": "im", "user": "U1", "text": question,
                 "ts": "1700000020.000100", "channel": "D1"}  # fmt: skip
        post_event(bot, event, "EvRefused")
        calls = fake.wait_for("chat.postMessage", 2)
    else:
        fake.refuse("views.publish", "invalid_arguments")
        post_event(bot, {"type": "app_home_opened", "user": "U1", "tab": "home"}, "EvHomeR")
        calls = fake.wait_for("views.publish", 2)
        assert "The Coach" in texts(calls[1].params["view"]["blocks"])
        assert wait_until(lambda: "Slack refused the Home tab" in caplog.text)
        return
    again = calls[1].params
    assert "blocks" not in again and "training employees" in again["text"]
    assert "The Coach" in again["text"] and len(again["text"]) <= 40_000
    assert wait_until(lambda: "Slack refused a reply" in caplog.text)


@pytest.mark.parametrize(
    "refusal", ["restricted_action_read_only_channel", "restricted_action_thread_locked",
                "not_in_channel"]
)  # fmt: skip
def test_a_channel_that_takes_no_reply_sends_it_to_the_asker(bot, fake, refusal, caplog):
    """A mention in a channel the bot may not post in (read-only, or it left it since): the
    answer goes to the asker as a DM, saying why, instead of nowhere (the apology went to
    the same channel and was refused too)."""
    fake.refuse("chat.postMessage", refusal)
    event = {"type": "app_mention", "user": "U1", "text": f"<@{BOT_USER}> what does the coach do",
             "ts": "1700000022.000100", "channel": "C9"}  # fmt: skip
    post_event(bot, event, f"EvNotHere{refusal}")
    first, moved = (c.params for c in fake.wait_for("chat.postMessage", 2))
    assert first["channel"] == "C9" and moved["channel"] == "U1" and "thread_ts" not in moved
    assert "I could not reply in <#C9>" in texts(moved["blocks"])
    assert "The Coach" in texts(moved["blocks"])
    assert wait_until(lambda: f"in C9 ({refusal}); sending it to U1 as a DM" in caplog.text)
    time.sleep(0.3)
    assert len(fake.of("chat.postMessage")) == 2  # no apology posted after it


@pytest.mark.parametrize(
    ("text", "expected"),
    [("hi", "Hi!"), ("thanks!", "welcome"), ("thanks, that helped", "welcome"),
     ("Perfect, thank you!", "welcome"), ("ok", "Glad"), ("got it", "Glad"), (":+1:", "Glad"),
     ("🎉", "Glad"), ("cool 👍", "Glad")],
)  # fmt: skip
def test_greetings_get_a_short_friendly_reply(bot, fake, text, expected):
    """'hi' and 'thanks!' in a DM get one friendly line, not the decline and topic list, and
    so does a short thank-you with a few more words ('thanks, that helped'), which the
    engine would otherwise read as a question about a section."""
    event = {"type": "message", "channel_type": "im", "user": "U1", "text": text,
             "ts": "1700000021.000100", "channel": "D1"}  # fmt: skip
    post_event(bot, event, f"EvHi{text}")
    call = fake.wait_for("chat.postMessage")[0].params
    assert expected in call["text"] and len(call["blocks"]) == 1
    assert "couldn't find" not in texts(call["blocks"])


def test_a_question_that_starts_with_thanks_is_still_answered(shipped_library):
    """'thanks! and what does the coach do?' asks something: it is a question, not thanks."""
    from bot.slack.reply import builtin_reply
    from bot.smalltalk import is_thanks

    assert is_thanks("thanks, that helped") and is_thanks("that helped, thanks")
    assert not is_thanks("thanks! and what does the coach do?")
    assert not is_thanks("thanks for explaining the security expert and the sysadmin roles")
    assert not is_thanks("who handles thanks notes")
    assert builtin_reply("thanks, what does the coach do?", shipped_library) is None


def test_the_decline_offers_the_topics_as_buttons(bot, fake):
    """An off-topic question is declined with every topic one click away."""
    post_command(bot, fake, "wifi password please")
    blocks = fake.wait_for("response_url")[0].params["blocks"]
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert "couldn't find" in texts(blocks) and "The Coach" in [b["text"]["text"] for b in buttons]
    assert fake.refused == []


@pytest.mark.parametrize("failure", [(429, {"Retry-After": "1"}), (500, {})])
def test_web_api_errors_retried_and_answer_delivered(bot, fake, failure):
    """429 (Retry-After) and 500 from chat.postMessage are retried; the answer arrives."""
    fake.fail("chat.postMessage", failure)
    event = {"type": "message", "channel_type": "im", "user": "U1", "text": "coach",
             "ts": "1700000009.000900", "channel": "D1"}  # fmt: skip
    post_event(bot, event, "EvFail")
    calls = fake.wait_for("chat.postMessage", 2)
    assert "The Coach" in texts(calls[-1].params["blocks"])
    if failure[0] == 429:
        assert calls[1].at - calls[0].at >= 0.9


def test_twenty_concurrent_slash_commands(bot, fake):
    """20 slash commands at once are each acknowledged within 3 s and all answered."""
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda n: post_command(bot, fake, "coach", n), range(20)))
    assert all(status == 200 and seconds < 3 for status, _, seconds in results)
    assert len(fake.wait_for("response_url", 20)) == 20


def test_socket_mode_answers_once_and_reports_health(fake, shipped_library):
    """In Socket Mode an event is acked and answered; a redelivery is not answered again."""
    with socket_mode(fake, shipped_library) as (ws, socket, port):
        assert ws.connected.wait(10)
        assert wait_until(socket.client.is_connected, timeout=10)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            assert json.loads(r.read())["mode"] == "socket"
        envelope = mention_envelope("env-1", "EvSock", "1700000010.000100")
        ws.push(envelope)
        assert ws.acks.get(timeout=10)["envelope_id"] == "env-1"
        call = fake.wait_for("chat.postMessage")[0]
        assert call.params["thread_ts"] == "1700000010.000100"
        ws.push({**envelope, "envelope_id": "env-2", "retry_attempt": 1})
        assert ws.acks.get(timeout=10)["envelope_id"] == "env-2"
        time.sleep(0.5)
        assert len(fake.of("chat.postMessage")) == 1


def test_healthz_503_until_socket_connected(fake, shipped_library):
    """In Socket Mode /healthz is 503 while the socket is not connected."""
    server, _ = socket_bot(fake, shipped_library)
    with running(server) as port:
        assert health(port) == 503


def test_serve_settings_errors_name_every_variable_and_hide_tokens(capsys):
    """`serve` with bad settings exits 2 naming each bad variable, never a token value."""
    import io

    err = io.StringIO()
    env = {"SLACK_BOT_TOKEN": "secret-value-123", "PORT": "http", "LOG_LEVEL": "LOUD"}
    code = main(["serve"], environ=env, stderr=err)
    message = err.getvalue()
    assert code == 2
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "PORT", "LOG_LEVEL"):
        assert name in message
    assert "secret-value-123" not in message
    assert len(message.strip().splitlines()) == 1


def test_error_handler_tells_user_and_keeps_running(bot, fake, monkeypatch):
    """A listener crash is logged, the user is told, and the next request still works."""
    import bot.slack.reply as slack_app

    calls = {"n": 0}
    real = slack_app.answer_blocks

    def boom(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("kaboom")
        return real(*args, **kwargs)

    monkeypatch.setattr(slack_app, "answer_blocks", boom)
    post_command(bot, fake, "coach", 1)
    sorry = fake.wait_for("response_url")[0].params
    assert "went wrong" in sorry["text"]
    post_command(bot, fake, "coach", 2)
    assert "The Coach" in texts(fake.wait_for("response_url", 2)[1].params["blocks"])


def test_manifest_matches_what_the_bot_listens_to():
    """manifest.yml declares exactly the command, events and scopes the bot uses, and the
    Slack stand-in grants the bot exactly those scopes."""
    from pathlib import Path

    import yaml

    manifest = yaml.safe_load((Path(__file__).parent.parent / "manifest.yml").read_text())
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == [COMMAND]
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert events == {"app_home_opened", "app_mention", "message.im"}
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert scopes == {"app_mentions:read", "chat:write", "commands", "im:history",
                      "channels:history", "groups:history", "mpim:history"}  # fmt: skip
    assert scopes == SCOPES
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    question=st.lists(
        st.sampled_from(
            ["<!channel>", "<!here>", "<@U1>", "<!subteam^S1|@ops>", "coach", "🚀", "\u202e",
             "", "<script>", "&amp;", "*bold*", "x" * 3000, "what", "\x00", "help", "topics"]
        ),
        max_size=8,
    ).map(" ".join)
)  # fmt: skip
def test_slash_command_handler_any_text(bot, fake, question):
    """Any slash-command text over the wire: acked, answered within limits, pinging nobody."""
    n = f"prop-{time.monotonic_ns()}"
    status, _, _ = post_command(bot, fake, question, n)
    assert status == 200
    blocks = fake.wait_for_path(f"/response/{n}").params["blocks"]
    assert 1 <= len(blocks) <= 50
    for block in blocks:
        if block["type"] == "section":
            text = block["text"]["text"]
            assert 0 < len(text) <= 3000
            assert "<!" not in text and "<@U1>" not in text


def test_web_api_timeout_retried(fake, shipped_library):
    """A Web API call that hangs past SLACK_API_TIMEOUT is retried; the answer arrives."""
    settings = settings_for(fake, SLACK_API_TIMEOUT="1")
    server, _ = create_server(settings, LiveDocs.load(settings.content, shipped_library))
    fake.fail("chat.postMessage", (0, {"delay": 2}))
    with running(server) as port:
        event = {"type": "message", "channel_type": "im", "user": "U1", "text": "coach",
                 "ts": "1700000011.000100", "channel": "D1"}  # fmt: skip
        post_event(f"http://127.0.0.1:{port}", event, "EvSlow")
        calls = fake.wait_for("chat.postMessage", 2, timeout=20)
        assert "The Coach" in texts(calls[-1].params["blocks"])


@pytest.mark.parametrize("chunked", [False, True])
def test_a_10_mib_body_gets_a_413_not_a_reset(bot, fake, chunked):
    """A 10 MiB body, sent whole with a length or chunked, is answered 413 (the server reads
    it to the end rather than resetting the connection under the client) and reaches no
    listener; the bot keeps answering."""
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(bot)
    body = b'{"type": "event_callback", "x": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if chunked:
        pieces = iter([body[i : i + 65536] for i in range(0, len(body), 65536)])
        conn.request("POST", "/slack/events", body=pieces, headers=headers, encode_chunked=True)
    else:
        conn.request("POST", "/slack/events", body=body, headers=headers)
    response = conn.getresponse()
    assert response.status == 413
    conn.close()
    assert fake.calls == []
    assert post_command(bot, fake, "the coach")[0] == 200


def test_an_announced_body_past_what_the_server_takes_is_refused_at_once(bot, fake):
    """A body announced past SPOOL_BYTES is refused with 413 from its headers, before it is
    sent (the client that sends it anyway may see the connection close)."""
    import http.client
    from urllib.parse import urlsplit

    from bot.slack.server import SPOOL_BYTES

    url = urlsplit(bot)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.putrequest("POST", "/slack/events")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(SPOOL_BYTES + 10))
    conn.endheaders()
    conn.send(b'{"type": "url_verification", "challenge": "' + b"x" * 1000)
    assert conn.getresponse().status == 413
    conn.close()
    assert fake.calls == []


@pytest.mark.parametrize(
    ("signed", "body", "status"),
    [(False, "{not json", 401), (False, '{"type": "url_verification"}' + " " * 900_000, 401),
     (True, "{not json", 400), (True, "[1, 2]", 400), (True, "\udcff", 400)],
)  # fmt: skip
def test_the_signature_is_checked_before_the_body_is_read(bot, fake, caplog, signed, body,
                                                           status):  # fmt: skip
    """An unsigned request is refused 401 and a signed one that is not a payload 400, each
    with one warning line: no traceback, nothing logged at ERROR, no listener reached."""
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(bot)
    raw = body.encode("utf-8", "surrogateescape")
    headers = {"Content-Type": "application/json"}
    if signed:  # as Slack signs: HMAC-SHA256 of "v0:<timestamp>:<the bytes sent>"
        ts = str(int(time.time()))
        digest = hmac.new(SECRET.encode(), f"v0:{ts}:".encode() + raw, hashlib.sha256)
        headers |= {
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": f"v0={digest.hexdigest()}",
        }
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.request("POST", "/slack/events", body=raw, headers=headers)
    got = conn.getresponse().status
    conn.close()
    assert got == status
    assert wait_until(lambda: "refused a request to /slack/events" in caplog.text)
    lines = [r for r in caplog.records if "refused a request" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelname == "WARNING"
    assert not [r for r in caplog.records if r.levelno >= 40] and "Traceback" not in caplog.text
    assert fake.calls == []


def socket_bot(fake, library):
    """The bot in Socket Mode (not yet connected) and its /healthz server."""
    settings = settings_for(fake, SLACK_APP_TOKEN="xapp-test", SLACK_SIGNING_SECRET="")
    return create_server(settings, LiveDocs.load(settings.content, library))


@contextmanager
def socket_mode(fake, library) -> Iterator[tuple[SocketModeServer, object, int]]:
    """A Socket Mode server stand-in and the bot connecting to it, with its /healthz port;
    both closed after."""
    ws = SocketModeServer()
    fake.ws_url = ws.url
    server, socket = socket_bot(fake, library)
    try:
        with running(server) as port:
            socket.connect()
            yield ws, socket, port
    finally:
        socket.close()
        ws.close()


def health(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def mention_envelope(envelope_id: str, event_id: str, ts: str) -> dict:
    return {
        "envelope_id": envelope_id,
        "type": "events_api",
        "accepts_response_payload": False,
        "payload": {
            "type": "event_callback",
            "event_id": event_id,
            "event": {"type": "app_mention", "user": "U1", "channel": "C1",
                      "text": f"<@{BOT_USER}> coach", "ts": ts},
        },
    }  # fmt: skip


def test_socket_reconnects_after_disconnect_envelope(fake, shipped_library):
    """A `disconnect` envelope makes the bot open a new socket and keep answering, once."""
    with socket_mode(fake, shipped_library) as (ws, socket, _):
        assert ws.connected.wait(10)
        ws.push({"type": "disconnect", "reason": "refresh_requested"})
        assert wait_until(lambda: len(ws.connections) >= 2)
        assert len(fake.of("apps.connections.open")) >= 2
        assert wait_until(socket.client.is_connected)
        ws.push(mention_envelope("env-a", "EvDisc", "1700000012.000100"))
        fake.wait_for("chat.postMessage")
        time.sleep(0.5)
        assert len(fake.of("chat.postMessage")) == 1


def test_socket_drop_reports_503_then_recovers(fake, shipped_library):
    """When the socket drops, /healthz is 503 until the bot has reconnected by itself."""
    with socket_mode(fake, shipped_library) as (ws, _, port):
        assert wait_until(lambda: health(port) == 200)
        ws.refuse = True
        ws.drop()
        assert wait_until(lambda: health(port) == 503)
        ws.refuse = False
        assert wait_until(lambda: health(port) == 200, timeout=60)
        ws.push(mention_envelope("env-b", "EvBack", "1700000013.000100"))
        assert "The Coach" in texts(fake.wait_for("chat.postMessage")[0].params["blocks"])


def interactive_envelope(envelope_id: str, payload: dict) -> dict:
    return {"envelope_id": envelope_id, "type": "interactive",
            "accepts_response_payload": False, "payload": payload}  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "question"),
    [("suggest", "on-call rota"), ("hedged", "who makes sure the servers stay up")],
)
def test_socket_mode_did_you_mean_best_guess_and_home_tab(
    fake, shipped_library, make_content, kind, question
):
    """In Socket Mode: a DM's did-you-mean (a tie) or best guess is accepted and each of its
    section buttons shows its section in the thread; the Home tab is published and a topic
    opens in a modal."""
    library = load_library(make_content(TIED)) if kind == "suggest" else shipped_library
    with socket_mode(fake, library) as (ws, socket, _):
        assert wait_until(socket.client.is_connected, timeout=10)
        ws.push({"envelope_id": "e-dm", "type": "events_api", "accepts_response_payload": False,
                 "payload": {"type": "event_callback", "event_id": "EvSockDym", "event": {
                     "type": "message", "channel_type": "im", "user": "U1", "text": question,
                     "ts": "1700000030.000100", "channel": "D1"}}})  # fmt: skip
        reply = fake.wait_for("chat.postMessage")[0].params
        buttons = [e for b in reply["blocks"] if b["type"] == "actions" for e in b["elements"]
                   if SHOW_ACTIONS.match(e["action_id"])]  # fmt: skip
        assert len(buttons) >= (2 if kind == "suggest" else 1) and fake.refused == []
        assert ("Did you mean" in texts(reply["blocks"])) == (kind == "suggest")
        for n, button in enumerate(buttons):
            ws.push(interactive_envelope(f"e-click-{n}", {
                "type": "block_actions", "user": {"id": "U1"}, "team": {"id": "T1"},
                "channel": {"id": "D1"}, "trigger_id": f"t{n}",
                "container": {"type": "message", "channel_id": "D1", "is_ephemeral": False,
                              "message_ts": "1700000030.000200"},
                "message": {"ts": "1700000030.000200", "blocks": reply["blocks"]},
                "actions": [{**button, "block_id": "b"}]}))  # fmt: skip
            shown = fake.wait_for("chat.postMessage", n + 2)[-1].params
            header = shown["blocks"][0]["text"]["text"]
            assert all(part in header for part in button["text"]["text"].split(" · "))
            assert shown.get("thread_ts") is None  # a DM: in the conversation, not a thread
        ws.push({"envelope_id": "e-home", "type": "events_api", "accepts_response_payload": False,
                 "payload": {"type": "event_callback", "event_id": "EvSockHome", "event": {
                     "type": "app_home_opened", "user": "U1", "tab": "home"}}})  # fmt: skip
        view = fake.wait_for("views.publish")[0].params["view"]
        topic = next(e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"])
        ws.push(
            interactive_envelope(
                "e-topic",
                {
                    "type": "block_actions",
                    "user": {"id": "U1"},
                    "team": {"id": "T1"},
                    "trigger_id": "t-home",
                    "container": {"type": "view", "view_id": "VHOME"},
                    "view": {"id": "VHOME", "type": "home"},
                    "actions": [{**topic, "block_id": "b"}],
                },
            )
        )
        modal = fake.wait_for("views.open")[0].params["view"]
        assert topic["text"]["text"] in texts(modal["blocks"])
        assert fake.refused == []


def free_port() -> int:
    import socket as sockets

    with sockets.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_process(tmp_path, api_url: str, port: int, **extra: str):
    """`devops-role-bot serve` in Socket Mode as a real process, its stderr in a file."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env |= {"SLACK_BOT_TOKEN": TOKEN, "SLACK_APP_TOKEN": "xapp-test-never-real",
            "SLACK_API_URL": api_url, "HOST": "127.0.0.1", "PORT": str(port),
            "DATA_DIR": str(tmp_path), **extra}  # fmt: skip
    err = (tmp_path / "stderr.log").open("w+")  # closed by the caller
    return subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env, stderr=err), err


def test_serve_keeps_trying_an_unreachable_slack_then_connects(fake, tmp_path):
    """Slack unreachable at start: one line a try naming the cause, no traceback, /healthz
    503; once Slack answers, the bot connects by itself and /healthz is 200."""
    slack_port, port = free_port(), free_port()
    proc, err = serve_process(tmp_path, f"http://127.0.0.1:{slack_port}/api/", port)
    try:
        assert wait_until(lambda: "cannot reach Slack" in Path(err.name).read_text(), timeout=30)
        assert health(port) == 503
        ws = SocketModeServer()
        late = FakeSlack(port=slack_port)
        late.ws_url = ws.url
        try:
            assert wait_until(lambda: health(port) == 200, timeout=30)
            assert ws.connected.is_set()
        finally:
            late.close()
            ws.close()
    finally:
        proc.terminate()
        proc.wait(10)
        err.close()
    log = Path(err.name).read_text()
    tries = [line for line in log.splitlines() if "cannot reach Slack" in line]
    assert tries and all("Connection refused" in line for line in tries)
    assert "Traceback" not in log and "xapp-test-never-real" not in log and TOKEN not in log


@pytest.mark.parametrize(
    ("method", "variable"),
    [("auth.test", "SLACK_BOT_TOKEN"), ("apps.connections.open", "SLACK_APP_TOKEN")],
)
def test_serve_exits_2_for_a_token_slack_refuses(fake, tmp_path, method, variable):
    """A token Slack refuses stops `serve` with exit code 2 and one line naming the variable."""
    fake.refuse(method, "invalid_auth")
    proc, err = serve_process(tmp_path, fake.api_url, free_port())
    try:
        assert proc.wait(30) == 2
    finally:
        if proc.poll() is None:
            proc.kill()
        err.close()
    log = Path(err.name).read_text()
    assert f"Slack refused {variable}: invalid_auth" in log
    assert "Traceback" not in log and TOKEN not in log


def _long_doc() -> str:
    """A page with one section of about 30,000 characters: prose, then a long code block."""
    prose = "\n\n".join(f"Paragraph {n} says word{n} about the release train." for n in range(400))
    code = "\n".join(f"step_{n} = run('deploy', {n})" for n in range(500))
    return f"# Handbook\n\n## Release process\n\n{prose}\n\n```python\n{code}\n```\n\nThe end.\n"


@pytest.mark.parametrize("surface", ["dm", "mention", "slash"])
def test_a_long_section_arrives_whole_in_parts_slack_accepts(fake, make_content, surface):
    """A section past Slack's ~12,000 characters of blocks (msg_blocks_too_long) comes in
    parts Slack accepts: each ends with "Show the rest", which posts the next part where the
    answer is (the DM, the thread, the ephemeral reply); every word arrives once and no code
    block is left open."""
    from bot.render import ACTION_MORE

    library = load_library(make_content({"handbook.md": _long_doc()}))
    settings = settings_for(fake)
    server, _ = create_server(settings, LiveDocs.load(settings.content, library))
    with running(server) as port:
        fake.connect(f"http://127.0.0.1:{port}", SECRET)
        question = "what is the release process"
        text = {"dm": question, "mention": f"@devops-role-bot {question}",
                "slash": f"{COMMAND} {question}"}[surface]  # fmt: skip
        assert fake.send("dm" if surface == "dm" else "general", text)["ok"]
        parts: list[dict] = []
        while True:
            seen = len(parts)
            assert wait_until(lambda seen=seen: len(bot_replies(fake)) > seen), parts
            parts = bot_replies(fake)
            more = [b for b in workspace_buttons_all(parts[-1]) if b["action_id"] == ACTION_MORE]
            if not more:
                break
            assert fake.click({"ts": parts[-1]["ts"], **more[0]})["status"] == 200
        assert fake.refused == []
        assert 3 <= len(parts) <= 6
        body = "".join(
            b["text"]["text"] for p in parts for b in p["blocks"] if b["type"] == "section"
        )
        for n in (0, 199, 399):
            assert body.count(f"word{n} ") == 1
        for n in (0, 250, 499):
            assert body.count(f"step_{n} = ") == 1
        assert "The end." in body
        for p in parts:
            for b in p["blocks"]:
                if b["type"] == "section":
                    assert b["text"]["text"].count("```") % 2 == 0, b["text"]["text"][-200:]
        first = parts[0]
        if surface == "mention":
            assert {p["thread_ts"] for p in parts} == {first["thread_ts"]} != {None}
        if surface == "dm":
            assert {p["thread_ts"] for p in parts} == {None}
        if surface == "slash":
            assert all(p["ephemeral"] for p in parts)


def bot_replies(fake: FakeSlack) -> list[dict]:
    """The bot's messages in the workspace, oldest first."""
    return [m for m in fake.state()["messages"] if m.get("user") == BOT_USER]


def workspace_buttons_all(message: dict) -> list[dict]:
    """Every button of a message: in actions blocks and as section accessories."""
    blocks = message.get("blocks") or []
    return workspace_buttons(message) + [
        b["accessory"] for b in blocks if b.get("accessory", {}).get("type") == "button"
    ]


def slash_answer(fake: FakeSlack, question: str) -> dict:
    """The bot's (ephemeral) answer to the slash command asking ``question`` in #general."""
    assert fake.send("general", f"{COMMAND} {question}")["ok"]
    assert wait_until(lambda: bot_replies(fake))
    return bot_replies(fake)[-1]


def shared_by_click(fake: FakeSlack, asked: dict) -> dict:
    """The message a click on ``asked``'s Share in channel button posts for everyone."""
    share = next(b for b in workspace_buttons(asked) if b["action_id"] == ACTION_SHARE)
    assert fake.click({"ts": asked["ts"], **share})["status"] == 200

    def shared() -> list[dict]:
        return [m for m in fake.state()["messages"] if m.get("via_bot")
                and not m.get("ephemeral")]  # fmt: skip

    assert wait_until(shared)
    return shared()[0]


@pytest.mark.parametrize(("question", "hedged"), [("the coach", False), ("monitoring", True)])
def test_a_shared_answer_keeps_its_match_and_best_guess_marker(fake, shipped_library,
                                                               question, hedged):  # fmt: skip
    """Share on an ephemeral answer (a click Slack sends without the message) posts it for
    everyone with its "match N%", and a best guess still says it is one."""
    settings = settings_for(fake)
    server, _ = create_server(settings, LiveDocs.load(settings.content, shipped_library))
    with running(server) as port:
        fake.connect(f"http://127.0.0.1:{port}", SECRET)
        asked = slash_answer(fake, question)
        before, after = texts(asked["blocks"]), texts(shared_by_click(fake, asked)["blocks"])
        probability = re.search(r"match \d+%", before).group(0)
        assert probability in after and "shared by <@" in after
        assert ("Best guess" in after) == hedged == ("Best guess" in before)
    assert fake.refused == []


def test_a_dm_with_a_file_is_answered(bot, fake):
    """A DM with a file attached (subtype file_share) is answered from its text; a file
    with no text gets a line saying the bot reads only words. Every post has unfurls off."""
    event = {"type": "message", "subtype": "file_share", "channel_type": "im", "user": "U1",
             "text": "what does the coach do", "ts": "1700000040.000100", "channel": "D1",
             "files": [{"id": "F1", "name": "notes.pdf"}]}  # fmt: skip
    post_event(bot, event, "EvFile1")
    answer = fake.wait_for("chat.postMessage")[0].params
    assert "The Coach" in texts(answer["blocks"])
    post_event(bot, {**event, "text": "", "ts": "1700000040.000200"}, "EvFile2")
    notice = fake.wait_for("chat.postMessage", 2)[1].params
    assert "not files" in notice["text"]
    for call in fake.of("chat.postMessage"):
        assert call.params["unfurl_links"] is False and call.params["unfurl_media"] is False


def test_home_pages_open_their_sections_and_a_section_on_top(fake, tmp_path):
    """On a large folder the Home tab's page button opens the page's sections in a modal;
    a section clicked there opens on top of it (views.push): all accepted by Slack."""
    from bot.render import PAGE_ACTIONS
    from tests.conftest import KNOWLEDGEHUB

    if not KNOWLEDGEHUB.is_dir():
        pytest.skip("shared corpus not present")
    library = load_library(KNOWLEDGEHUB)
    settings = settings_for(fake, DATA_DIR=str(tmp_path))
    server, _ = create_server(settings, LiveDocs.load(settings.content, library))
    with running(server) as port:
        fake.connect(f"http://127.0.0.1:{port}", SECRET)
        fake.page_action("/demo/home", {})
        home = fake.wait_for("views.publish")[0].params["view"]
        pages = [e for b in home["blocks"] if b["type"] == "actions" for e in b["elements"]
                 if PAGE_ACTIONS.match(e["action_id"])]  # fmt: skip
        assert len(pages) == len(library.documents)
        page = next(p for p in pages if p["value"].endswith("02_02_03_Git_Flow.md"))
        assert fake.click({"home": True, **page})["ok"]
        opened = fake.wait_for("views.open")[0].params["view"]
        sections = [e for b in opened["blocks"] if b["type"] == "actions" for e in b["elements"]]
        doc = next(d for d in library.documents if d.path == page["value"])
        assert len(sections) == len(doc.sections)
        assert fake.click({"modal": True, **sections[-1]})["ok"]
        pushed = fake.wait_for("views.push")[0].params["view"]
        assert doc.sections[-1].name in texts(pushed["blocks"])
        assert len(fake.modals) == 2 and fake.modal["blocks"] == pushed["blocks"]
    assert fake.refused == []


def test_a_decline_on_a_large_folder_offers_the_most_asked(fake, tmp_path):
    """On a large folder a decline offers the sections asked most (from the history), names
    the docs as DOCS_NAME says, and points to the Home tab: no wall of buttons."""
    from tests.conftest import KNOWLEDGEHUB

    if not KNOWLEDGEHUB.is_dir():
        pytest.skip("shared corpus not present")
    from bot.store import open_store

    library = load_library(KNOWLEDGEHUB, name="the Salesforce DevOps hub")
    settings = settings_for(fake, DATA_DIR=str(tmp_path))
    store = open_store(None, tmp_path)
    server, _ = create_server(settings, LiveDocs.load(settings.content, library), store)
    with running(server) as port:
        base = f"http://127.0.0.1:{port}"
        for n, question in enumerate(["git flow", "git flow", "hotfix in git"]):
            post_command(base, fake, question, n + 1)
            fake.wait_for_path(f"/response/{n + 1}")
        post_command(base, fake, "wifi password please", 9)
        blocks = fake.wait_for_path("/response/9").params["blocks"]
    buttons = [e["text"]["text"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    asked = [r["section"].split(" > ")[-1] for r in store.history(0) if r["section"]][:3]
    assert buttons and buttons[0].startswith(asked[0]) and len(buttons) <= 5
    assert "couldn't find that in the Salesforce DevOps hub" in texts(blocks)
    assert "Home" in texts(blocks)
    assert fake.refused == []


def test_a_replayed_slash_command_is_answered_once(bot, fake):
    """The same signed slash command sent twice (a replay: same trigger_id, within the five
    minutes its signature holds) is answered once; another invocation is answered."""
    for _ in range(3):
        assert post_command(bot, fake, "the coach", 1, trigger="trigger-same")[0] == 200
    post_command(bot, fake, "the coach", 2)
    fake.wait_for("response_url", 2)
    time.sleep(0.5)  # room for a wrong third answer to arrive
    assert sorted(c.path for c in fake.of("response_url")) == ["/response/1", "/response/2"]


def test_the_docs_own_links_arrive_as_links_to_the_published_pages(fake, make_content):
    """With DOCS_BASE_URL, a link in a section's text to another doc's file arrives in Slack
    as a link to that doc's page, in the answer and in the answer shared in the channel;
    Slack accepts both."""
    root = make_content(
        {
            "guides/setup.md": "# Setup\n\nConfigure [the proxy](../ops/net.md#proxy) first.\n",
            "ops/net.md": "---\nslug: /network\n---\n# Network\n\n## Proxy\n\nUse it.\n",
        }
    )
    base = "https://docs.example.com/docs"
    library = load_library(root, base_url=base)
    settings = settings_for(fake, DOCS_BASE_URL=base, CONTENT_DIR=str(root))
    link = f"<{base}/network#proxy|the proxy>"
    server, _ = create_server(settings, LiveDocs.load(settings.content, library))
    with running(server) as port:
        fake.connect(f"http://127.0.0.1:{port}", SECRET)
        asked = slash_answer(fake, "how do I configure the setup")
        assert f"Configure {link} first." in texts(asked["blocks"])
        assert f"Configure {link} first." in texts(shared_by_click(fake, asked)["blocks"])
    assert fake.refused == []
