"""An answer as plain text and JSON for the CLI, and as Slack mrkdwn / Block Kit."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, urljoin, urlsplit

from markdown_it.token import Token

from bot.content import (
    DOC_SUFFIXES,
    Document,
    Library,
    Section,
    parse_blocks,
    parse_inline,
    plain_text,
)
from bot.engine.search import Answer, Match, clean_question
from bot.markup import site_tags_shown


def display_path(section: Section) -> tuple[str, ...]:
    """The headings a reader sees above a section, the section's own name last.

    A document's root section named otherwise than the document ("The Role of a DevOps
    Specialist" in "DevOps") gets both, so that it reads as the name people click on.
    """
    path = section.heading_path
    return path if path and path[-1] == section.name else (*path, section.name)


def heading_path_text(section: Section) -> str:
    """The display path as one line: DevOps > How a DevOps Specialist Works > The Coach."""
    return " > ".join(display_path(section))


def docs_name(library: Library) -> str:
    """What the docs are called in replies: DOCS_NAME, else 'the <title> docs' for a single
    document, else 'the docs'."""
    if library.name:
        return library.name
    if len(library.documents) == 1:
        return f"the {library.documents[0].title} docs"
    return "the docs"


def button_label(section: Section, library: Library | None, limit: int = 75) -> str:
    """A section's name for a button, with its page (or, within one page, its parent heading)
    where the name alone is ambiguous ('Conclusion · Git Branching'), within ``limit``."""
    name = section.name
    if library is None or library.name_counts.get(name.casefold(), 0) <= 1:
        return _cut(name, limit)
    same = [s for s in _page_of(section, library) if s.name.casefold() == name.casefold()]
    # Another page has it: name the page; this page has it twice: name the nearest heading
    # above that differs, else the line.
    above = [h for h in reversed(section.heading_path[:-1]) if h.casefold() != name.casefold()]
    where = section.document
    if library.title_counts.get(where.casefold(), 0) > 1:
        where = folder_name(section.path)  # two pages of that title: the folder tells them apart
    if len(same) > 1:
        parents = {s.heading_path[:-1] for s in same}
        where = above[0] if above and len(parents) == len(same) else f"line {section.line}"
    elif where.casefold() == name.casefold():
        where = above[0] if above else folder_name(section.path)
    name = _cut(name, limit // 2) if len(name) + len(where) + 3 > limit else name
    return _cut(f"{name} · {where}", limit)


def folder_name(path: str) -> str:
    """The folder a page is in, as a reader names it ('01_01_DevOps' -> 'DevOps')."""
    if "/" not in path:
        return path
    folder = path.rsplit("/", 2)[-2]
    return re.sub(r"^(\d+[-_.\s]+)+", "", folder).replace("_", " ").strip() or folder


def _page_of(section: Section, library: Library) -> tuple[Section, ...]:
    return next((d.sections for d in library.documents if d.path == section.path), ())


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    """One answer as readable text: the section (outright or as a best guess, with the next
    ones), the suggestions, or a polite decline."""
    if answer.decision == "answer" and answer.best:
        return section_text(answer.best, match_label(answer))
    if answer.decision == "hedged" and answer.best:
        maybe = [f"  - {heading_path_text(m.section)}" for m in answer.alternatives]
        text = f"{HEDGE_TEXT}\n\n" + section_text(answer.best, match_label(answer))
        return text + ("\n\nNot it? Maybe:\n" + "\n".join(maybe) if maybe else "")
    if answer.decision == "suggest" and answer.best:
        lines = ["I'm not sure which part you mean. Did you mean:"]
        for m in did_you_mean(answer):
            lines.append(f"  - {heading_path_text(m.section)}")
        return "\n".join(lines)
    return f"I couldn't find that in {docs_name(library)}. Topics I know about:\n" + topics_text(
        library
    )


def match_label(answer: Answer) -> str:
    """How sure the bot is that the shown section is right: 'match 92%', a calibrated
    probability (about 92 answers in 100 shown with it are right)."""
    return f"match {answer.probability}%"


def did_you_mean(answer: Answer) -> list[Match]:
    """The sections offered when the engine is unsure: the best and up to two runners-up."""
    return [m for m in (answer.best, *answer.alternatives) if m is not None][:3]


def section_text(match: Match, label: str | None = None) -> str:
    """A matched section as text: heading path, its Markdown, link, and how sure the bot is."""
    s = match.section
    parts = [
        heading_path_text(s), "=" * min(72, len(heading_path_text(s))),
        site_tags_shown(s.markdown.strip()),
    ]  # fmt: skip
    if s.url:
        parts.append(f"Read more: {s.url}")
    parts.append(f"({s.path}, {label})" if label else f"({s.path})")
    return "\n\n".join(p for p in parts if p)


def topics_text(library: Library, max_depth: int | None = None) -> str:
    """Every section as an indented outline, one block per document; with ``max_depth``,
    only sections that many levels below their document (0: the documents alone)."""
    lines: list[str] = []
    for doc in library.documents:
        lines.append(f"{doc.title}  ({doc.path})")
        depth: dict[str, int] = {}
        for s in doc.sections:
            depth[s.id] = depth[s.parent] + 1 if s.parent in depth else 0
            if max_depth is None or depth[s.id] < max_depth:
                lines.append("  " * (depth[s.id] + 1) + s.name)
    return "\n".join(lines)


# --- Slack ------------------------------------------------------------------------------

#: Slack ids shared by the code that renders and the code that listens.
COMMAND = "/devops-role"
#: A button that shows a section. Slack refuses a block whose action_ids repeat, so each one
#: is numbered (show_section:0, show_section:1, ...); buttons posted before that carry the
#: plain id, and both are handled.
ACTION_SHOW = "show_section"
SHOW_ACTIONS = re.compile(rf"^{ACTION_SHOW}(?::\d+)?$")
SECTION_MODAL = "section_modal"
ACTION_SHARE = "share_answer"
ACTION_HELPFUL = "vote_helpful"
ACTION_NOT_HELPFUL = "vote_not_helpful"
FEEDBACK_MODAL = "feedback_modal"
FEEDBACK_BLOCK = "missing"
FEEDBACK_INPUT = "comment"
THANKS = "Thanks for the feedback!"
#: Slack limits: section text 3,000 characters, 50 blocks a message, header 150 characters,
#: 100 blocks in a Home tab view, 25 elements in an actions block, button text 75.
SECTION_LIMIT = 3000
MESSAGE_BLOCKS = 50
HEADER_LIMIT = 150
HOME_BLOCKS = 100
ACTIONS_LIMIT = 25
BUTTON_TEXT = 75
HEDGE_TEXT = "Best guess: I'm not sure this is the part you mean."
#: A modal's title is at most 24 characters.
MODAL_TITLE = 24
#: A page button (App Home, a decline): opens the page's sections in a modal.
ACTION_PAGE = "show_page"
PAGE_ACTIONS = re.compile(rf"^{ACTION_PAGE}(?::\d+)?$")
PAGE_MODAL = "page_modal"
#: Up to this many sections a Home tab lists them all as buttons; past it, pages.
HOME_SECTIONS = 40
#: How many most-asked sections the Home tab and a decline offer.
POPULAR = 5
#: Slack refuses a chat.postMessage `text` over 40,000 characters (msg_too_long).
TEXT_LIMIT = 40_000
#: chat.postMessage/postEphemeral/update refuse blocks whose text adds up past roughly
#: 12,000-13,300 characters (msg_blocks_too_long; slackapi/bolt-js #2509 and #2867, where
#: 11,341 were refused): a message's blocks stay under this, the rest behind a button.
MESSAGE_TEXT = 11_000
#: The button that posts the next part of a section too long for one message.
ACTION_MORE = "show_rest"
#: How much of a section the notification `text` carries (plain words, no markup).
NOTIFICATION_TEXT = 300
#: How much of the question a did-you-mean button carries (a button value is at most 2,000).
VALUE_QUESTION = 300


def show_action(n: int) -> str:
    """The action_id of the n-th section button of a block (unique within it, as Slack asks)."""
    return f"{ACTION_SHOW}:{n}"


@dataclass(frozen=True, slots=True)
class Shared:
    """What a Share button carries: the section, and how it was shown (its "match N%" and
    whether it was a best guess), since a click on an ephemeral reply comes without it."""

    section_id: str
    label: str | None = None
    hedged: bool = False

    def value(self) -> str:
        """The button's value: the plain section id when there is nothing more to carry."""
        if self.label is None and not self.hedged:
            return self.section_id
        return json.dumps({"s": self.section_id, "l": self.label, "h": self.hedged})

    @classmethod
    def of(cls, value: str) -> Shared:
        """Read a Share button's value back (an older button carries the plain id)."""
        if value.startswith("{"):
            try:
                data = json.loads(value)
                return cls(str(data["s"]), data.get("l") or None, bool(data.get("h")))
            except (ValueError, KeyError, TypeError):
                pass
        return cls(value)


