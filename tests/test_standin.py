"""The Slack stand-in itself: Block Kit checked against Slack's limits, errors shown."""

from __future__ import annotations

import json
from urllib.request import Request, urlopen

import pytest

from bot.standin import GENERAL, FakeSlack, block_errors


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
        ("not a list", "must be a list"),
    ],
)  # fmt: skip
def test_block_errors_follow_slack_limits(blocks, problem):
    """Each of Slack's documented limits is enforced with a readable reason."""
    assert any(problem in e for e in block_errors(blocks))


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
