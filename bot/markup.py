"""Markdown lines as a reader of the rendered page sees them: what the docs tools add to
Markdown (Docusaurus and MDX, Material for MkDocs, Hugo, Obsidian, GitHub, GitBook) read as
text where it is text, hidden where it is code or markup."""

from __future__ import annotations

import re

from markdown_it.token import Token

#: The first line of an MDX import or export (ESM) statement, which runs on while its
#: brackets are open: ``export const Note = ({children}) => (`` and the JSX lines after it.
_ESM_START = re.compile(
    r"^(import\s*[{*\"']|import\s+[\w$]+\s*(,|from\s)"
    r"|export\s+(const|let|var|function|async|class|default)\b|export\s*[{*])"
)
#: An MDX comment's start and end, ``{/* ... */}`` (MDX has no HTML comments).
_MDX_COMMENT_START = "{/*"
_MDX_COMMENT_END = "*/}"
_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}(\s|$)")
#: A Material for MkDocs admonition (``!!! note "Title"``, collapsible ``???``) or content
#: tab (``=== "Linux"``), whose content is the lines indented under it.
_MKDOCS_BLOCK = re.compile(
    r'^(?:(?:!!!|\?\?\?\+?)[ \t]*[\w-]+(?:[ \t]+[\w-]+)*[ \t]*(?:"(?P<title>[^"]*)")?'
    r'|===\+?[ \t]+"(?P<tab>[^"]*)")[ \t]*$'
)
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
#: Hugo shortcodes (``{{< figure src="x" >}}``, ``{{% notice tip %}}``): markup, not text.
_SHORTCODES = (("{{<", ">}}"), ("{{%", "%}}"))
#: A GitBook block tag (``{% hint style="info" %}``, ``{% tab title="Linux" %}``,
#: ``{% endtabs %}``, ``{% embed url="..." %}``): hidden, a tab's title shown. Other sites'
#: tags (Jekyll's, Eleventy's) are their own, and shown as written.
_GITBOOK_TAG = re.compile(
    r"\{%\s*(end)?(hint|tabs|tab|code-tabs-item|code-tabs|code|content-ref|embed|file"
    r"|swagger|stepper|step|columns|column)\b([^%]*)%\}"
)
_GITBOOK_TITLED = ("tab", "code-tabs-item")
_TITLE_ATTRIBUTE = re.compile(r"\btitle=(?:\"([^\"]*)\"|'([^']*)')")
#: A GitHub alert's or an Obsidian callout's marker (``> [!WARNING]``, ``> [!tip]- Title``),
#: shown as its title.
_CALLOUT = re.compile(r"^(\s*>\s*)\[!([\w-]+)\][+-]?[ \t]*(.*)$")
#: An Obsidian wikilink (``[[Page]]``, ``[[Page#Heading|shown text]]``) or embed (``![[x.png]]``).
_WIKILINK = re.compile(r"(!?)\[\[([^\[\]|#]*)(?:#([^\[\]|]*))?(?:\|([^\[\]]*))?\]\]")
#: A Docusaurus admonition's fence, with its title if it has one (``:::tip Remember`` or
#: ``:::tip[Remember]``): the fence is hidden, the title kept.
_ADMONITION_LINE = re.compile(r"^\s*:::+\s*[\w-]*\s*(?:\[(?P<bracketed>.*)\]|(?P<title>.*))$")
_HTML_COMMENT = re.compile(r"<!--.*?(-->|$)", re.S)
#: A JSX component's label or title (``<TabItem value="mac" label="macOS">``,
#: ``<Admonition title="Remember">``): the text a reader sees of the tag.
_JSX_TITLE = re.compile(
    r"<[A-Z][\w.]*\s[^<>]*?\b(?:label|title)=(?:\"([^\"<>]*)\"|'([^'<>]*)')[^<>]*>"
)
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")


def mkdocs_blocks(lines: list[str]) -> list[str]:
    """The lines with Material for MkDocs' admonitions and content tabs read as Markdown:
    the marker line becomes its title in bold (or a blank line), the lines indented under it
    lose that indentation (else they read as a code block). The same list where there are
    none."""
    if not any(x.startswith(("!!!", "???", "===")) for x in lines):
        return lines
    out: list[str] = []
    opened: list[int] = []  # the indentation of each open block's marker
    fenced = False
    for i, line in enumerate(lines):
        if not line.strip():
            out.append(line)
            continue
        indent = len(line) - len(line.lstrip(" "))
        while opened and indent < opened[-1] + 4:
            opened.pop()
        line = line[4 * len(opened) :] if opened else line
        if _FENCE.match(line):
            fenced = not fenced
        code = len(line) - len(line.lstrip(" ")) >= 4  # (an indented code block shows one)
        block = None if fenced or code else _MKDOCS_BLOCK.match(line.lstrip(" "))
        if block:
            opened.append(indent)
            title = (block["title"] or block["tab"] or "").strip()
            line = f"**{title}**" if title else ""
            if title and i + 1 < len(lines) and lines[i + 1].strip():
                line += "  "  # (a hard line break, unseen as text: the title on its own line)
        out.append(line)
    return out