@dataclass(frozen=True, slots=True)
class Shown:
    """What a section button carries: the section, and the question and score it came from."""

    section_id: str
    score: int | None = None
    question: str | None = None

    def value(self) -> str:
        """The button's value: JSON when there is more than the section id (under 2,000)."""
        if self.score is None and self.question is None:
            return self.section_id
        data = {"s": self.section_id, "p": self.score, "q": (self.question or "")[:VALUE_QUESTION]}
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def of(cls, value: str) -> Shown:
        """Read a button's value back; an older button's value is the plain section id."""
        if value.startswith("{"):
            try:
                data = json.loads(value)
                return cls(str(data["s"]), data.get("p"), data.get("q") or None)
            except (ValueError, KeyError, TypeError):
                pass
        return cls(value)


def escape(text: str) -> str:
    """Escape text for mrkdwn so nothing a user typed can ping (<!channel>, <@U...>)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.translate(_SLOT_MARKS)  # (the marks of a link slot: see to_mrkdwn)


def doc_links(section: Section, library: Library | None) -> Callable[[str], str | None] | None:
    """Where the links in a section's text go on the published docs, as a reader of its page
    follows them: another doc's file (``../setup.md#proxy``) to that doc's page, an anchor to
    a place on the section's page, any other path as the browser resolves it from the page.
    None without DOCS_BASE_URL (the section has no URL): such links are then their text."""
    if library is None or not section.url:
        return None
    page = section.url.partition("#")[0]

    def target(href: str) -> str | None:
        try:
            scheme = urlsplit(href).scheme
        except ValueError:  # ("//[x": markdown-it encodes brackets, but no reply may fail)
            return None
        if scheme:
            return None  # (another scheme than the web's: not for a Slack reader)
        path, _, anchor = href.partition("#")
        if not path:
            return f"{page}#{anchor}" if anchor else page
        if path.lower().endswith(DOC_SUFFIXES) and not path.startswith("/"):
            rel = posixpath.normpath(posixpath.join(posixpath.dirname(section.path), unquote(path)))
            parsed = library.parsed.get(rel)
            doc = parsed.document if parsed is not None else None
            url = doc.sections[0].url if doc is not None else None
            return url and (url.partition("#")[0] + (f"#{anchor}" if anchor else ""))
        return urljoin(page, href)

    return target


def to_mrkdwn(markdown: str, links: Callable[[str], str | None] | None = None) -> str:
    """Markdown as Slack mrkdwn: bold, italics, links, lists, code, quotes and tables. A link
    that is not a web or mail address is its text alone, or, with ``links`` (``doc_links``),
    a link to where ``links`` says it goes on the published docs."""

    def link(slot: re.Match) -> str:
        href, label = slot[1], slot[2]
        url = links(href) if links is not None else None
        return f"<{_safe_url(url)}|{label}>" if url else label

    return _LINK_SLOT.sub(link, _mrkdwn(markdown))


#: A link whose target ``to_mrkdwn`` finds (its href, then its text), in ``_mrkdwn``'s text.
_LINK_SLOT = re.compile("\ue000([^\ue001]*)\ue001([^\ue002]*)\ue002")
#: Characters no text of ours may hold (``escape`` removes them): they mark a link slot.
_SLOT_MARKS = dict.fromkeys(map(ord, "\ue000\ue001\ue002"))


def _safe_url(url: str) -> str:
    """A URL as mrkdwn takes it in ``<url|text>``."""
    return url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")


@lru_cache(maxsize=4096)
def _mrkdwn(markdown: str) -> str:
    """``to_mrkdwn`` with each link to another place than a web or mail address as a slot
    (its href and text). Cached: the same sections are shown again and again."""
    tokens, env = parse_blocks(site_tags_shown(markdown))
    for t in tokens:
        if t.type == "inline":
            parse_inline(t, env)
    out: list[str] = []
    lists: list[list[int]] = []  # per open list: [ordered?, counter]
    quote = 0
    i = 0
    row: list[str] = []
    header: list[str] = []
    in_head = False
    while i < len(tokens):
        t = tokens[i]
        prefix = "> " * quote
        if t.type == "heading_open":
            out.append(f"{prefix}*{_inline(tokens[i + 1]).strip('*')}*")
            i += 3
            continue
        if t.type in ("bullet_list_open", "ordered_list_open"):
            lists.append([t.type == "ordered_list_open", int(t.attrGet("start") or 1)])
        elif t.type in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif t.type == "list_item_open":
            ordered, n = lists[-1]
            marker = f"{n}." if ordered else "•"
            lists[-1][1] += 1
            indent = "    " * (len(lists) - 1)
            # The item's first paragraph goes on the marker line.
            j = i + 1
            if j < len(tokens) and tokens[j].type == "paragraph_open":
                out.append(f"{prefix}{indent}{marker} {_inline(tokens[j + 1])}")
                i = j + 3
                continue
            out.append(f"{prefix}{indent}{marker}")
        elif t.type == "blockquote_open":
            quote += 1
        elif t.type == "blockquote_close":
            quote -= 1
        elif t.type == "inline" and not row and tokens[i - 1].type == "paragraph_open":
            indent = "    " * len(lists)
            out.append(prefix + indent + _inline(t).replace("\n", "\n" + prefix + indent))
        elif t.type in ("fence", "code_block"):
            code = t.content.rstrip("\n").replace("```", "`\u200b``")
            out.append(f"{prefix}```\n{escape(code)}\n```")
        elif t.type == "thead_open":
            in_head = True
        elif t.type == "thead_close":
            in_head = False
        elif t.type == "tr_open":
            row = []
        elif t.type in ("th_open", "td_open"):
            row.append(_inline(tokens[i + 1]))
            i += 3
            continue
        elif t.type == "tr_close":
            if in_head:
                header = row
            else:
                cells = [
                    f"*{h}*: {c}" if h else c
                    for h, c in zip(header + [""] * len(row), row, strict=False)
                    if c
                ]
                out.append(prefix + "• " + " · ".join(cells))
            row = []
        elif t.type == "hr":
            out.append(prefix + "───")
        i += 1
    return "\n".join(out).strip()


def _inline(token: Token) -> str:
    parts: list[str] = []
    links: list[str] = []
    for c in token.children or []:
        if c.type == "text":
            parts.append(escape(c.content))
        elif c.type == "code_inline":
            parts.append(f"`{escape(c.content)}`")
        elif c.type in ("strong_open", "strong_close"):
            parts.append("*")
        elif c.type in ("em_open", "em_close"):
            parts.append("_")
        elif c.type in ("s_open", "s_close"):
            parts.append("~")
        elif c.type == "softbreak":
            parts.append(" ")
        elif c.type == "hardbreak" or (
            c.type == "html_inline" and c.content.lower().startswith("<br")
        ):
            parts.append("\n")
        elif c.type == "link_open":
            links.append(str(c.attrGet("href") or ""))
            parts.append("\x00")
        elif c.type == "link_close":
            href = links.pop()
            start = len(parts) - 1 - parts[::-1].index("\x00")
            label = "".join(parts[start + 1 :]) or href
            del parts[start:]
            if href.startswith(("http", "mailto:")):
                parts.append(f"<{_safe_url(href)}|{label}>")
            elif href:  # (where it goes is found for the section it is in: to_mrkdwn)
                parts.append(f"\ue000{href.translate(_SLOT_MARKS)}\ue001{label}\ue002")
            else:
                parts.append(label)
    return "".join(parts)


_FENCE_LINE = re.compile(r"^(?:> )*```")


def split_mrkdwn(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Split mrkdwn like ``split_text``, closing a code block at the end of a chunk it is
    still open in and opening it again at the start of the next, so no fence dangles."""
    chunks = split_text(text, limit - 8)  # room for the fences added
    out: list[str] = []
    was_open = False
    for chunk in chunks:
        if was_open:
            chunk = "```\n" + chunk
        toggles = sum(1 for line in chunk.split("\n") if _FENCE_LINE.match(line))
        was_open = toggles % 2 == 1
        out.append(chunk + "\n```" if was_open else chunk)
    return out


