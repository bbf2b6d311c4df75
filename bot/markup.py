"""Markdown lines as a reader of the rendered page sees them: what the docs tools add to
Markdown (Docusaurus and MDX, Material for MkDocs, Hugo, Obsidian, GitHub, GitBook, and the
templates of Jekyll and Eleventy) read as text where it is text, hidden where it is code or
markup."""

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
#: A line that is an ATX heading where it is not code (``## Rollback``).
ATX_HEADING = re.compile(r"^ {0,3}#{1,6}(\s|$)")
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
#: ``{% endtabs %}``, ``{% embed url="..." %}``): hidden, a tab's title shown.
_GITBOOK_TAG = re.compile(
    r"\{%\s*(end)?(hint|tabs|tab|code-tabs-item|code-tabs|code|content-ref|embed|file"
    r"|swagger|stepper|step|columns|column)\b([^%]*)%\}"
)
_GITBOOK_TITLED = ("tab", "code-tabs-item")
#: A Liquid or Nunjucks tag (Jekyll, Eleventy: ``{% if x %}``, ``{%- include a.html -%}``),
#: its name and what follows it. (``[^%]*``: a line of many openings and no close is read
#: in linear time.)
_TEMPLATE_TAG = re.compile(r"\{%-?\s*([\w-]+)([^%]*?)-?%\}")
#: The tags of Liquid (Jekyll's, Eleventy's and their own), and of Nunjucks, that run the
#: template and show no text of their own: hidden.
_TEMPLATE_LOGIC = frozenset(
    "if elsif else endif unless endunless case when endcase for endfor break continue cycle"
    " tablerow endtablerow capture endcapture assign increment decrement raw endraw liquid"
    " echo include include_relative render highlight endhighlight seo feed_meta set endset"
    " macro endmacro block endblock extends import from call endcall filter endfilter".split()
)
#: A template comment's start and end (``{% comment %} ... {% endcomment %}``: what it holds
#: is hidden, on a line or over several), and a raw block's (what it holds is shown as written).
_TEMPLATE_COMMENT, _TEMPLATE_COMMENT_END, _TEMPLATE_RAW, _TEMPLATE_RAW_END = (
    re.compile(r"\{%-?\s*" + name + r"\s*-?%\}")
    for name in ("comment", "endcomment", "raw", "endraw")
)
#: An include's ``content="..."`` (a Jekyll docs theme's note or callout): its text is shown.
_CONTENT_ATTRIBUTE = re.compile(r"\bcontent=(?:\"([^\"]*)\"|'([^']*)')")
_CODE_SPAN_TICKS = re.compile(r"`+")
#: The TTS handbook's Slack channel (Eleventy): ``{% slack_channel "dev" %}``, shown as
#: ``#dev``, or ``{% slack_channel "dev" "the dev channel" %}``, shown as its name.
_SLACK_CHANNEL = re.compile(r"\{%-?\s*slack_channel\s+([^%]*?)-?%\}")
#: A quoted argument of a tag or output (``"dev"``, ``'/about/'``).
_ARGUMENT = re.compile(r"\"([^\"]*)\"|'([^']*)'")
#: A link's or image's destination written with the template (``[x]({% link a.md %})``,
#: ``[x]({{ site.baseurl }}/a/)``, ``[x]({% page "/a/" %})``), which Markdown alone does
#: not read as a link where it has spaces.
_TEMPLATE_DESTINATION = re.compile(r"\]\((?P<dest>[^()\n]*?(?:\{%|\{\{)[^()\n]*)\)")
_TEMPLATE_OUTPUT = re.compile(r"\{\{-?([^{}]*?)-?\}\}")
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
    embeds, Liquid's and Nunjucks' template logic and comments removed; admonition fences,
    callout markers, tabs and wikilinks as their titles and text. ``tokens``:
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
    comment_tag = False  # in a template's {% comment %} that spans lines
    closes_at: int | None = None  # the last line that closes one (found when first needed)
    mdx_closes_at: int | None = None  # ... and an MDX comment
    for i, line in enumerate(lines):
        if esm is not None:
            if ATX_HEADING.match(line) or (not line.strip() and not _esm_goes_on(lines, i)):
                esm = None
            else:
                esm += _bracket_balance(line)
                keep[i] = None
                if esm <= 0:
                    esm = None
                continue
        if in_code[i] or keep[i] is None:
            continue
        if comment_tag:
            end = _TEMPLATE_COMMENT_END.search(line)
            if end is None:
                keep[i] = None
                continue
            comment_tag = False
            line = line[end.end() :]
            if not line.strip():
                keep[i] = None
                continue
            keep[i] = line
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
        elif "{%" in line and (read := _template_tags(line))[0] != line:
            keep[i], comment_tag = read
            if comment_tag:
                if closes_at is None:
                    closes_at = _last_with(lines, "endcomment")
                if closes_at <= i:  # never closed (not a template, then): the line as written
                    keep[i], comment_tag = line, False
        elif callout := _CALLOUT.match(line):
            keep[i] = f"{callout[1]}**{callout[3].strip() or callout[2].capitalize()}**"
        elif _MDX_COMMENT_START in line and "`" not in line:  # (not MDX shown as code)
            text = _without_spans(line, _MDX_COMMENT_START, _MDX_COMMENT_END)
            if _MDX_COMMENT_START in text:  # opened here, closed on a later line (if ever)
                if mdx_closes_at is None:
                    mdx_closes_at = _last_with(lines, _MDX_COMMENT_END)
                if mdx_closes_at > i:
                    text = text[: text.index(_MDX_COMMENT_START)]
                    comment = True
            keep[i] = text if text.strip() else None
        shown = keep[i]
        if shown is not None and "[[" in shown and "`" not in shown:
            keep[i] = _WIKILINK.sub(_wikilink_text, shown)
    return keep


