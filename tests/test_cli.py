"""The CLI through main(argv): ask (text, JSON, JSON Lines), topics, check and exit codes."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.__main__ import main

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "questions.yml").read_text())
FIELDS = {
    "question", "answered", "decision", "document", "section", "path",
    "heading_path", "url", "score", "text", "suggestions",
}  # fmt: skip


def run(argv, *, env=None, stdin=""):
    """Run main() with captured streams; return (code, stdout, stderr). The lexical engine
    (EMBEDDING_MODEL=off) unless env names a model: the case table is the lexical engine's;
    the hybrid engine has tests of its own (tests/test_embed.py)."""
    out, err = io.StringIO(), io.StringIO()
    environ = {"EMBEDDING_MODEL": "off", **(env or {})}
    code = main(argv, environ=environ, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_ask_prints_the_coach_section():
    """`ask` prints heading path, section text and how sure it is for the README's question."""
    code, out, _ = run(["ask", "what does the DevOps coach do?"])
    assert code == 0
    assert out.startswith("DevOps > How a DevOps Specialist Works > The Coach")
    assert "training employees" in out and re.search(r"match \d+%", out)


def test_ask_json_fields():
    """`ask --json` prints one object with every documented field."""
    code, out, _ = run(["ask", "--json", "sys admin"], env={"DOCS_BASE_URL": "https://d.ex/docs"})
    data = json.loads(out)
    assert code == 0 and set(data) == FIELDS
    assert data["decision"] == "answer" and data["answered"] is True
    assert data["section"] == "The System Administrator"
    assert data["heading_path"][-1] == "The System Administrator"
    assert data["url"] == "https://d.ex/docs/devops-role#the-system-administrator"
    for s in data["suggestions"]:
        assert set(s) == {"document", "section", "path", "score"}


def test_ask_json_lines_runs_every_case():
    """`ask --json -` answers each stdin line with one JSON line, matching the case table."""
    stdin = "".join(c["question"].replace("\n", " ") + "\n" for c in CASES) + "\n"
    code, out, _ = run(["ask", "--json", "-"], stdin=stdin)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == len(CASES)
    for case, row in zip(CASES, rows, strict=True):
        if row["decision"] in ("greeting", "thanks", "ack"):  # one line, as in Slack
            assert case["section"] is None and not row["answered"] and row["text"]
            continue
        assert row["decision"] in case["decision"], case
        assert row["answered"] == (row["decision"] in ("answer", "hedged"))
        assert 0 <= row["score"] <= 100
        if case["section"]:
            assert row["section"] == case["section"]


def test_decline_lists_topics_and_json_keeps_best_candidate():
    """A decline is polite and lists the topics; exit code is still 0."""
    code, out, _ = run(["ask", "what's the wifi password"])
    assert code == 0
    assert "couldn't find that" in out and "The Coach" in out


def test_a_best_guess_is_said_to_be_one_with_the_next_sections(make_content):
    """A plausible but unsure answer prints the section as a best guess, then 'Not it?
    Maybe:' with the next sections."""
    code, out, _ = run(["ask", "who makes sure the servers stay up"])
    assert code == 0 and out.startswith("Best guess")
    assert "The System Administrator" in out.split("Not it? Maybe:")[0]
    assert 1 <= out.split("Not it? Maybe:")[1].count("  - ") <= 3


def test_topics_outline():
    """`topics` prints the document and its sections indented by depth."""
    code, out, _ = run(["topics"])
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("DevOps")
    assert "  The Role of a DevOps Specialist" in lines
    assert "      The Coach" in lines


def test_check_ok_and_problems(make_content):
    """`check` exits 0 on good content and 2 listing file:line problems on bad."""
    code, out, _ = run(["check"])
    assert code == 0 and out.startswith("ok: 1 document(s), 9 section(s)")
    bad = make_content(
        {
            "a.md": "---\ntitle: [x\n---\n# A\n",
            "b.md": "# B\n\n## S\n\n## S\n",
            "c.md": b"# \xff\n",
            "d.md": "",
            "synonyms.yml": "synonyms: [not, a, mapping]\n",
        }
    )
    code, out, _ = run(["check", "--content", str(bad)])
    assert code == 2
    assert "a.md:2: bad YAML front matter" in out
    assert "b.md:5: duplicate heading 'B > S'" in out
    assert "c.md:1: not UTF-8" in out
    assert "d.md:1: warning: empty document" in out
    assert "synonyms.yml:1: 'synonyms' must map" in out