def blocks_text(blocks: object) -> int:
    """How many characters of text blocks hold, every text field added up (what Slack
    counts for msg_blocks_too_long)."""
    if isinstance(blocks, list):
        return sum(blocks_text(b) for b in blocks)
    if not isinstance(blocks, dict):
        return 0
    return sum(
        len(v) if k == "text" and isinstance(v, str) else blocks_text(v) for k, v in blocks.items()
    )


def notification_text(title: str, markdown: str) -> str:
    """A section's notification text: its title and the start of its words, no markup."""
    words = " ".join(plain_text(markdown).split())
    if len(words) > NOTIFICATION_TEXT:
        cut = words.rfind(" ", 0, NOTIFICATION_TEXT)
        words = words[: cut if cut > 0 else NOTIFICATION_TEXT] + " …"
    return escape(f"{title}: {words}" if words else title)


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Split mrkdwn into chunks of at most ``limit`` characters, at line ends where possible."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            cut = line.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:cut])
            line = line[cut:].lstrip(" ")
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        chunks.append(current)
    return [c for c in chunks if c.strip()]


def _header(text: str) -> dict:
    text = _cut(text, HEADER_LIMIT)
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


# A section's text and a context element's are 3,000 characters at most: long text is split
# before it gets here (split_mrkdwn); what is still longer (a page title or heading path
# thousands of characters long) is cut, not refused.
def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, SECTION_LIMIT)}}


