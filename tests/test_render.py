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
from bot.demo.standin import DM, GENERAL, FakeSlack
from bot.engine.search import Index, Match, build_index
from bot.render import (
    HEDGE_TEXT,
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
        greeting_blocks("thanks", library),
        greeting_blocks("greeting", library),
        greeting_blocks("ack", library),
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


def test_titles_and_headings_thousands_of_characters_long_are_accepted(standin, make_content):
    """A page whose title and headings run to thousands of characters (with characters
    Slack escapes): every kind of reply, every section, its modal, the page's modal and the
    Home tab are still accepted: the breadcrumbs are cut, not refused."""
    from bot.render import page_modal

    name = "Very long heading " * 300
    root = make_content(
        {
            "a.md": f'---\ntitle: "{"T<&>" * 400}"\n---\n# {name}\n\nIntro.\n\n'
            f"## {name} two\n\nMore about onboarding.\n\n## <b>&amp; <!channel>\n\nOdd.\n",
            "b.md": f"# {'B' * 3000}\n\nOther doc about onboarding.\n",
        }
    )
    library = load_library(root)
    index = build_index(library)
    for question in ("onboarding", "very long heading two", "odd"):
        answer = index.answer(question)
        for decision in DECISIONS:
            blocks, text = answer_blocks(replace(answer, decision=decision), library,
                                         shareable=True, feedback_id="f" * 32)  # fmt: skip
            assert post(standin, blocks, text)["ok"], (question, decision)
    for section in library.sections:
        blocks, text = section_blocks(Match(section, 77), shareable=True, feedback_id="f" * 32)
        assert post(standin, blocks, text)["ok"], section.id
        modal = section_modal(Match(section, 77), feedback_id="f" * 32)
        assert api(standin, "views.open", {"trigger_id": "t", "view": modal})["ok"], section.id
    for doc in library.documents:
        view = page_modal(doc, library)
        assert api(standin, "views.open", {"trigger_id": "t", "view": view})["ok"], doc.path
    for view in (home_view(library), home_fallback(library)):
        assert api(standin, "views.publish", {"user_id": "U1", "view": view})["ok"]
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
    hello, _ = greeting_blocks("greeting", shipped_library)
    thanks, _ = greeting_blocks("thanks", shipped_library)
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


def test_a_best_guess_without_alternatives_still_says_so(shipped_library, shipped_index):
    """A hedged answer with no other section to offer is marked a best guess all the same,
    in its blocks and in its notification text."""
    answer = replace(shipped_index.answer("the coach"), decision="hedged", alternatives=())
    blocks, text = answer_blocks(answer, shipped_library)
    assert HEDGE_TEXT in json.dumps(blocks) and text.startswith("Best guess")
    assert "Not it? Maybe" not in json.dumps(blocks)


def test_notification_text_is_plain_words(make_content):
    """The `text` Slack shows in notifications carries no Markdown: no **, links or <br />."""
    page = "# A\n\n## Links\n\n**Bold** and [the site](https://x.example) and a<br />break.\n"
    lib = load_library(make_content({"a.md": page}))
    _, text = section_blocks(Match(lib.sections[1], 90))
    assert text == "A &gt; Links: Bold and the site and a break."


@pytest.mark.parametrize("folder", ["knowledgehub", "gitlab-job-families", "18f-handbook"])
def test_buttons_name_the_page_where_a_name_is_ambiguous(folder):
    """On real folders, no two sections get the same button label (a name shared by pages or
    headings says which), and every label fits Slack's 75 characters."""
    from collections import Counter

    from bot.render import button_label
    from tests.conftest import CORPUS

    root = CORPUS / folder / "docs"
    if not root.is_dir():
        pytest.skip("shared corpus not present")
    library = load_library(root)
    labels = [button_label(s, library) for s in library.sections]
    assert [label for label, n in Counter(labels).items() if n > 1] == []
    assert max(map(len, labels)) <= 75
    names = Counter(s.name.casefold() for s in library.sections)
    shared = [s for s in library.sections if names[s.name.casefold()] > 1]
    assert shared and all(" · " in button_label(s, library) for s in shared)


def test_a_large_folder_gets_pages_in_home_and_a_short_decline(hub, standin):
    """On 68 pages the Home tab lists the pages (each opening its sections in a modal Slack
    accepts), the most asked sections first; a decline names the docs, offers the most asked
    and points to Home instead of a wall of buttons."""
    from bot.render import PAGE_ACTIONS, page_modal

    library, index = hub
    popular = library.sections[5:8]
    view = home_view(library, popular)
    assert api(standin, "views.publish", {"user_id": "U1", "view": view})["ok"]
    rows = [b["elements"] for b in view["blocks"] if b["type"] == "actions"]
    assert [Shown.of(e["value"]).section_id for e in rows[0]] == [s.id for s in popular]
    pages = [e for row in rows[1:] for e in row]
    assert all(PAGE_ACTIONS.match(e["action_id"]) for e in pages)
    assert sorted(e["value"] for e in pages) == sorted(d.path for d in library.documents)
    for doc in library.documents:
        modal = page_modal(doc, library)
        assert api(standin, "views.open", {"trigger_id": "t", "view": modal})["ok"], doc.path
    declined = index.answer("what is the weather in paris")
    assert declined.decision == "decline"
    blocks, text = answer_blocks(declined, library, popular=popular)
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert len(buttons) == 3 and "Home" in json.dumps(blocks)
    assert text == "Sorry, I couldn't find that in the docs."
    assert post(standin, blocks, text)["ok"]
    assert standin.refused == []


def test_the_docs_are_named_from_the_setting_or_the_content(make_content):
    """Replies call the docs by DOCS_NAME, else by a single document's title, else 'the docs'
    (not 'the role docs' whatever the folder holds)."""
    from bot.render import docs_name

    one = load_library(make_content({"a.md": "---\ntitle: Payroll\n---\n# Pay\n\nx\n"}))
    assert docs_name(one) == "the Payroll docs"
    named = load_library(make_content({"b.md": "# B\n\ny\n"}), name="the SF hub")
    assert docs_name(named) == "the SF hub"
    answer = build_index(named).answer("weather in paris")
    assert "couldn't find that in the SF hub" in json.dumps(answer_blocks(answer, named)[0])
    assert "the SF hub" in json.dumps(home_view(named)) and "role docs" not in json.dumps(
        home_view(named)
    )


def test_links_in_a_section_go_where_its_published_page_sends_them(make_content):
    """With DOCS_BASE_URL, a link to another doc's file goes to that doc's page (its anchor
    kept), an anchor to a place on the section's page, a site or page path where a browser
    resolves it from the page; a link to a file that is no doc, or of another scheme, is its
    text. Without DOCS_BASE_URL (or without the docs at hand) every such link is its text,
    as before."""
    from bot.render import doc_links, section_blocks

    root = make_content(
        {
            "guides/setup.md": "# Setup\n\nSee [the proxy](../ops/net.md#proxy), [below](#later),"
            " [values](/handbook/values/), [up](../faq/) and [gone](missing.md),"
            " [ftp](ftp://x/f) and `[code](net.md)`.\n\n## Later\n\nText.\n",
            "ops/net.md": "---\nslug: /network\n---\n# Network\n\n## Proxy\n\nUse it.\n",
        }
    )

    def shown(base_url: str | None, with_library: bool = True) -> str:
        library = load_library(root, base_url=base_url)
        section = next(s for s in library.sections if s.name == "Setup")
        blocks, _ = section_blocks(Match(section, 90), library=library if with_library else None)
        return blocks[1]["text"]["text"].split("\n")[0]

    assert shown("https://docs.example.com/docs") == (
        "See <https://docs.example.com/docs/network#proxy|the proxy>,"
        " <https://docs.example.com/docs/guides/setup#later|below>,"
        " <https://docs.example.com/handbook/values/|values>,"
        " <https://docs.example.com/docs/faq/|up> and gone, ftp and `[code](net.md)`."
    )
    plain = "See the proxy, below, values, up and gone, ftp and `[code](net.md)`."
    assert shown(None) == plain
    assert shown("https://docs.example.com/docs", with_library=False) == plain
    library = load_library(root, base_url="https://docs.example.com/docs")
    links = doc_links(library.sections[0], library)
    assert links("//[bad") is None  # (a URL Python cannot split: its text, not a failure)