def test_check_hints_at_phrasings_that_lean_to_another_heading(make_content):
    """A phrasing with a word of another section's heading is a hint, at its file and line in
    the synonyms file or the front matter; hints alone leave the exit code 0."""
    root = make_content(
        {
            "team.md": "---\ntitle: Team\nquestions:\n  The Coach:\n"
            "    - who trains people\n    - who runs the pipelines\n---\n"
            "# Team\n\n## The Coach\n\nTrains people.\n\n## Pipelines\n\nBuilds.\n",
            "synonyms.yml": "questions:\n  team.md:\n    Pipelines:\n"
            "      - what gets built\n      - who coaches us on builds\n",
        }
    )
    code, out, _ = run(["check", "--content", str(root)])
    assert code == 0
    assert out.splitlines() == [
        "team.md:6: hint: the phrasing 'who runs the pipelines' of 'The Coach' says"
        " 'pipelines', a word of the heading 'Pipelines': questions with it will lean to"
        " 'The Coach'",
        "synonyms.yml:5: hint: the phrasing 'who coaches us on builds' of 'Pipelines' says"
        " 'coaches', a word of the heading 'The Coach': questions with it will lean to"
        " 'Pipelines'",
        f"ok: 1 document(s), 3 section(s) in {root} (2 hint(s))",
    ]


def test_usage_and_content_errors_exit_2(tmp_path):
    """Bad options, an empty question, a missing folder and a file given for the folder exit
    2 with a one-line message."""
    assert run(["ask"])[0] == 2
    assert run(["frobnicate"])[0] == 2
    code, _, err = run(["ask", "  "])
    assert code == 2 and "question is empty" in err
    code, _, err = run(["ask", "x", "--content", str(tmp_path / "none")])
    assert code == 2 and "none" in err and len(err.strip().splitlines()) == 1
    assert "content folder not found" in err
    code, _, err = run(["ask", "x"], env={"INCLUDE_DRAFTS": "maybe"})
    assert code == 2 and "INCLUDE_DRAFTS" in err
    code, _, err = run(["ask", "x", "--content", str(tmp_path)])
    assert code == 2 and "no usable sections" in err
    page = tmp_path / "role.md"  # the one document, given for its folder
    page.write_text("# Role\n\nWhat we do.\n")
    code, _, err = run(["ask", "x", "--content", str(page)])
    assert code == 2 and f"{page}: is not a folder" in err


def test_content_env_and_drafts(make_content):
    """CONTENT_DIR selects the folder; drafts need --include-drafts or INCLUDE_DRAFTS."""
    root = make_content({"d.md": "---\ndraft: true\n---\n# Pager rota\n\nWho is on call.\n"})
    assert run(["ask", "pager rota"], env={"CONTENT_DIR": str(root)})[0] == 2
    code, out, _ = run(
        ["ask", "--json", "pager rota", "--include-drafts"], env={"CONTENT_DIR": str(root)}
    )
    assert code == 0 and json.loads(out)["section"] == "Pager rota"
    code, out, _ = run(
        ["ask", "--json", "pager rota"], env={"CONTENT_DIR": str(root), "INCLUDE_DRAFTS": "true"}
    )
    assert json.loads(out)["section"] == "Pager rota"


def test_json_lines_flush_per_line():
    """`python -m bot ask --json -` answers a line before stdin is closed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "ask", "--json", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        proc.stdin.write("coach\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        assert json.loads(line)["section"] == "The Coach"
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert proc.returncode == 0


@pytest.mark.parametrize("argv", [["ask", "coach"], ["topics"]])
def test_console_script_equals_module(argv):
    """`python -m bot` runs the same CLI as main()."""
    env = {**os.environ, "EMBEDDING_MODEL": "off"}  # as run() has it
    out = subprocess.run(
        [sys.executable, "-m", "bot", *argv], capture_output=True, text=True, check=True, env=env
    ).stdout
    assert out == run(argv)[1]


def test_a_history_that_stops_taking_writes_does_not_stop_answers(tmp_path):
    """A store write failing after the store opened (here a real SQLite trigger refusing
    inserts, as a full disk would) is reported once on stderr, and every question is still
    answered with exit 0."""
    import sqlite3

    env = {"DATA_DIR": str(tmp_path)}
    assert run(["ask", "--record", "coach"], env=env)[0] == 0  # creates the history
    db = tmp_path / "history.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON questions"
            " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    code, out, err = run(["ask", "--record", "--json", "-"], env=env, stdin="coach\nsys admin\n")
    assert code == 0
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["section"] for a in answers] == ["The Coach", "The System Administrator"]
    assert err.count("warning: questions are no longer recorded") == 1
    assert str(db) in err and "database or disk is full" in err
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM questions").fetchone()[0] == 1


def test_unquoted_words_are_one_question():
    """`ask what does the coach do` reads the words as one question, as people type it."""
    assert run(["ask", "what", "does", "the", "coach", "do"]) == run(
        ["ask", "what does the coach do"]
    )
    code, out, _ = run(["ask", "--json", "what", "does", "the", "coach", "do?"])
    assert code == 0 and json.loads(out)["question"] == "what does the coach do?"


def test_version(capsys):
    """--version prints the package's version from pyproject.toml."""
    import tomllib

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"devops-role-bot {project['project']['version']}"