def _context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(text, SECTION_LIMIT)}]}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict:
    text = _cut(text, BUTTON_TEXT)
    button = {
        "type": "button",
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def section_buttons(
    matches: Sequence[Match], question: str, library: Library | None = None
) -> dict:
    """An actions block with a button per section (ids numbered: unique in the block), each
    carrying the question and the section's score for the record of the pick."""
    return {"type": "actions", "elements": [
        _button(button_label(m.section, library), show_action(n),
                Shown(m.section.id, m.score, question).value())
        for n, m in enumerate(matches)]}  # fmt: skip


def section_blocks(
    match: Match,
    *,
    shareable: bool = False,
    shared_by: str | None = None,
    feedback_id: str | None = None,
    label: str | None = None,
    limit: int = MESSAGE_BLOCKS,
    maybe: tuple[Match, ...] = (),
    question: str = "",
    hedged: bool = False,
    text_limit: int | None = MESSAGE_TEXT,
    part: int = 0,
    library: Library | None = None,
) -> tuple[list[dict], str]:
    """A section as Block Kit blocks (within Slack's limits) and its notification text.

    ``label`` says how sure the bot is ("match 92%"); ``maybe``, when given, makes the reply a
    best guess, with a "Not it? Maybe:" button for each of those sections (``hedged``: a best
    guess with no other section to offer). Past ``text_limit`` characters of block text the
    section stops at a "Show the rest" button that posts it from the next chunk on (``part``);
    without a limit (a modal), what does not fit is announced with a link."""
    s = match.section
    title = heading_path_text(s)
    blocks: list[dict] = [_header(title if not part else f"{title} (continued)")]
    if maybe or hedged:
        blocks.insert(0, _context(f"*{HEDGE_TEXT}* ({escape(label or '')})"))
    body = (
        to_mrkdwn(s.markdown, doc_links(s, library)) or "_(This section has no text of its own.)_"
    )
    chunks = split_mrkdwn(body)[part:] or ["_(Nothing more in this section.)_"]
    tail: list[dict] = []
    if s.url:
        tail.append(_section(f"<{s.url}|Read this section in the docs>"))
    context = f"From *{escape(s.document)}* · `{escape(s.path)}`"
    if label:
        context += f" · {escape(label)}"
    if s.updated:
        context += f" · Updated {s.updated}"
    if shared_by:
        context += f" · shared by <@{shared_by}>"
    tail.append(_context(context))
    buttons = []
    if shareable:
        shared = Shared(s.id, label, hedged=bool(maybe or hedged)).value()
        buttons.append(_button("Share in channel", ACTION_SHARE, shared, "primary"))
    if feedback_id:
        buttons.append(_button("Helpful", ACTION_HELPFUL, feedback_id))
        buttons.append(_button("Not helpful", ACTION_NOT_HELPFUL, feedback_id))
    if buttons:
        tail.append({"type": "actions", "elements": buttons})
    if maybe:
        tail.append(_section("*Not it? Maybe:*"))
        tail.append(section_buttons(maybe, question, library))
    room = limit - len(blocks) - len(tail)
    if text_limit is not None:
        # Take chunks while they fit the message's text; the rest is one click away.
        budget = text_limit - blocks_text(blocks) - blocks_text(tail) - 200
        fit = 0
        while fit < min(len(chunks), room - 1) and budget >= len(chunks[fit]):
            budget -= len(chunks[fit])
            fit += 1
        fit = max(fit, 1)
        if fit < len(chunks):
            left = sum(len(c) for c in chunks[fit:])
            more = _section(f"_… {left} more characters of this section._")
            more["accessory"] = _button("Show the rest", ACTION_MORE,
                                        json.dumps({"s": s.id, "c": part + fit}))  # fmt: skip
            chunks = chunks[:fit]
            tail.insert(0, more)
    elif len(chunks) > room:
        # Never cut silently: say how much is left and where to read it.
        kept = chunks[: room - 1]
        left = sum(len(c) for c in chunks[room - 1 :])
        where = f"<{s.url}|the docs>" if s.url else f"`{escape(s.path)}`"
        kept.append(f"_… {left} more characters of this section: read it in {where}._")
        chunks = kept
    blocks += [_section(c) for c in chunks] + tail
    return blocks, notification_text(title, s.markdown)


def answer_blocks(
    answer: Answer,
    library: Library,
    *,
    shareable: bool = False,
    feedback_id: str | None = None,
    popular: Sequence[Section] = (),
) -> tuple[list[dict], str]:
    """The bot's reply to a question: the section (outright, or as a best guess with the next
    ones as buttons), 'did you mean' buttons, or a decline (with ``popular``, the most asked
    sections, first among its buttons on a large folder)."""
    if answer.decision in ("answer", "hedged") and answer.best:
        hedged = answer.decision == "hedged"
        blocks, fallback = section_blocks(
            answer.best,
            shareable=shareable,
            feedback_id=feedback_id,
            label=match_label(answer),
            maybe=answer.alternatives if hedged else (),
            hedged=hedged,
            question=clean_question(answer.question),
            library=library,
        )
        return blocks, (f"Best guess: {fallback}" if hedged else fallback)
    asked = escape(answer.question[:200])
    if answer.decision == "suggest":
        options = did_you_mean(answer)
        question = clean_question(answer.question)
        blocks = [
            _section(f"I'm not sure which part you mean by “{asked}”. Did you mean:"),
            section_buttons(options, question, library),
        ]
        names = ", ".join(button_label(m.section, library) for m in options)
        return blocks, escape(f"Did you mean: {names}?")
    declined = decline_text(library)
    small = len(library.documents) == 1 or len(library.documents) <= ACTIONS_LIMIT // 2
    if small:
        intro = f"{declined} (You asked: “{asked}”.) These are the topics I know about:"
        return [_section(intro), *topic_buttons(library)], declined
    # A large folder: not a wall of pages, but what people ask most and the way to browse.
    offered = list(dict.fromkeys([*popular][:POPULAR]))
    intro = f"{declined} (You asked: “{asked}”.)"
    blocks = [_section(intro)]
    if offered:
        blocks.append(_section("*Most asked:*"))
        blocks.append(_sections_row(offered, library))
    blocks.append(_context(
        f"I know {len(library.documents)} pages: browse them in my *Home* tab,"
        f" or ask `{COMMAND} topics`."))  # fmt: skip
    return blocks, declined


def decline_text(library: Library) -> str:
    """The decline's first line, naming the docs."""
    return f"Sorry, I couldn't find that in {escape(docs_name(library))}."


def _sections_row(sections: Sequence[Section], library: Library) -> dict:
    """Sections as one actions block of buttons, each named so it is not ambiguous."""
    return {"type": "actions", "elements": [
        _button(button_label(s, library), show_action(n), s.id)
        for n, s in enumerate(sections[:ACTIONS_LIMIT])]}  # fmt: skip


def topic_buttons(library: Library, limit: int = ACTIONS_LIMIT) -> list[dict]:
    """The topics as one click each: every section of a single document, or every document
    (its first section); past ``limit`` buttons, a pointer to the full list."""
    if len(library.documents) == 1:
        sections = list(library.documents[0].sections)
    else:
        sections = [doc.sections[0] for doc in library.documents if doc.sections]
    shown = sections[:limit]
    blocks: list[dict] = [_sections_row(shown, library)] if shown else []
    if len(sections) > len(shown):
        more = len(sections) - len(shown)
        blocks.append(_context(f"… and {more} more: ask `{COMMAND} topics` for all of them."))
    return blocks


def topic_blocks(
    library: Library, limit: int = MESSAGE_BLOCKS - 2, text_limit: int = MESSAGE_TEXT
) -> list[dict]:
    """The topic outline as mrkdwn sections within Slack's limits: every section if it fits
    in ``text_limit`` characters, else fewer levels (down to the pages alone)."""
    for depth in (None, 2, 1, 0):
        outline = topics_text(library, depth)
        lines = [escape(line) for line in outline.splitlines()]
        text = "*Topics I know about:*\n" + "\n".join(
            line if line.startswith(" ") else f"*{line}*" for line in lines
        )
        text = text.replace("  ", "\u2003")  # keep the outline's indentation in Slack
        if len(text) <= text_limit:
            break
    if depth is not None:
        text += "\n_Each page has more sections: ask about one, or open my Home tab._"
    chunks = split_text(text)
    if len(chunks) > limit or sum(map(len, chunks)) > text_limit:
        keep: list[str] = []
        for c in chunks[: limit - 1]:
            if sum(map(len, keep)) + len(c) > text_limit - 100:
                break
            keep.append(c)
        chunks = [*keep, f"_… and more: ask `{COMMAND} topics`._"]
    return [_section(c) for c in chunks]


def example_question(library: Library) -> str:
    """A question to show as an example: about the first document's last section."""
    sections = library.documents[0].sections if library.documents else ()
    return f"tell me about {sections[-1].name}" if sections else "what do the docs cover?"


def small_talk_text(kind: str, library: Library, *, slack: bool = True) -> str:
    """The one line for a greeting, a thank-you or an acknowledgement (smalltalk.small_talk),
    as Slack mrkdwn or (``slack=False``) plain text for the command line."""
    name = docs_name(library)
    if kind == "thanks":
        return f"You're welcome! Ask me anything else about {name}."
    if kind == "ack":
        return f"Glad to help. Ask me anything else about {name} whenever you like."
    if not slack:
        return f"Hi! Ask me about {name}, for example: {example_question(library)}"
    return (
        f"Hi! Ask me about {name}, for example _{example_question(library)}_"
        f" (`{COMMAND} help` shows how)."
    )


def greeting_blocks(kind: str, library: Library) -> tuple[list[dict], str]:
    """A short, friendly reply to "hi", "thanks" or "ok" (not the decline and the topic list)."""
    text = escape(small_talk_text(kind, library))  # a section name may hold '<' or '&'
    return [_section(text)], text


def help_blocks(library: Library, bot_user_id: str | None = None) -> tuple[list[dict], str]:
    """How to ask (all three ways) and the topic list."""
    mention = f"<@{bot_user_id}>" if bot_user_id else "@devops-role-bot"
    example = escape(example_question(library))
    text = (
        f"*Ask me about {escape(docs_name(library))}, three ways:*\n"
        f"• `{COMMAND} {example}`: only you see the answer, and you can share it\n"
        f"• mention me in a channel: {mention} {example}\n"
        "• send me a direct message\n"
        f"`{COMMAND} topics` lists what I know; `{COMMAND} help` shows this."
    )
    topics = topic_blocks(library, MESSAGE_BLOCKS - 1, MESSAGE_TEXT - len(text))
    return [_section(text), *topics], "How to ask me"


def home_view(library: Library, popular: Sequence[Section] = ()) -> dict:
    """The App Home tab: what the bot is, how to ask, the most asked sections, and the topics:
    every section as a button on a small folder; on a large one, a button per page that opens
    its sections."""
    name = docs_name(library)
    blocks: list[dict] = [
        _header(_cut(f"Ask me about {name}", HEADER_LIMIT)),
        _section(
            f"I answer questions about {escape(name)} with the matching section.\n"
            f"• `{COMMAND} <question>` anywhere (only you see the answer)\n"
            "• mention me in a channel, and I answer in a thread\n"
            "• or send me a direct message (Messages tab)"
        ),
        {"type": "divider"},
    ]
    if popular:
        blocks += [_section("*Most asked*"), _sections_row(list(popular)[:POPULAR], library)]
    if library.section_count <= HOME_SECTIONS:
        for doc in library.documents:
            blocks.append(_section(f"*{escape(doc.title)}*"))
            for k in range(0, len(doc.sections), ACTIONS_LIMIT):
                blocks.append(_sections_row(doc.sections[k : k + ACTIONS_LIMIT], library))
        return {"type": "home", "blocks": blocks[:HOME_BLOCKS]}
    blocks.append(_section(f"*{len(library.documents)} pages* (a page opens its sections)"))
    docs = list(library.documents)
    for k in range(0, len(docs), ACTIONS_LIMIT):
        if len(blocks) >= HOME_BLOCKS - 1:
            blocks.append(_context(f"More pages: ask `{COMMAND} topics`."))
            break
        chunk = docs[k : k + ACTIONS_LIMIT]
        blocks.append({"type": "actions", "elements": [
            _button(page_label(d, library), page_action(n), d.path)
            for n, d in enumerate(chunk)]})  # fmt: skip
    return {"type": "home", "blocks": blocks[:HOME_BLOCKS]}


def page_action(n: int) -> str:
    """The action_id of the n-th page button of a block."""
    return f"{ACTION_PAGE}:{n}"


def page_label(doc: Document, library: Library) -> str:
    """A page's title for a button, with its folder where two pages share the title."""
    folder = folder_name(doc.path)
    title_shared = library.title_counts.get(doc.title.casefold(), 0) > 1
    if title_shared and folder.casefold() != doc.title.casefold():
        return _cut(f"{doc.title} · {folder}", BUTTON_TEXT)
    return _cut(doc.title, BUTTON_TEXT)


def page_modal(doc: Document, library: Library) -> dict:
    """A page's sections as buttons in a modal (opened from a page button)."""
    blocks: list[dict] = [_header(doc.title)]
    sections = list(doc.sections)
    for k in range(0, len(sections), ACTIONS_LIMIT):
        if len(blocks) >= HOME_BLOCKS - 1:
            blocks.append(_context(f"More sections: ask `{COMMAND} topics`."))
            break
        blocks.append(_sections_row(sections[k : k + ACTIONS_LIMIT], library))
    return {
        "type": "modal",
        "callback_id": PAGE_MODAL,
        "title": {"type": "plain_text", "text": _cut(doc.title, MODAL_TITLE)},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": blocks,
    }


def home_fallback(library: Library) -> dict:
    """A Home tab of text only, published if Slack refuses the one with buttons."""
    intro = _section(
        f"I answer questions about {escape(docs_name(library))}: `{COMMAND} <question>`,"
        " a mention in a channel, or a direct message."
    )
    return {"type": "home", "blocks": [intro, *topic_blocks(library, HOME_BLOCKS - 1)]}


NOT_HELPFUL_NOTED = "Noted: not helpful. The docs' owners see it in their report."


def vote_noted(kind: str) -> str:
    """What a voter is told: thanks for a helpful vote; for a not-helpful one, that it was
    noted (it counts whether or not they say what was missing)."""
    return THANKS if kind == "helpful" else NOT_HELPFUL_NOTED


def thanked(blocks: list[dict], kind: str = "helpful") -> list[dict]:
    """A message's blocks with the vote buttons replaced by what the vote got (vote_noted)."""
    out: list[dict] = []
    for block in blocks:
        elements = block.get("elements", []) if block.get("type") == "actions" else []
        votes = [e for e in elements if e.get("action_id") in (ACTION_HELPFUL, ACTION_NOT_HELPFUL)]
        if not votes:
            out.append(block)
            continue
        kept = [e for e in elements if e not in votes]
        if kept:
            out.append({**block, "elements": kept})
        out.append(_context(f"_{vote_noted(kind)}_"))
    return out


def feedback_modal(feedback_id: str) -> dict:
    """The "what was missing?" modal opened by a Not helpful vote (the comment is optional)."""
    return {
        "type": "modal",
        "callback_id": FEEDBACK_MODAL,
        "private_metadata": feedback_id,
        "title": {"type": "plain_text", "text": "What was missing?"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Skip"},
        "blocks": [
            {
                "type": "input",
                "block_id": FEEDBACK_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "What did you hope to find?"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": FEEDBACK_INPUT,
                    "multiline": True,
                    "max_length": 2000,
                },
            }
        ],
    }


def section_modal(
    match: Match, *, feedback_id: str | None = None, library: Library | None = None
) -> dict:
    """A section in a modal, opened from a Home tab topic (where the person is looking);
    ``library``: its docs, for its links (``doc_links``)."""
    blocks, _ = section_blocks(
        match, feedback_id=feedback_id, limit=HOME_BLOCKS, text_limit=None, library=library
    )
    return {
        "type": "modal",
        "callback_id": SECTION_MODAL,
        "private_metadata": feedback_id or "",
        "title": {"type": "plain_text", "text": _cut(match.section.document, MODAL_TITLE)},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": blocks,
    }


def plain(text: str) -> str:
    """A reply as plain text for Slack's `text` field: escaped, within its 40,000 characters."""
    return _cut(escape(text), TEXT_LIMIT)


def moved_blocks(channel: str, blocks: list[dict]) -> list[dict]:
    """A reply's blocks sent to the asker alone because Slack refused them in ``channel``
    (a Slack channel id): a line saying so first, within Slack's block count."""
    note = _context(f"I could not reply in <#{channel}>, so here is my answer.")
    return [note, *blocks][:MESSAGE_BLOCKS]


def notice_blocks(text: str) -> tuple[list[dict], str]:
    """A one-line notice (no answer to give) as blocks and its fallback text."""
    return [_section(escape(text))], text


def report_blocks(text: str) -> list[dict]:
    """The doc owners' report as code blocks that fit Slack's limits."""
    chunks = split_text(escape(text), SECTION_LIMIT - 8)[: MESSAGE_BLOCKS - 1]
    return [_header("Questions report"), *(_section(f"```{c}```") for c in chunks)]
