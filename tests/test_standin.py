"""The Slack stand-in itself: Block Kit checked against Slack's limits, errors shown."""

from __future__ import annotations

import json
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from bot.demo.standin import GENERAL, FakeSlack, block_errors, view_errors


@pytest.fixture
def standin():
    """A stand-in with no bot attached."""
    s = FakeSlack()
    yield s
    s.close()


def api(standin: FakeSlack, method: str, params: dict) -> dict:
    req = Request(standin.api_url + method, data=json.dumps(params).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    with urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@pytest.mark.parametrize(
    ("blocks", "problem"),
    [
        ([section("x")] * 51, "more than 50 blocks"),
        ([section("x" * 3001)], "1-3000"),
        ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}], "1-150"),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}], "plain_text"),
        ([{"type": "actions", "elements": []}], "1-25"),
        ([{"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "b" * 76}}]}], "1-75"),
        ([{"type": "banner"}], "unknown block type"),
        ([{"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "a"}, "action_id": "s"},
            {"type": "button", "text": {"type": "plain_text", "text": "b"}, "action_id": "s"},
        ]}], "action_id 's' is not unique in its block"),
        ([{**section("a"), "block_id": "x"}, {**section("b"), "block_id": "x"}],
         "block_id 'x' is not unique"),
        ([{"type": "actions", "elements": [{"type": "button", "action_id": "a" * 256,
            "text": {"type": "plain_text", "text": "b"}}]}], "action_id must be 1-255"),
        ([{"type": "actions", "elements": [{"type": "button", "action_id": "a",
            "text": {"type": "mrkdwn", "text": "b"}}]}], "must be plain_text"),
        ([{"type": "context", "elements": [{"type": "mrkdwn", "text": ""}]}], "1-3000"),
        ("not a list", "must be a list"),
    ],
)  # fmt: skip
def test_block_errors_follow_slack_limits(blocks, problem):
    """Each of Slack's documented limits is enforced with a readable reason."""
    assert any(problem in e for e in block_errors(blocks))


def test_the_same_action_id_in_two_blocks_passes():
    """Slack asks action_ids to be unique within their block only."""
    button = {"type": "button", "text": {"type": "plain_text", "text": "a"}, "action_id": "s"}
    block = {"type": "actions", "elements": [button]}
    assert block_errors([block, block]) == []


@pytest.mark.parametrize(
    ("view", "problem"),
    [
        ({"type": "modal", "title": {"type": "plain_text", "text": "t" * 25}, "blocks": []},
         "title: text must be 1-24"),
        ({"type": "modal", "blocks": []}, "needs a title"),
        ({"type": "modal", "title": {"type": "plain_text", "text": "t"}, "blocks": [
            {"type": "input", "label": {"type": "plain_text", "text": "l"},
             "element": {"type": "plain_text_input", "action_id": "c"}}]}, "needs a submit"),
        ({"type": "home", "blocks": [section("x")] * 101}, "more than 100 blocks"),
        ({"type": "home", "blocks": [], "private_metadata": "m" * 3001}, "private_metadata"),
        ({"type": "page", "blocks": []}, "modal or home"),
    ],
)  # fmt: skip
def test_view_errors_follow_slack_limits(view, problem):
    """Modals and the Home tab are checked as views.open and views.publish check them."""
    assert any(problem in e for e in view_errors(view))


def test_refused_view_and_response_answered_like_slack(standin):
    """views.publish refuses a bad view with invalid_arguments; a response_url refuses bad
    blocks with HTTP 400 and the error code as its body; msg_too_long past 40,000."""
    out = api(
        standin,
        "views.publish",
        {"user_id": "U1", "view": {"type": "home", "blocks": [section("")]}},
    )
    assert out["ok"] is False and out["error"] == "invalid_arguments"
    req = Request(
        standin.url + "/response/r0",
        method="POST",
        data=json.dumps({"blocks": [section("")], "text": "t"}).encode(),
    )
    req.add_header("Content-Type", "application/json")
    with pytest.raises(HTTPError) as refused:
        urlopen(req, timeout=5)
    assert refused.value.code == 400 and refused.value.read() == b"invalid_blocks"
    out = api(standin, "chat.postMessage", {"channel": GENERAL, "text": "x" * 40_001})
    assert out["error"] == "msg_too_long"
    assert [r[1] for r in standin.refused] == [
        "invalid_arguments",
        "invalid_blocks",
        "msg_too_long",
    ]