def _last_with(lines: list[str], text: str) -> int:
    """The index of the last line holding ``text``, or -1."""
    return next((i for i in range(len(lines) - 1, -1, -1) if text in lines[i]), -1)


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


def _template_tags(line: str) -> tuple[str | None, bool]:
    """A line with template tags (GitBook's, Liquid's, Nunjucks') as a reader sees it,
    outside its code spans, and whether it opens a ``{% comment %}`` it does not close:
    GitBook's tags hidden, a tab's title kept; template logic (``{% if %}``,
    ``{% include %}``, ``{% raw %}``) hidden, an include's ``content="..."`` kept; a
    comment's text hidden; what ``{% raw %}`` holds as written. Another tag is a site's own
    (the TTS handbook's ``{% slack_channel "dev" %}``), left as written: hiding it could
    lose what it names. A line of tags alone is its text as a paragraph of its own, or
    None."""
    parts: list[str] = []
    opened = False  # in a comment opened on this line
    for text, code in _split_code_spans(line):
        if opened:
            end = None if code else _TEMPLATE_COMMENT_END.search(text)
            if end is None:
                continue
            text, opened = text[end.end() :], False
        if code:
            parts.append(text)
            continue
        kept: list[str] = []  # (each comment cut in one pass: a copy per cut is quadratic)
        at = 0
        while start := _TEMPLATE_COMMENT.search(text, at):
            kept.append(text[at : start.start()])
            end = _TEMPLATE_COMMENT_END.search(text, start.end())
            at, opened = (end.end(), False) if end else (len(text), True)
        text = "".join(kept) + text[at:]
        at = 0
        while raw := _TEMPLATE_RAW.search(text, at):  # (what it holds: as written)
            parts.append(_tags_shown(text[at : raw.start()]))
            end = _TEMPLATE_RAW_END.search(text, raw.end())
            parts.append(text[raw.end() : end.start() if end else len(text)])
            at = end.end() if end else len(text)
        parts.append(_tags_shown(text[at:]))
    shown = "".join(parts)
    if shown == line:
        return line, opened
    if not shown.strip():
        return None, opened
    if not _TEMPLATE_TAG.sub("", line).strip():  # tags alone: their text, a paragraph
        return shown.strip() + "\n", opened
    return shown, opened


