"""The doc owners' report: what was asked, what went unanswered, what people found unhelpful."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter

from rapidfuzz import fuzz

#: Unanswered questions this similar (rapidfuzz token_set_ratio) ask the same thing.
SAME_QUESTION = 75
ENTRIES = ("slash", "mention", "dm", "cli")
#: Decisions whose reply shows a section (outright, or as a best guess).
SHOWN = ("answer", "hedged")


def parse_since(text: str) -> float:
    """'2w', '30d', '12h', '90m' or '45s' as seconds; raises ValueError naming the bad value."""
    m = re.fullmatch(r"\s*(\d+)\s*([wdhms])\s*", (text or "").lower())
    if not m:
        raise ValueError(f"--since must look like 2w, 30d, 12h or 90m, not {text!r}")
    return int(m.group(1)) * {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}[m.group(2)]


def cluster(questions: list[dict]) -> list[dict]:
    """Group questions that ask the same thing, most frequent first."""
    groups: list[dict] = []
    for q in questions:
        text = q["question"].casefold()
        for g in groups:
            if fuzz.token_set_ratio(text, g["key"]) >= SAME_QUESTION:
                g["questions"].append(q["question"])
                g["near_miss"].update([q["section"]] if q["section"] else [])
                break
        else:
            groups.append(
                {
                    "key": text,
                    "questions": [q["question"]],
                    "near_miss": Counter([q["section"]] if q["section"] else []),
                }
            )
    out = [
        {
            "question": g["questions"][0],
            "count": len(g["questions"]),
            "examples": list(dict.fromkeys(g["questions"]))[:5],
            "near_miss": g["near_miss"].most_common(1)[0][0] if g["near_miss"] else None,
        }
        for g in groups
    ]
    return sorted(out, key=lambda g: (-g["count"], g["question"]))


def build_report(history: list[dict], *, since_seconds: float) -> dict:
    """The report from the store's history rows (one row per question and vote)."""
    by_id: dict[str, dict] = {}
    votes: list[dict] = []
    for row in history:
        by_id.setdefault(row["id"], row)
        if row.get("vote"):
            votes.append(row)
    # A section opened from a button (a did-you-mean choice, a topic) is kept as "picked": it
    # is not a question of its own, but says which section a vague question meant.
    picked = [q for q in by_id.values() if q["decision"] == "picked"]
    questions = [q for q in by_id.values() if q["decision"] != "picked"]
    rates = {}
    for entry in ENTRIES:
        mine = [q for q in questions if q["entry"] == entry]
        if mine:
            answered = sum(q["decision"] in SHOWN for q in mine)
            rates[entry] = {
                "questions": len(mine),
                "answered": answered,
                "answer_rate": round(100 * answered / len(mine), 1),
            }
    unanswered = [q for q in questions if q["decision"] not in SHOWN]
    unhelpful: dict[str, dict] = {}
    for v in votes:
        if v["vote"] != "not_helpful" or not v["section"]:
            continue
        item = unhelpful.setdefault(v["section"], {"section": v["section"], "votes": 0,
                                                   "comments": []})  # fmt: skip
        item["votes"] += 1
        if v.get("comment"):
            item["comments"].append(v["comment"])
    asked = Counter(q["section"] for q in questions if q["decision"] in SHOWN and q["section"])
    return {
        "since_days": round(since_seconds / 86400, 2),
        "questions": len(questions),
        "by_entry": rates,
        "unanswered": cluster(unanswered),
        "not_helpful": sorted(unhelpful.values(), key=lambda u: (-u["votes"], u["section"])),
        "most_asked": [{"section": s, "count": n} for s, n in asked.most_common(10)],
        "picked": [
            {"question": q, "section": sec, "count": n}
            for (q, sec), n in Counter(
                (p["question"], p["section"]) for p in picked if p["entry"] != "home"
            ).most_common(10)
        ],
        "helpful_votes": sum(v["vote"] == "helpful" for v in votes),
        "not_helpful_votes": sum(v["vote"] == "not_helpful" for v in votes),
    }


def report_text(report: dict) -> str:
    """The report as readable text."""
    lines = [f"Questions in the last {report['since_days']:g} days: {report['questions']}"]
    if report.get("database"):
        lines.insert(0, f"History: {report['database']}")
    lines.append("\nAnswer rate by entry point:")
    for entry, r in report["by_entry"].items():
        lines.append(f"  {entry:<8} {r['answer_rate']:5.1f}%  ({r['answered']}/{r['questions']})")
    if not report["by_entry"]:
        lines.append("  (no questions yet)")
    lines.append("\nUnanswered or declined, most frequent first:")
    for g in report["unanswered"][:20]:
        near = f"  (nearest: {g['near_miss']})" if g["near_miss"] else ""
        lines.append(f"  {g['count']:>3} x {g['question']}{near}")
    if not report["unanswered"]:
        lines.append("  (none)")
    lines.append("\nSections voted not helpful:")
    for u in report["not_helpful"][:10]:
        lines.append(f"  {u['votes']:>3} x {u['section']}")
        lines += [f"        “{c}”" for c in u["comments"][:5]]
    if not report["not_helpful"]:
        lines.append("  (none)")
    lines.append("\nSections picked from the buttons, by question (phrasings to add?):")
    lines += [
        f"  {p['count']:>3} x {p['question']}  ->  {p['section']}" for p in report["picked"]
    ] or ["  (none)"]
    lines.append("\nMost asked sections:")
    lines += [f"  {m['count']:>3} x {m['section']}" for m in report["most_asked"]] or ["  (none)"]
    return "\n".join(lines)


#: What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    """A CSV cell as a spreadsheet shows it as text: a text that a spreadsheet would run as
    a formula (a question typed in Slack as ``=HYPERLINK(...)``) starts with a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def report_csv(report: dict) -> str:
    """The report as CSV rows: kind, item, count, detail. The questions and comments are
    what people typed: none is read as a formula when the file is opened in a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out)

    def row(*values: object) -> None:
        writer.writerow([_cell(v) for v in values])

    row("kind", "item", "count", "detail")
    if report.get("database"):
        row("database", report["database"], "", "")
    for entry, r in report["by_entry"].items():
        row("answer_rate", entry, r["questions"], r["answer_rate"])
    for g in report["unanswered"]:
        row("unanswered", g["question"], g["count"], g["near_miss"] or "")
    for u in report["not_helpful"]:
        row("not_helpful", u["section"], u["votes"], " | ".join(u["comments"]))
    for m in report["most_asked"]:
        row("most_asked", m["section"], m["count"], "")
    for p in report["picked"]:
        row("picked", p["question"], p["count"], p["section"])
    return out.getvalue()


def render_report(report: dict, fmt: str) -> str:
    """The report in one of the formats `report --format` takes."""
    if fmt == "json":
        return json.dumps(report, ensure_ascii=False, indent=2)
    if fmt == "csv":
        return report_csv(report)
    return report_text(report)
