"""An answer as plain text and JSON for the CLI, and as Slack mrkdwn / Block Kit."""

from __future__ import annotations

from bot.content import Library, Section
from bot.search import Answer, Match


def heading_path_text(section: Section) -> str:
    """The heading path as one line: DevOps > How a DevOps Specialist Works > The Coach."""
    return " > ".join(section.heading_path)


def answer_json(answer: Answer) -> dict:
    """One answer as the JSON object `ask --json` prints."""
    best = answer.best.section if answer.best else None
    return {
        "question": answer.question,
        "answered": answer.answered,
        "decision": answer.decision,
        "document": best.document if best else None,
        "section": best.name if best else None,
        "path": best.path if best else None,
        "heading_path": list(best.heading_path) if best else [],
        "url": best.url if best else None,
        "score": answer.score,
        "text": best.markdown if best else None,
        "suggestions": [
            {
                "document": m.section.document,
                "section": m.section.name,
                "path": m.section.path,
                "score": m.score,
            }
            for m in answer.alternatives
        ],
    }


def answer_text(answer: Answer, library: Library) -> str:
    """One answer as readable text: the section, the suggestions, or a polite decline."""
    if answer.decision == "answer" and answer.best:
        return section_text(answer.best)
    if answer.decision == "suggest" and answer.best:
        lines = ["I'm not sure which part you mean. Did you mean:"]
        for m in did_you_mean(answer):
            lines.append(f"  - {heading_path_text(m.section)}  (score {m.score})")
        return "\n".join(lines)
    return "I couldn't find that in the role docs. Topics I know about:\n" + topics_text(library)


def did_you_mean(answer: Answer) -> list[Match]:
    """The sections offered when the engine is unsure: the best and up to two runners-up."""
    return [m for m in (answer.best, *answer.alternatives) if m is not None][:3]


def section_text(match: Match) -> str:
    """A matched section as text: heading path, its Markdown, link and score."""
    s = match.section
    parts = [heading_path_text(s), "=" * min(72, len(heading_path_text(s))), s.markdown.strip()]
    if s.url:
        parts.append(f"Read more: {s.url}")
    parts.append(f"({s.path}, score {match.score})")
    return "\n\n".join(p for p in parts if p)


def topics_text(library: Library) -> str:
    """Every section as an indented outline, one block per document."""
    lines: list[str] = []
    for doc in library.documents:
        lines.append(f"{doc.title}  ({doc.path})")
        depth: dict[str, int] = {}
        for s in doc.sections:
            depth[s.id] = depth[s.parent] + 1 if s.parent in depth else 0
            lines.append("  " * (depth[s.id] + 1) + s.name)
    return "\n".join(lines)