def test_valid_blocks_pass():
    """Blocks within every limit have no errors."""
    assert block_errors([section("x" * 3000)] * 50) == []


def test_invalid_blocks_answered_like_slack_and_shown(standin):
    """chat.postMessage with bad blocks gets invalid_blocks, and the page shows the error."""
    out = api(standin, "chat.postMessage", {"channel": GENERAL, "blocks": [section("")]})
    assert out == {"ok": False, "error": "invalid_blocks", "errors": [
        "block 0 (section): text must be 1-3000 characters"]}  # fmt: skip
    shown = standin.state()["messages"][-1]
    assert shown["error"] and "invalid_blocks" in shown["text"]


def test_messages_threads_and_home_kept_for_the_page(standin):
    """Posted messages, thread replies and the published Home view appear in the state."""
    first = api(standin, "chat.postMessage", {"channel": GENERAL, "text": "hi"})
    api(standin, "chat.postMessage", {"channel": GENERAL, "text": "re", "thread_ts": first["ts"]})
    api(standin, "views.publish", {"user_id": "U1", "view": {"type": "home", "blocks": []}})
    state = standin.state()
    assert [m["text"] for m in state["messages"]] == ["hi", "re"]
    assert state["messages"][1]["thread_ts"] == first["ts"]
    assert state["home"] == {"type": "home", "blocks": []}


def test_conversations_read_back_as_slack_answers(standin):
    """conversations.replies and .history over slack-sdk's client (GET, as it sends them):
    the thread oldest first with its parent, the conversation's top-level messages newest
    first, ``oldest`` exclusive, metadata only when asked for, a missing message a
    thread_not_found, a missing history scope a missing_scope naming it."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    client = WebClient(token="xoxb-standin", base_url=standin.api_url)
    standin.add_message(channel="C1", user="U1", text="question", ts="1700000000.000001")
    event = {"event_type": "devops_role_bot_reply", "event_payload": {"key": "k1"}}
    first = client.chat_postMessage(channel="C1", thread_ts="1700000000.000001", text="a",
                                    metadata=event)  # fmt: skip
    client.chat_postMessage(channel="C1", text="top level")
    thread = client.conversations_replies(channel="C1", ts="1700000000.000001")["messages"]
    assert [m["text"] for m in thread] == ["question", "a"]
    assert "metadata" not in thread[1]
    since = client.conversations_replies(
        channel="C1", ts="1700000000.000001", oldest="1700000000.000001", include_all_metadata=True
    )
    assert [m.get("metadata") for m in since["messages"]] == [None, event]
    assert since["messages"][1]["ts"] == first["ts"] and since["messages"][1]["bot_id"]
    history = client.conversations_history(channel="C1", include_all_metadata=True)["messages"]
    assert [m["text"] for m in history] == ["top level", "question"]
    later = client.conversations_history(channel="C1", oldest="1700000000.000001")
    assert [m["text"] for m in later["messages"]] == ["top level"]
    with pytest.raises(SlackApiError) as err:
        client.conversations_replies(channel="C1", ts="1700000099.000001")
    assert err.value.response["error"] == "thread_not_found"
    narrow = FakeSlack(scopes=frozenset({"chat:write", "im:history"}))
    try:
        other = WebClient(token="xoxb-standin", base_url=narrow.api_url)
        assert other.conversations_history(channel="D1")["messages"] == []
        with pytest.raises(SlackApiError) as err:
            other.conversations_history(channel="C1")
        assert err.value.response["error"] == "missing_scope"
        assert err.value.response["needed"] == "channels:history"
    finally:
        narrow.close()


def test_message_metadata_checked_as_slack_does(standin):
    """Metadata that is not an event (an object with event_type and event_payload) is
    refused with invalid_metadata_format; an event_type with characters Slack does not take
    is dropped with an invalid_metadata_schema warning, the message posted."""
    bad = api(standin, "chat.postMessage", {"channel": "C1", "text": "x",
                                            "metadata": {"event_type": "x"}})  # fmt: skip
    assert bad == {"ok": False, "error": "invalid_metadata_format"}
    odd = api(standin, "chat.postMessage", {"channel": "C1", "text": "y", "metadata": {
        "event_type": "reply.v1", "event_payload": {}}})  # fmt: skip
    assert odd["ok"] and odd["warning"] == "invalid_metadata_schema"
    kept = [m for m in standin.messages if m["text"] == "y"]
    assert len(kept) == 1 and kept[0]["metadata"] is None
    assert not [m for m in standin.messages if m["text"] == "x"]
