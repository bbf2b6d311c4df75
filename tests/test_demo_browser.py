"""The demo page in a real browser (Debian's Chromium driven by Playwright), clicking through
every way to ask. Each step saves a screenshot under the test's temporary folder."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.config import ContentSettings
from bot.demo.server import start_demo

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
README_SHOT = Path(__file__).parent / "screenshots" / "demo.png"
# Flags for a closed network and root (see the machine notes): no sandbox, no background calls.
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"CI needs Chromium for the browser tests; none at {CHROMIUM}")
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

playwright = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def demo(shipped_library):
    """The demo (bot + stand-in + page) on free loopback ports."""
    running = start_demo(ContentSettings(), shipped_library, port=0)
    yield running
    running.stop.set()


@contextmanager
def browse(url: str, shots: Path):
    """A headless Chromium page on ``url``; screenshots go to ``shots``."""
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        tab = browser.new_page(viewport={"width": 1280, "height": 800})
        tab.goto(url)
        tab.shots = shots  # type: ignore[attr-defined]
        yield tab
        browser.close()


@pytest.fixture
def page(demo, tmp_path):
    """A headless Chromium page on the demo, and a screenshot helper."""
    with browse(demo.url, tmp_path) as tab:
        yield tab


def step(page, name: str, selector: str) -> Path:
    """Wait (10 s at most) for ``selector`` on the page; save a screenshot either way; fail
    naming the screenshot."""
    shot = page.shots / f"{name}.png"
    try:
        page.wait_for_selector(selector, timeout=10_000)
    except Exception as err:
        page.screenshot(path=str(shot))
        raise AssertionError(f"step {name!r} failed; screenshot: {shot}") from err
    page.screenshot(path=str(shot))
    return shot


def send(page, text: str) -> None:
    page.fill("#input", text)
    page.keyboard.press("Enter")


def test_dm_answer(page):
    """In the DM, the Coach question gets the Coach section."""
    page.click("#nav-dm")
    send(page, "what does the DevOps coach do?")
    shot = step(page, "dm-answer", ".blk-header:has-text('The Coach')")
    assert "training employees" in page.inner_text("#log")
    assert page.inner_text("#dbg-decision") == "answer"
    if os.environ.get("UPDATE_SCREENSHOT"):
        README_SHOT.parent.mkdir(exist_ok=True)
        shutil.copy(shot, README_SHOT)


def test_mention_answers_in_thread(page):
    """A mention in #general is answered in a thread under it."""
    page.click("#nav-channel")
    send(page, "@devops-role-bot who is the sys admin?")
    step(page, "mention-thread", ".thread .blk-header:has-text('The System Administrator')")
    assert "1 reply" in page.inner_text(".thread-label")


def test_slash_command_ephemeral_then_share(page):
    """The slash command answer is only visible to you; Share posts it for everyone."""
    page.click("#nav-channel")
    send(page, "/devops-role secuirty expert")
    step(page, "slash-ephemeral", ".msg.ephemeral .blk-header:has-text('The Security Expert')")
    assert "Only visible to you" in page.inner_text(".msg.ephemeral")
    page.click(".msg.ephemeral button:has-text('Share in channel')")
    step(page, "slash-shared", ".msg:not(.ephemeral) .blk-context:has-text('shared by')")
    # Share posts the message, then deletes the ephemeral one in a second post: wait for it.
    page.wait_for_selector(".msg.ephemeral", state="detached", timeout=10_000)
    assert page.query_selector(".msg.ephemeral") is None


def test_best_guess_and_its_maybe_buttons(page):
    """An unsure answer is shown as a best guess with "Not it? Maybe:" buttons; clicking one
    shows that section, and the side panel follows the click."""
    page.click("#nav-dm")
    send(page, "who makes sure the servers stay up")
    step(page, "best-guess", ".blk-context:has-text('Best guess')")
    assert page.inner_text("#dbg-decision") == "hedged"
    maybe = page.locator(".blk-actions button[data-action-id^='show_section']")
    label = maybe.first.inner_text()
    maybe.first.click()
    step(page, "maybe-clicked", f".blk-header:has-text('{label}')")
    page.wait_for_selector("#dbg-decision:has-text('picked')", timeout=10_000)
    assert label in page.inner_text("#debug")