def _tags_shown(text: str) -> str:
    """Text (no code, no comment) with its GitBook and template tags as a reader sees them."""
    return _TEMPLATE_TAG.sub(_template_tag, _GITBOOK_TAG.sub(_gitbook_tag, text))


def site_tags_shown(markdown: str) -> str:
    """Markdown to show, with a site's own template tags as its pages show them: the TTS
    handbook's ``{% slack_channel "dev" %}`` as ``#dev``, a link written with the template
    (``[Figma]({% page "/tools/figma/" %})``, ``[x]({{ site.baseurl }}/a/)``) as a link to
    the path it names. Code (fenced blocks, code spans) is left as written. For the reader
    only: the index keeps the tags' words ("slack channel", the linked page's path), which
    help matching (docs/benchmark.md)."""
    if "{%" not in markdown and "{{" not in markdown:
        return markdown
    out: list[str] = []
    fenced = False
    for line in markdown.split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and ("{%" in line or "{{" in line):
            line = "".join(
                text if code else _SLACK_CHANNEL.sub(_slack_channel, _TEMPLATE_DESTINATION.sub(
                    _template_destination, text))
                for text, code in _split_code_spans(line)
            )  # fmt: skip
        out.append(line)
    return "\n".join(out)


def _slack_channel(tag: re.Match) -> str:
    """A ``slack_channel`` tag as its page shows it: its name, else ``#channel``."""
    args = [_quoted(arg) for arg in _ARGUMENT.finditer(tag[1])]
    if not args:
        return tag[0]
    return args[1] if len(args) > 1 and args[1] else "#" + args[0].lstrip("#")


def _template_destination(link: re.Match) -> str:
    """A link's destination written with the template, as the path it names: a tag's first
    argument, an output's quoted text (``{{ '/a/' | relative_url }}``), site variables
    (``{{ site.baseurl }}``) left out."""

    def argument(inside: str, bare: bool) -> str:
        """The first quoted argument; else, with ``bare`` (a tag's), the first word."""
        arg = _ARGUMENT.search(inside)
        words = inside.split()
        return _quoted(arg) if arg else words[0] if bare and words else ""

    dest = _TEMPLATE_TAG.sub(lambda t: argument(t[2], bare=True), link["dest"])
    dest = _TEMPLATE_OUTPUT.sub(lambda o: argument(o[1], bare=False), dest).strip()
    return f"](<{dest}>)" if any(c.isspace() for c in dest) else f"]({dest})"


def _split_code_spans(line: str) -> list[tuple[str, bool]]:
    """A line's parts, each with whether it is a code span (a run of backticks to the next
    run as long). One pass over the runs."""
    if "`" not in line:
        return [(line, False)]
    out: list[tuple[str, bool]] = []
    at = 0
    opener: re.Match | None = None
    for run in _CODE_SPAN_TICKS.finditer(line):
        if opener is None:
            opener = run
        elif len(run[0]) == len(opener[0]):
            out += [(line[at : opener.start()], False), (line[opener.start() : run.end()], True)]
            at, opener = run.end(), None
    out.append((line[at:], False))
    return out


def _template_tag(tag: re.Match) -> str:
    """A Liquid or Nunjucks tag as a reader sees it (see ``_template_tags``)."""
    name, rest = tag[1], tag[2]
    if name in _TEMPLATE_LOGIC:
        content = (
            _CONTENT_ATTRIBUTE.search(rest) if name.startswith(("include", "render")) else None
        )
        return _quoted(content) if content else ""
    return tag[0]


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
    """A quoted value, from a match of ``"..."`` or ``'...'`` (group 1 or 2; an attribute's
    ``name="..."`` too)."""
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