def test_serve_help_lists_every_variable_and_the_demo(capsys):
    """`serve --help` names each variable .env.example documents for serve, and the demo."""
    assert main(["serve", "--help"]) == 0
    shown = capsys.readouterr().out
    example = (Path(__file__).parent.parent / ".env.example").read_text()
    documented = {
        line.split("=")[0] for line in example.splitlines() if line[:1].isupper() and "=" in line
    }
    compose_only = {"DOCS_DIR", "BOT_PORT", "BASE_IMAGE", "POSTGRES_PASSWORD", "POSTGRES_IMAGE",
                    "REPLICA_A_PORT", "REPLICA_B_PORT"}  # fmt: skip
    for name in documented - compose_only | {"CONTENT_DIR", "DATA_DIR", "HOST", "PORT"}:
        assert name in shown, name
    assert "devops-role-bot demo" in shown


def test_ask_records_nothing_unless_asked(tmp_path):
    """`ask` leaves the owners' history alone; `ask --record` adds to it."""
    env = {"DATA_DIR": str(tmp_path)}
    assert run(["ask", "coach"], env=env)[0] == 0
    assert not (tmp_path / "history.sqlite3").exists()
    assert run(["ask", "--record", "coach"], env=env)[0] == 0
    code, out, _ = run(["report", "--since", "2w"], env=env)
    assert code == 0 and out.splitlines()[0] == f"History: {tmp_path / 'history.sqlite3'}"
    assert "Questions in the last 14 days: 1" in out


@pytest.mark.parametrize(
    ("line", "kind"),
    [("thanks a lot", "thanks"), ("hi", "greeting"), ("ok", "ack"), ("got it!", "ack"),
     (":+1:", "ack"), ("🎉", "ack")],
)  # fmt: skip
def test_small_talk_gets_one_line_as_in_slack(line, kind):
    """`ask` answers thanks, greetings and acknowledgements with the one line Slack gives,
    not a section the engine would find for their words."""
    from bot.config import SHIPPED_CONTENT
    from bot.content import load_library
    from bot.render import small_talk_text

    expected = small_talk_text(kind, load_library(SHIPPED_CONTENT), slack=False)
    assert "DevOps docs" in expected
    code, out, _ = run(["ask", line])
    assert code == 0 and out.strip() == expected
    code, out, _ = run(["ask", "--json", line])
    assert json.loads(out) == {"question": line, "answered": False, "decision": kind,
                               "text": expected}  # fmt: skip


def test_a_reader_that_stops_early_gets_no_traceback():
    """`ask - | head -1`: the pipe closing early ends the program quietly, exit code 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "ask", "-"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    proc.stdin.write(("what does the coach do\n" * 400).encode())
    proc.stdin.close()
    proc.stdout.read(100)
    proc.stdout.close()  # as `head` does once it has its lines
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and "Traceback" not in err, err


def test_demo_help_shows_its_default_port(capsys):
    """`demo --help` says which port the page uses without --port."""
    assert main(["demo", "--help"]) == 0
    assert "(default: 8765)" in capsys.readouterr().out


def test_ask_starts_from_the_docs_it_kept_and_answers_the_same(tmp_path):
    """`ask` keeps the docs in DATA_DIR as `serve` does; the next `ask` reads them from
    there (no file changed) and answers exactly as the first did, and after an edit picks
    the edit up."""
    import shutil

    from bot.config import SHIPPED_CONTENT

    content = tmp_path / "docs"
    shutil.copytree(SHIPPED_CONTENT, content)
    env = {"DATA_DIR": str(tmp_path / "data"), "CONTENT_DIR": str(content)}
    first = run(["ask", "--json", "what does the DevOps coach do?"], env=env)
    kept = tmp_path / "data" / "docs.pickle"
    assert first[0] == 0 and kept.is_file()
    written = kept.stat().st_mtime_ns
    assert run(["ask", "--json", "what does the DevOps coach do?"], env=env) == first
    assert kept.stat().st_mtime_ns == written  # read, not built and written again
    page = next(content.rglob("*.md"))
    page.write_text(page.read_text() + "\n\n## Parking bays\n\nThe zorbulous bays.\n")
    code, out, _ = run(["ask", "--json", "where are the zorbulous parking bays"], env=env)
    assert code == 0 and json.loads(out)["section"] == "Parking bays"


def test_ask_answers_when_data_dir_cannot_keep_the_docs(tmp_path):
    """A DATA_DIR it cannot write: the answer all the same, and one warning saying so."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, out, err = run(["ask", "coach"], env={"DATA_DIR": str(blocker / "data")})
    assert code == 0 and "The Coach" in out
    assert f"devops-role-bot: warning: could not keep the docs in {blocker / 'data'}" in err