def visible_lines(lines: list[str], tokens: list[Token]) -> list[str | None]:
    """Each body line as a reader of the rendered page sees it, or None: comments (HTML and
    MDX), MDX imports and exports, raw HTML and JSX tags, Hugo shortcodes, GitBook tags and
    embeds removed; admonition fences, callout markers, tabs and wikilinks as their titles
    and text. ``tokens``:
    markdown-it's block tokens of the lines (where code and HTML blocks are)."""
    keep: list[str | None] = list(lines)
    in_code = [False] * len(lines)
    for t in tokens:
        if t.map is None:
            continue
        a, b = t.map
        if t.type in ("fence", "code_block"):
            for i in range(a, min(b, len(lines))):
                in_code[i] = True
        elif t.type == "html_block":
            visible = _JSX_TITLE.sub(_jsx_title, _HTML_COMMENT.sub("", t.content))
            visible = _HTML_TAG.sub("", visible)
            for i in range(a, min(b, len(lines))):
                keep[i] = None
            # A JSX block's text, each line a paragraph of its own as written less its
            # indentation (indented, a line would read as code; run on, a tab's label would
            # read as the start of its text): "<Tabs>\n  <TabItem>\n    Apples." is "Apples.".
            visible = "\n\n".join(x.strip() for x in visible.splitlines() if x.strip())
            if visible:
                keep[a] = visible
    esm: int | None = None  # in an import/export statement: its brackets still open
    comment = False  # in an MDX comment that spans lines
    for i, line in enumerate(lines):
        if esm is not None:
            if _ATX_HEADING.match(line) or (not line.strip() and not _esm_goes_on(lines, i)):
                esm = None
            else:
                esm += _bracket_balance(line)
                keep[i] = None
                if esm <= 0:
                    esm = None
                continue
        if in_code[i] or keep[i] is None:
            continue
        if comment:
            end = line.find(_MDX_COMMENT_END)
            if end < 0:
                keep[i] = None
                continue
            comment = False
            line = keep[i] = line[end + len(_MDX_COMMENT_END) :]
        if _ESM_START.match(line):
            keep[i] = None
            opened = _bracket_balance(line)  # (a block starts after a blank line, as in MDX)
            esm = opened if opened > 0 and (i == 0 or not lines[i - 1].strip()) else None
        elif admonition := _ADMONITION_LINE.match(line):
            title = (admonition["bracketed"] or admonition["title"] or "").strip()
            keep[i] = f"**{title}**\n" if title else None  # (a paragraph of its own)
        elif "<!--" in line:
            keep[i] = _HTML_COMMENT.sub("", line)
        elif (
            "{{" in line
            and (text := _without_spans(_without_spans(line, *_SHORTCODES[0]), *_SHORTCODES[1]))
            != line
        ):
            keep[i] = text if text.strip() else None
        elif "{%" in line and _GITBOOK_TAG.search(line):
            text = _GITBOOK_TAG.sub(_gitbook_tag, line)
            if not _GITBOOK_TAG.sub("", line).strip():  # tags alone: a tab's title, or nothing
                text = text.strip() + "\n" if text.strip() else None
            keep[i] = text
        elif callout := _CALLOUT.match(line):
            keep[i] = f"{callout[1]}**{callout[3].strip() or callout[2].capitalize()}**"
        elif _MDX_COMMENT_START in line and "`" not in line:  # (not MDX shown as code)
            text = _without_spans(line, _MDX_COMMENT_START, _MDX_COMMENT_END)
            if _MDX_COMMENT_START in text:  # opened here, closed on a later line
                text = text[: text.index(_MDX_COMMENT_START)]
                comment = True
            keep[i] = text if text.strip() else None
        shown = keep[i]
        if shown is not None and "[[" in shown and "`" not in shown:
            keep[i] = _WIKILINK.sub(_wikilink_text, shown)
    return keep


def _without_spans(line: str, start: str, end: str) -> str:
    """The line without each span from ``start`` to the next ``end``; an unclosed one is
    left as it is. One pass (a pattern such as ``start.*?end`` takes quadratic time on a
    line of many starts and no end)."""
    out: list[str] = []
    at = 0
    while (a := line.find(start, at)) >= 0 and (b := line.find(end, a + len(start))) >= 0:
        out.append(line[at:a])
        at = b + len(end)
    out.append(line[at:])
    return "".join(out)


def _gitbook_tag(tag: re.Match) -> str:
    """A GitBook tag as a reader sees it: a tab's title in bold, else nothing."""
    end, name, attributes = tag.groups()
    title = _TITLE_ATTRIBUTE.search(attributes) if not end and name in _GITBOOK_TITLED else None
    text = _quoted(title) if title else ""
    return f"**{text}**" if text else ""


def _jsx_title(tag: re.Match) -> str:
    """A component tag as its label or title in bold, on a line of its own."""
    title = _quoted(tag)
    return f"\n**{title}**\n" if title else ""


def _quoted(value: re.Match) -> str:
    """An attribute's value, from a match of ``name="..."`` or ``name='...'`` (group 1 or 2)."""
    return (value[1] if value[1] is not None else value[2]).strip()


def _wikilink_text(link: re.Match) -> str:
    """What a reader sees of a wikilink: its text, else its page, else its heading; of an
    embed, nothing."""
    embed, page, heading, text = link.groups()
    return "" if embed else (text or page or heading or "").strip()


def _esm_goes_on(lines: list[str], blank: int) -> bool:
    """Whether an import/export statement whose brackets are still open goes on past the
    blank line at ``blank``: when the next line is code (indented, or closing a bracket),
    not text."""
    after = blank + 1
    while after < len(lines) and not lines[after].strip():
        after += 1  # (no copy of the lines after: a page of many blank lines stays linear)
    return after < len(lines) and lines[after][:1] in (" ", "\t", ")", "]", "}")


def _bracket_balance(line: str) -> int:
    """Brackets a line of code opens, less those it closes."""
    return sum(map(line.count, "([{")) - sum(map(line.count, ")]}"))
