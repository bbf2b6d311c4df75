"""Every kind of reply the bot renders is one Slack accepts, on the role doc and on a docs
folder of many pages: posted over HTTP to the stand-in, which checks Slack's rules."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from urllib.request import Request, urlopen

import pytest
import yaml

from bot.content import Library, load_library
from bot.render import (
    SHOW_ACTIONS,
    Shown,
    answer_blocks,
    answer_text,
    feedback_modal,
    greeting_blocks,
    help_blocks,
    home_fallback,
    home_view,
    plain,
    report_blocks,
    section_blocks,
    section_modal,
    thanked,
    topic_blocks,
)
from bot.search import Index, Match, build_index
from bot.standin import DM, GENERAL, FakeSlack
from tests.conftest import KNOWLEDGEHUB

#: Vague questions a newcomer sends first: on the role doc most end in a did-you-mean.
VAGUE = ["devops", "what does a devops person do all day", "tools", "how does it work"]
OFF_TOPIC = ["wifi password please", "what's for lunch", "<!channel> hello?"]
ROOT = Path(__file__).resolve().parent.parent
HUB_QUESTIONS = [
    q["q"] for q in yaml.safe_load((ROOT / "bench" / "hub_questions.yml").read_text())["questions"]
]


@pytest.fixture(scope="module")
def standin():
    """A stand-in with no bot attached: only its Web API is used."""
    s = FakeSlack()
    yield s
    s.close()


@pytest.fixture(scope="module")
def hub() -> tuple[Library, Index]:
    """The knowledge hub (68 pages) and its index."""
    if not KNOWLEDGEHUB.is_dir():
        pytest.skip(f"the knowledge hub corpus is not at {KNOWLEDGEHUB}")
    library = load_library(KNOWLEDGEHUB)
    return library, build_index(library)


def api(standin: FakeSlack, method: str, params: dict) -> dict:
    req = Request(standin.api_url + method, data=json.dumps(params).encode(), method="POST")
    req.add_header("Content-Type", "application/json; charset=utf-8")
    with urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def post(standin: FakeSlack, blocks: list[dict], text: str) -> dict:
    return api(standin, "chat.postMessage", {"channel": DM, "blocks": blocks, "text": text})


DECISIONS = ("answer", "hedged", "suggest", "decline")


def check_answers(standin: FakeSlack, library: Library, index: Index, questions: list[str]):
    """Each question's real matches rendered as each kind of reply (answer, best guess,
    did-you-mean, decline), as shared and with votes: Slack accepts every one."""
    seen = set()
    for question in questions:
        answer = index.answer(question)
        seen.add(answer.decision)
        if answer.best is None:
            continue
        for decision in DECISIONS:
            as_kind = replace(answer, decision=decision)
            for kwargs in ({}, {"shareable": True, "feedback_id": "f" * 32}):
                blocks, text = answer_blocks(as_kind, library, **kwargs)
                out = post(standin, blocks, text)
                assert out["ok"], (question, decision, out)
                assert len(plain(answer_text(as_kind, library))) <= 40_000
    # The replies people get most often are all among the real decisions.
    assert {"answer", "hedged", "decline"} <= seen


def test_every_answer_on_the_role_doc_is_accepted(standin, shipped_library, shipped_index):
    """Answers, best guesses, did-you-means and declines on the role doc: Slack accepts each."""
    cases = yaml.safe_load((ROOT / "tests" / "cases" / "questions.yml").read_text())
    questions = [c["question"] for c in cases] + VAGUE + OFF_TOPIC
    check_answers(standin, shipped_library, shipped_index, questions)


def test_every_answer_on_the_knowledge_hub_is_accepted(standin, hub):
    """On 68 pages too, every kind of reply to every question: Slack accepts each."""
    library, index = hub
    check_answers(standin, library, index, HUB_QUESTIONS + VAGUE + OFF_TOPIC)


@pytest.mark.parametrize("corpus", ["role", "hub"])
def test_every_other_reply_is_accepted(standin, shipped_library, hub, corpus):
    """Help, topics, greetings, report, every section, the Home tab, modals: all accepted."""
    library = shipped_library if corpus == "role" else hub[0]
    for blocks, text in (
        help_blocks(library, "UBOT"),
        (topic_blocks(library), "Topics"),
        greeting_blocks(thanks=True),
        greeting_blocks(thanks=False),
        (report_blocks("Questions in the last 30 days: 3\n" + "x" * 9000), "Questions report"),
    ):
        assert post(standin, blocks, text)["ok"]
    for section in library.sections:
        blocks, text = section_blocks(Match(section, 77), shareable=True, feedback_id="f" * 32)
        assert post(standin, blocks, text)["ok"], section.id
        assert post(standin, thanked(blocks), text)["ok"], section.id
        modal = section_modal(Match(section, 77), feedback_id="f" * 32)
        assert api(standin, "views.open", {"trigger_id": "t", "view": modal})["ok"], section.id
    for view in (home_view(library), home_fallback(library)):
        assert api(standin, "views.publish", {"user_id": "U1", "view": view})["ok"]
    assert api(standin, "views.open", {"trigger_id": "t", "view": feedback_modal("f" * 32)})["ok"]
    assert standin.refused == []


def test_section_buttons_are_unique_in_their_block_and_carry_what_they_show(
    shipped_library, shipped_index
):
    """Did-you-mean, best-guess and Home buttons: numbered ids the show listener matches,
    values it reads."""
    answer = replace(shipped_index.answer("devops"), decision="suggest")
    blocks, _ = answer_blocks(answer, shipped_library)
    guess, _ = answer_blocks(replace(answer, decision="hedged"), shipped_library)
    blocks_and_guess = blocks + guess
    view = home_view(shipped_library)
    for block in [b for b in blocks_and_guess + view["blocks"] if b["type"] == "actions"]:
        ids = [e["action_id"] for e in block["elements"]]
        assert len(set(ids)) == len(ids) and all(SHOW_ACTIONS.match(i) for i in ids)
    maybe = [e["value"] for b in guess if b["type"] == "actions" for e in b["elements"]]
    assert [Shown.of(v).section_id for v in maybe] == [m.section.id for m in answer.alternatives]
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    shown = [Shown.of(b["value"]) for b in buttons]
    options = [answer.best, *answer.alternatives][: len(buttons)]
    assert [s.section_id for s in shown] == [m.section.id for m in options]
    assert [s.score for s in shown] == [m.score for m in options]
    assert {s.question for s in shown} == {"devops"}
    assert SHOW_ACTIONS.match("show_section") and not SHOW_ACTIONS.match("show_sectionX")


def test_a_greeting_or_thanks_is_not_a_question(shipped_library):
    """'hi' and 'thanks!' get a line each, not the decline and the topic list."""
    hello, _ = greeting_blocks(thanks=False)
    thanks, _ = greeting_blocks(thanks=True)
    assert len(hello) == len(thanks) == 1
    assert "welcome" in thanks[0]["text"]["text"] and "Hi" in hello[0]["text"]["text"]


def test_the_standin_shows_what_slack_refused(standin):
    """A refused reply is listed for the tests and shown on the page in the conversation."""
    button = {"type": "button", "text": {"type": "plain_text", "text": "a"}, "action_id": "x"}
    out = post(standin, [{"type": "actions", "elements": [button, button]}], "t")
    assert out["ok"] is False and out["error"] == "invalid_blocks"
    assert standin.refused[-1][:2] == ("chat.postMessage", "invalid_blocks")
    shown = standin.state()["messages"][-1]
    assert shown["error"] and shown["channel"] in (DM, GENERAL)
    standin.refused.clear()