def test_mentions_show_as_names_and_the_log_scrolls_in_its_pane(page, demo):
    """<@U...> shows as @name in messages and blocks (a typed, escaped one stays text); a long
    conversation scrolls inside the message pane, the channel list and side panel stay put."""
    page.click("#nav-channel")
    send(page, "@devops-role-bot who is the sys admin?")
    step(page, "mention-name", ".msg .mention:has-text('@devops-role-bot')")
    text = {"type": "mrkdwn", "text": "shared by <@UYOU>, not &lt;@UYOU&gt;"}
    demo.standin.add_message(channel="CGENERAL", user="UBOT", text="", thread_ts=None,
                             blocks=[{"type": "section", "text": text}])  # fmt: skip
    step(page, "mention-in-blocks", ".blk-section .mention:has-text('@You')")
    assert "not <@UYOU>" in page.inner_text("#log")
    for n in range(12):
        send(page, f"@devops-role-bot coach {n}")
    page.wait_for_function("document.querySelectorAll('.thread').length >= 13", timeout=20_000)
    log = page.eval_on_selector("#log", "e => [e.scrollHeight, e.clientHeight]")
    assert log[0] > log[1]  # the log scrolls inside its pane ...
    assert page.evaluate("document.scrollingElement.scrollHeight <= innerHeight")  # not the page
    assert page.is_visible("#nav-home") and page.is_visible("#debug")


def test_home_tab_topic(page):
    """App Home lists the topics as buttons; clicking one opens the section in a modal."""
    page.click("#nav-home")
    step(page, "home", ".blk-actions button:has-text('The Coach')")
    page.click(".blk-actions button:has-text('The Coach')")
    step(page, "home-topic-modal", "#modal .blk-header:has-text('The Coach')")
    assert page.is_hidden("#modal-submit")
    page.click("#modal-close")
    page.wait_for_selector("#modal", state="hidden", timeout=10_000)


def test_vague_questions_get_replies_slack_accepts(page):
    """The four vague questions a newcomer sends first: each gets a reply, none a Slack error."""
    page.click("#nav-dm")
    questions = ["devops", "what does a devops person do all day", "tools", "how does it work"]
    for n, question in enumerate(questions, start=1):
        send(page, question)
        page.wait_for_function(
            f"document.querySelectorAll('.msg').length >= {2 * n}", timeout=10_000
        )
    step(page, "vague-questions", ".blk-actions button")
    assert page.query_selector(".msg.error") is None
    assert "rejected" not in page.inner_text("#log")


def test_votes_and_not_helpful_modal(page, demo):
    """Helpful / Not helpful work in the page; Not helpful's modal sends what was missing."""
    page.click("#nav-dm")
    send(page, "sys admin")
    page.wait_for_selector(".blk-actions button:has-text('Not helpful')", timeout=10_000)
    page.click(".blk-actions button:has-text('Not helpful')")
    step(page, "vote-modal", "#modal-input")
    page.fill("#modal-input", "an example of a runbook")
    page.click("#modal-submit")
    step(page, "vote-noted", ".blk-context:has-text('Noted: not helpful')")
    assert page.query_selector(".blk-actions button:has-text('Not helpful')") is None
    rows = demo.store.history(0)
    assert [(r["vote"], r["comment"]) for r in rows] == [("not_helpful", "an example of a runbook")]


def test_a_vote_on_an_ephemeral_answer_keeps_it(page):
    """Helpful on the slash command's ephemeral answer: the answer and Share stay, and a
    note only you see thanks you (Slack sends such a click without the message)."""
    page.click("#nav-channel")
    send(page, "/devops-role the coach")
    step(page, "ephemeral-answer", ".msg.ephemeral .blk-header:has-text('The Coach')")
    page.click(".msg.ephemeral button:has-text('Helpful')")
    step(page, "ephemeral-voted", ".msg.ephemeral:has-text('Thanks for the feedback')")
    answer = page.locator(".msg.ephemeral", has_text="The Coach")
    assert answer.count() == 1 and "Share in channel" in answer.inner_text()
    assert page.query_selector(".msg.error") is None


@pytest.fixture
def long_page(make_content, tmp_path):
    """The demo on a page with one section of about 30,000 characters."""
    from bot.content import load_library
    from tests.test_slack_app import _long_doc

    root = make_content({"handbook.md": _long_doc()})
    running = start_demo(ContentSettings(content_dir=root), load_library(root), port=0)
    with browse(running.url, tmp_path) as tab:
        yield tab
    running.stop.set()


def test_a_long_section_comes_in_parts_with_show_the_rest(long_page):
    """A section past Slack's ~12,000 characters of blocks arrives in parts Slack accepts:
    "Show the rest" posts the next part in the DM until the section's end."""
    page = long_page
    page.click("#nav-dm")
    send(page, "what is the release process")
    step(page, "long-first", ".blk-header:has-text('Release process')")
    for n in range(6):
        more = page.locator("button:has-text('Show the rest')")
        if more.count() == n:
            break
        more.nth(n).click()
        page.wait_for_function(
            f"document.querySelectorAll('.blk-header').length >= {n + 2}", timeout=10_000
        )
    step(page, "long-end", ".blk-section:has-text('The end.')")
    assert page.query_selector(".msg.error") is None
    assert "rejected" not in page.inner_text("#log")
