"""Feedback and history over the wire: votes, the modal, the admin-only report, /metrics,
JSON logs, and two bot processes sharing one PostgreSQL answering an event exactly once."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from bot.config import Settings
from bot.live import LiveDocs
from bot.observe import JsonFormatter, Metrics
from bot.render import (
    ACTION_HELPFUL,
    ACTION_NOT_HELPFUL,
    FEEDBACK_MODAL,
    NOT_HELPFUL_NOTED,
    SHOW_ACTIONS,
    THANKS,
)
from bot.report import build_report
from bot.slack.server import create_server
from bot.store import open_store
from tests.slack_standin import running, signed_post, wait_until
from tests.test_slack_app import SECRET, TOKEN, post_action, post_command, post_event, texts


@pytest.fixture
def served(fake, shipped_library, tmp_path):
    """The bot in HTTP mode with a SQLite history and U1 as admin; yields (url, store)."""
    settings = Settings.from_env({
        "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.api_url, "HOST": "127.0.0.1", "PORT": "0",
        "ADMIN_USER_IDS": "U1", "DATA_DIR": str(tmp_path),
    })  # fmt: skip
    store = open_store(None, tmp_path)
    server, _ = create_server(
        settings, LiveDocs.load(settings.content, shipped_library), store, Metrics()
    )
    with running(server) as port:
        yield f"http://127.0.0.1:{port}", store


def buttons(blocks: list[dict]) -> dict[str, dict]:
    return {e["action_id"]: e for b in blocks if b["type"] == "actions" for e in b["elements"]}


def vote_payload(fake, action_id: str, value: str, user: str, message: dict, *,
                 ephemeral: bool, channel: str = "C1") -> dict:  # fmt: skip
    """A click as Slack sends it: on an ephemeral message, without the `message`."""
    payload = {
        "type": "block_actions", "user": {"id": user}, "team": {"id": "T1"},
        "channel": {"id": channel}, "trigger_id": f"trig-{user}",
        "container": {"type": "message", "is_ephemeral": ephemeral, "channel_id": channel,
                      "message_ts": message.get("ts", "1.1")},
        "message": message, "response_url": f"{fake.url}/response/vote-{user}-{action_id}",
        "actions": [{"action_id": action_id, "value": value, "type": "button"}],
    }  # fmt: skip
    if ephemeral:
        del payload["message"]
    return payload


def test_a_vote_on_an_ephemeral_answer_keeps_it_once_per_person(served, fake):
    """Helpful on an ephemeral answer (a click Slack sends without the message): the answer
    and its Share button stay, the voter alone is thanked; a second vote is refused."""
    url, store = served
    post_command(url, fake, "what does the DevOps coach do?", 1)
    answer = fake.wait_for_path("/response/1").params
    vote = buttons(answer["blocks"])[ACTION_HELPFUL]
    assert ACTION_NOT_HELPFUL in buttons(answer["blocks"])
    message = {"ts": "1.1", "blocks": answer["blocks"], "text": answer["text"]}
    post_action(url, vote_payload(fake, ACTION_HELPFUL, vote["value"], "U7", message,
                                  ephemeral=True))  # fmt: skip
    thanked = fake.wait_for_path(f"/response/vote-U7-{ACTION_HELPFUL}").params
    assert thanked == {"text": THANKS, "response_type": "ephemeral", "replace_original": False}
    post_action(url, vote_payload(fake, ACTION_NOT_HELPFUL, vote["value"], "U7", message,
                                  ephemeral=True))  # fmt: skip
    again = fake.wait_for_path(f"/response/vote-U7-{ACTION_NOT_HELPFUL}").params
    assert "already voted" in again["text"]
    assert [r["vote"] for r in store.history(0)] == ["helpful"]


def test_not_helpful_opens_modal_and_stores_comment(served, fake):
    """Not helpful on a DM answer updates the message and opens the modal; its text is kept."""
    url, store = served
    post_event(url, {"type": "message", "channel_type": "im", "user": "U1", "text": "sys admin",
                     "ts": "1700000100.000100", "channel": "D1"}, "EvVote")  # fmt: skip
    posted = fake.wait_for("chat.postMessage")[0].params
    value = buttons(posted["blocks"])[ACTION_NOT_HELPFUL]["value"]
    message = {"ts": "1700000200.000001", "blocks": posted["blocks"], "text": posted["text"]}
    post_action(url, vote_payload(fake, ACTION_NOT_HELPFUL, value, "U1", message,
                                  ephemeral=False, channel="D1"))  # fmt: skip
    modal = fake.wait_for("views.open")[0].params
    assert modal["trigger_id"] == "trig-U1"
    assert modal["view"]["callback_id"] == FEEDBACK_MODAL
    assert modal["view"]["private_metadata"] == value
    update = fake.wait_for("chat.update")[0].params
    assert update["ts"] == "1700000200.000001"
    assert NOT_HELPFUL_NOTED in texts(update["blocks"]) and THANKS not in texts(update["blocks"])
    assert "Not helpful" not in texts(update["blocks"])
    submission = {
        "type": "view_submission", "user": {"id": "U1"}, "team": {"id": "T1"},
        "view": {"id": "V1", "type": "modal", "callback_id": FEEDBACK_MODAL,
                 "private_metadata": value,
                 "state": {"values": {"missing": {"comment": {
                     "type": "plain_text_input", "value": "  an example pipeline  "}}}}},
    }  # fmt: skip
    status, _, _ = post_action(url, submission)
    assert status == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        rows = store.history(0)
        if rows and rows[0]["comment"]:
            break
        time.sleep(0.05)
    assert (rows[0]["vote"], rows[0]["comment"]) == ("not_helpful", "an example pipeline")
    assert rows[0]["entry"] == "dm" and rows[0]["question"] == "sys admin"


def test_a_vote_in_a_channel_thread_leaves_the_answer_for_everyone(served, fake):
    """A vote on an answer in a channel's thread does not touch the message others see:
    only the voter is told, ephemerally."""
    url, store = served
    post_event(url, {"type": "app_mention", "user": "U1", "text": "<@UBOT> the coach",
                     "ts": "1700000300.000100", "channel": "C1"}, "EvVoteC")  # fmt: skip
    posted = fake.wait_for("chat.postMessage")[0].params
    value = buttons(posted["blocks"])[ACTION_HELPFUL]["value"]
    message = {"ts": "1700000300.000200", "thread_ts": "1700000300.000100",
               "blocks": posted["blocks"], "text": posted["text"]}  # fmt: skip
    post_action(url, vote_payload(fake, ACTION_HELPFUL, value, "U2", message, ephemeral=False))
    told = fake.wait_for_path(f"/response/vote-U2-{ACTION_HELPFUL}").params
    assert told["response_type"] == "ephemeral" and told["replace_original"] is False
    assert fake.of("chat.update") == []
    assert [r["vote"] for r in store.history(0)] == ["helpful"]


def test_a_section_picked_from_a_best_guess_is_a_real_answer(served, fake):
    """A best guess shows the section with "Not it? Maybe:" buttons; the section picked there
    gets vote buttons (no "match N%": that is the best section's), is recorded with the
    question it answers, and its vote counts in the report."""
    url, store = served
    fake.connect(url, SECRET)
    question = "who makes sure the servers stay up"
    fake.send("general", f"/devops-role {question}")
    fake.wait_for("response_url")
    message = next(m for m in fake.state()["messages"] if m.get("blocks"))
    assert "Best guess" in texts(message["blocks"]) and "Not it? Maybe:" in texts(message["blocks"])
    maybe = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
             if SHOW_ACTIONS.match(e["action_id"])]  # fmt: skip
    choice = maybe[0]
    assert fake.click({"ts": message["ts"], **choice})["status"] == 200
    shown = fake.wait_for("response_url", 2)[1].params
    assert choice["text"]["text"] in shown["blocks"][0]["text"]["text"]
    assert "match" not in texts(shown["blocks"])
    vote = buttons(shown["blocks"])[ACTION_HELPFUL]
    assert ACTION_NOT_HELPFUL in buttons(shown["blocks"])
    picked = next(r for r in store.history(0) if r["decision"] == "picked")
    assert picked["id"] == vote["value"] and picked["question"] == question
    assert picked["score"] == json.loads(choice["value"])["p"]  # its relevance, for owners
    assert picked["entry"] == "slash" and choice["text"]["text"] in picked["section"]
    message = fake.state()["messages"][-1]
    assert fake.click({"ts": message["ts"], **vote})["status"] == 200
    assert wait_until(lambda: any(r["vote"] == "helpful" for r in store.history(0)))
    report = build_report(store.history(0), since_seconds=86400)
    assert report["questions"] == 1 and report["by_entry"]["slash"]["questions"] == 1
    assert report["picked"] == [{"question": question, "section": picked["section"], "count": 1}]
    assert fake.refused == []


def test_a_home_topic_opens_a_modal_with_votes(served, fake):
    """A Home tab topic opens in a modal with vote buttons; Not helpful there thanks in the
    modal and asks what was missing in a pushed one."""
    url, store = served
    fake.connect(url, SECRET)
    fake.page_action("/demo/home", {})
    fake.wait_for("views.publish")
    topic = next(e for b in fake.home["blocks"] if b["type"] == "actions" for e in b["elements"])
    fake.click({"home": True, **topic})
    modal = fake.wait_for("views.open")[0].params["view"]
    value = buttons(modal["blocks"])[ACTION_NOT_HELPFUL]["value"]
    assert [r["entry"] for r in store.history(0)] == ["home"]
    shown = fake.modal
    assert fake.click({"modal": True, "action_id": ACTION_NOT_HELPFUL, "value": value})["ok"]
    updated = fake.wait_for("views.update")[0].params
    assert updated["view_id"] == shown["id"] and NOT_HELPFUL_NOTED in texts(
        updated["view"]["blocks"]
    )
    pushed = fake.wait_for("views.push")[0].params["view"]
    assert pushed["callback_id"] == FEEDBACK_MODAL and pushed["private_metadata"] == value
    assert fake.modal["callback_id"] == FEEDBACK_MODAL and fake.refused == []
    assert wait_until(lambda: [r["vote"] for r in store.history(0)] == ["not_helpful"])


def test_report_is_for_admins_only(served, fake):
    """/devops-role report shows the summary to ADMIN_USER_IDS and refuses anyone else."""
    url, _ = served
    post_command(url, fake, "what's the wifi password", 1)
    fake.wait_for_path("/response/1")
    form_for = {"U1": 2, "U2": 3}
    for user, n in form_for.items():
        body = (f"command=%2Fdevops-role&text=report&user_id={user}&channel_id=C1&team_id=T1"
                f"&response_url={fake.url}/response/{n}&trigger_id=t{n}")  # fmt: skip
        signed_post(url + "/slack/events", body, SECRET,
                    content_type="application/x-www-form-urlencoded")  # fmt: skip
    admin = texts(fake.wait_for_path("/response/2").params["blocks"])
    assert "Questions report" in admin and "wifi password" in admin
    other = texts(fake.wait_for_path("/response/3").params["blocks"])
    assert "only for the owners of the docs" in other and "wifi" not in other
    assert "ADMIN_USER_IDS" not in other  # an ordinary person is not told about settings


def test_metrics_count_questions(served, fake):
    """GET /metrics exposes questions by entry point and decision, and the latency histogram."""
    url, _ = served
    post_command(url, fake, "coach", 1)
    fake.wait_for_path("/response/1")
    with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
        body = resp.read().decode()
    assert 'devops_role_bot_questions_total{decision="answer",entry="slash"} 1.0' in body
    assert "devops_role_bot_answer_seconds_count 1.0" in body


def test_json_log_line_per_question():
    """LOG_FORMAT=json: one JSON object per line with the question's fields, no tokens."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.json")
    logger.addHandler(handler)
    logger.setLevel("INFO")
    logger.info("question", extra={"entry": "dm", "decision": "answer", "section": "abc",
                                   "score": 90, "latency_ms": 0.3})  # fmt: skip
    line = json.loads(stream.getvalue())
    assert {k: line[k] for k in ("entry", "decision", "section", "score", "latency_ms")} == {
        "entry": "dm",
        "decision": "answer",
        "section": "abc",
        "score": 90,
        "latency_ms": 0.3,
    }
    assert line["level"] == "INFO" and line["message"] == "question"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_replicas_on_one_postgres_answer_once(fake, postgres_url, tmp_path):
    """Two bot processes share PostgreSQL; an event sent to both, and retried, is answered once."""
    procs, urls = [], []
    for n in range(2):
        port = free_port()
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("SLACK_")},
               "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
               "SLACK_API_URL": fake.api_url, "HOST": "127.0.0.1", "PORT": str(port),
               "DATABASE_URL": postgres_url, "DATA_DIR": str(tmp_path / f"r{n}"),
               "LOG_LEVEL": "WARNING"}  # fmt: skip
        procs.append(subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url in urls:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(url + "/healthz", timeout=2):
                        break
                except OSError:
                    assert time.monotonic() < deadline, "replica did not start"
                    time.sleep(0.2)
        event = {"type": "app_mention", "user": "U1", "channel": "C1",
                 "text": "<@UBOT> coach", "ts": "1700000300.000100"}  # fmt: skip
        post_event(urls[0], event, "EvShared")
        post_event(urls[1], event, "EvShared")
        post_event(urls[1], event, "EvShared", headers={"X-Slack-Retry-Num": "1"})
        fake.wait_for("chat.postMessage")
        time.sleep(1.0)
        assert len(fake.of("chat.postMessage")) == 1
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
