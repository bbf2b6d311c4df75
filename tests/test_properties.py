"""Property-based tests (hypothesis): any input, no crash, replies within Slack's limits,
nothing the user typed ever pings anyone. Over 10,000 generated inputs in all."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.content import Section
from bot.engine.search import Match
from bot.render import (
    BUTTON_TEXT,
    HEADER_LIMIT,
    MESSAGE_BLOCKS,
    SECTION_LIMIT,
    answer_blocks,
    section_blocks,
    to_mrkdwn,
)

SLACK_MARKUP = [
    "<!channel>", "<!here>", "<!everyone>", "<@U123ABC>", "<@W1|bob>",
    "<!subteam^S123|@team>", "<#C1|general>", "<https://evil.example|click me>",
    "<mailto:a@b.example>", "&amp;", "&lt;", "&gt;", "<!date^1392734382^{date}|x>",
]  # fmt: skip
HOSTILE = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "**bold**", "_it_", "`code`",
    "```", "[x](javascript:alert(1))", "[y](https://ok.example)", "# heading\n", "> quote\n",
    "| a | b |\n|---|---|\n| 1 | 2 |\n", "- item\n", "1. item\n", "<!-- c -->", ":::tip\n",
    "\n\n", "\\", "*", "~strike~", "![img](a.png)",
]  # fmt: skip
ODD_CHARS = (
    "\u200b\u200c\u200d\u2060\ufeff"  # zero-width
    "\u202e\u202d\u200f\u061c"  # bidi controls
    "\u0627\u0644\u0633\u0644\u0627\u0645\u05e9\u05dc\u05d5\u05dd"  # Arabic, Hebrew
    "\U0001f680\U0001f600\u2764\ufe0f\U0001f468\u200d\U0001f469\u200d\U0001f467"  # emoji
    "\x00\x01\x07\x08\x0b\x0c\x1b\x7f\t\r\n "  # control characters
)
WORDS = ["coach", "devops", "secuirty", "sys admin", "manager", "ci/cd", "what", "who", "?"]

pieces = st.one_of(
    st.sampled_from(SLACK_MARKUP),
    st.sampled_from(HOSTILE),
    st.sampled_from(WORDS),
    st.text(alphabet=ODD_CHARS, max_size=8),
    st.text(max_size=20),
)
questions = st.one_of(
    st.lists(pieces, max_size=25).map(" ".join),
    st.text(alphabet=" \t\n\u3000\u00a0", max_size=10),  # whitespace only
    st.builds(lambda c, n: c * n, st.sampled_from(["a", "coach ", "🚀", "<!here>"]),
              st.integers(1, 40_000)).map(lambda s: s[:40_000]),
)  # fmt: skip
markdown_docs = st.lists(st.one_of(pieces, st.just("\n")), max_size=60).map("".join)
FAST = settings(max_examples=3500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_within_slack_limits(blocks: list[dict]) -> None:
    """Slack's documented limits for a message's blocks."""
    assert 1 <= len(blocks) <= MESSAGE_BLOCKS
    for block in blocks:
        if block["type"] == "section":
            assert 0 < len(block["text"]["text"]) <= SECTION_LIMIT
        if block["type"] == "header":
            assert 0 < len(block["text"]["text"]) <= HEADER_LIMIT
        if block["type"] == "actions":
            assert 1 <= len(block["elements"]) <= 25
            for button in block["elements"]:
                assert len(button["text"]["text"]) <= BUTTON_TEXT


def mrkdwn_texts(node: object) -> list[str]:
    """Every mrkdwn text in a block tree (plain_text is never parsed for mentions)."""
    if isinstance(node, list):
        return [t for item in node for t in mrkdwn_texts(item)]
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn":
            return [node["text"]]
        return [t for value in node.values() for t in mrkdwn_texts(value)]
    return []


def assert_pings_nobody(blocks: list[dict], text: str) -> None:
    """No special mention, user, group or channel link survives into what Slack parses."""
    for rendered in [*mrkdwn_texts(blocks), text]:
        for marker in ("<!", "<@", "<#"):
            assert marker not in rendered, rendered


@FAST
@given(question=questions)
def test_answer_path_never_crashes(shipped_index, shipped_library, question):
    """Any question gets a decision, a 0-100 score and a reply within Slack's limits."""
    answer = shipped_index.answer(question)
    assert answer.decision in ("answer", "hedged", "suggest", "decline")
    assert 0 <= answer.score <= 100
    blocks, text = answer_blocks(answer, shipped_library, shareable=True)
    assert_within_slack_limits(blocks)
    assert_pings_nobody(blocks, text)


@FAST
@given(markdown=markdown_docs, name=st.text(max_size=300))
def test_renderer_keeps_limits_and_escapes(markdown, name):
    """Any Markdown (and heading) renders to mrkdwn blocks within limits, pinging nobody."""
    assert isinstance(to_mrkdwn(markdown), str)
    section = Section(
        id="x", document=name or "Doc", path="x.md", heading_path=(name or "Doc",),
        name=name or "Doc", level=1, line=1, anchor=None, url=None, own_text="",
        body=markdown, parent=None,
    )  # fmt: skip
    blocks, text = section_blocks(Match(section, 50), shareable=True)
    assert_within_slack_limits(blocks)
    assert_pings_nobody(blocks, text)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.one_of(st.integers(0, 20_000), st.sampled_from([150_000, 200_000])),
    line=st.integers(1, 5000),
)
def test_long_sections_split_never_cut_silently(size, line):
    """A section of any length is split across blocks; what does not fit is announced."""
    markdown = "\n".join("word " * (line // 5 + 1) for _ in range(max(1, size // line)))[:size]
    section = Section(
        id="x", document="D", path="x.md", heading_path=("D",), name="D", level=1, line=1,
        anchor=None, url="https://d.example/x", own_text="", body=markdown or "x",
        parent=None,
    )  # fmt: skip
    blocks, _ = section_blocks(Match(section, 50))
    assert_within_slack_limits(blocks)
    body = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    shown = sum(t.count("word") for t in body)
    if shown < markdown.count("word"):
        assert any("more characters of this section" in t for t in body)
    else:
        assert shown == markdown.count("word")


YAML_BITS = [
    "title: ", "slug: ", "id: ", "draft: true", "questions:", "  The Coach: ", "synonyms:",
    "  a: ", "&x ", "*x", "[", "]", "{", "}", "- ", ": ", "\n", "  ", "'", '"', "!!python/object ",
    "%YAML 1.2\n", "---\n", "...\n", "\t", "# c\n", "devops-role.md:", "null", "~", "1e999",
]  # fmt: skip
yaml_text = st.lists(st.sampled_from(YAML_BITS) | st.text(ODD_CHARS + "abc:-", max_size=5),
                     max_size=30).map("".join)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(front=yaml_text, owner=yaml_text)
def test_any_front_matter_or_owner_file_is_loaded_or_reported(tmp_path_factory, front, owner):
    """Whatever YAML a document's front matter or synonyms.yml holds: no crash, and the rest
    of the folder still loads."""
    from bot.content import load_library

    root = tmp_path_factory.mktemp("c")
    (root / "doc.md").write_text(f"---\n{front}\n---\n# Doc\n\n## The Coach\n\ntext\n")
    (root / "ok.md").write_text("# Fine\n\n## Part\n\nwords\n")
    (root / "synonyms.yml").write_text(owner)
    library = load_library(root)
    assert "ok.md" in [d.path for d in library.documents]
    assert all(p.line >= 0 and p.message for p in library.problems)


ABBREVIATION_PIECES = [
    "(IAA)", "(AMs)", "(IT)", "(X)", "(Ab)", "()", "(", ")", "Site Reliability Engineer",
    "Vice President, Operations", "**Account Manager**", "of", "the", "IT", "SRE", "AM",
    "interagency agreement", "\n## Heading A B C\n", "\n# Title\n",
]  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    doc=st.lists(st.one_of(st.sampled_from(ABBREVIATION_PIECES), pieces), max_size=40),
    asked=st.lists(st.one_of(st.sampled_from(ABBREVIATION_PIECES), pieces), max_size=12),
)
def test_any_docs_abbreviations_and_long_questions_never_crash(tmp_path_factory, doc, asked):
    """Docs full of parentheses, capitals and headings in any order build an index; any
    question (abbreviations typed in capitals, long ones read sentence by sentence) gets a
    decision; a long form holds its abbreviation's letters in order."""
    from bot.content import load_library
    from bot.engine.index import long_form
    from bot.engine.search import build_index

    root = tmp_path_factory.mktemp("abbr")
    (root / "doc.md").write_text("# Doc\n\nIntro text.\n\n" + " ".join(doc) + "\n")
    index = build_index(load_library(root))
    for question in (" ".join(asked), " ".join(asked) + " with many more words said here"):
        answer = index.answer(question)
        assert answer.decision in ("answer", "hedged", "suggest", "decline")
    for short, before in (("IAA", " ".join(doc)), ("SRE", " ".join(asked))):
        long = long_form(short, before)
        if long is not None:
            letters = iter(long)
            assert all(c in letters for c in short.lower())


@pytest.fixture(scope="module")
def hybrid_docs(shipped_library, tmp_path_factory):
    """The shipped docs with the default sentence model's vectors, as the warm bot has them."""
    from bot.config import SHIPPED_CONTENT, ContentSettings
    from bot.live import LiveDocs, open_semantic

    settings = ContentSettings(SHIPPED_CONTENT, embedding_model="default")
    semantic = open_semantic(settings, tmp_path_factory.mktemp("data"))
    docs = LiveDocs.load(settings, shipped_library, semantic, wait=True).current
    assert docs.dense is not None
    return docs


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(question=questions)
def test_hybrid_answer_path_never_crashes(hybrid_docs, question):
    """Any question, through the sentence model too, gets a decision, a 0-100 score and a
    reply within Slack's limits."""
    answer = hybrid_docs.answer(question)
    assert answer.decision in ("answer", "hedged", "suggest", "decline")
    assert 0 <= answer.score <= 100
    blocks, text = answer_blocks(answer, hybrid_docs.library, shareable=True)
    assert_within_slack_limits(blocks)
    assert_pings_nobody(blocks, text)


_LINES = st.lists(
    st.one_of(
        st.sampled_from(["", "", "text line", "- item", "<!-- note -->", "import X from 'y'"]),
        st.builds(lambda n, w: "#" * n + " " + w, st.integers(1, 4), st.sampled_from("abcde")),
    ),
    max_size=30,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=_LINES)
def test_a_sections_markdown_is_its_heading_and_what_follows_up_to_the_next_of_its_level(
    tmp_path_factory, lines
):
    """Whatever the headings and blank lines, a section's Markdown (cut from its page's text)
    is the lines after its heading up to the next heading of its level or above, without
    hidden lines (comments, MDX imports) and blank lines at either end."""
    from bot.content import load_library

    root = tmp_path_factory.mktemp("doc")
    (root / "page.md").write_text("---\ntitle: Page\n---\n" + "\n".join(lines) + "\n")
    library = load_library(root)
    heading_at = [i for i, x in enumerate(lines) if x.startswith("#")]
    for section in library.sections:
        if section.parent is None:
            continue  # the root: the title's section (its span is the whole visible page)
        start = section.line - 4  # its heading, 1-based, past the 3 front matter lines
        level = len(lines[start]) - len(lines[start].lstrip("#"))
        end = next((j for j in heading_at if j > start and
                    len(lines[j]) - len(lines[j].lstrip("#")) <= level), len(lines))  # fmt: skip
        shown = [x for x in lines[start + 1 : end] if x not in ("<!-- note -->",)
                 and not x.startswith("import ")]  # fmt: skip
        assert section.markdown == "\n".join(shown).strip("\n")


@FAST
@given(text=st.text(alphabet=st.characters(max_codepoint=127), max_size=200))
def test_words_of_reads_ascii_text_as_the_unicode_pattern_does(text):
    """The faster pattern for ASCII text finds the words the Unicode one finds."""
    from bot.engine import words

    assert words._ASCII_WORD.findall(text.lower()) == words._WORD.findall(text.casefold())


@FAST
@given(markdown=st.lists(st.one_of(pieces, st.sampled_from(["\n", "  \n", "\n\n"])),
                         max_size=40).map("".join))  # fmt: skip
def test_inline_rules_skipped_only_where_they_would_change_nothing(markdown):
    """A document's plain text, read with the inline rules run only on texts that have
    markup, is what markdown-it's whole parse gives."""
    from bot import content

    whole = []
    for t in content._MD.parse(markdown):
        if t.type == "inline":
            whole.append(content.inline_plain(t))
        elif t.type in ("fence", "code_block"):
            whole.append(t.content.strip())
    assert content.plain_text(markdown) == "\n".join(x for x in whole if x)


DIALECT_LINES = [
    "", "", "text line", "# Title", "## Part", "Setext", "===", "---", "{/* c */}", "{/*",
    "*/}", "a {/* b */} c", "export const X = ({a}) => (", "  <b>{a}</b>", ");",
    "import X from 'y'", "import the data", '!!! note "T"', "??? tip", '=== "Tab"',
    "    indented", "        deeper", "```", "~~~", "[[Page|x]]", "![[e.png]]",
    "> [!tip] T", "> [!NOTE]", "> quoted", "{{< sc >}}", "{{% x %}}", ":::tip[T]", ":::",
    "<Tabs>", "  <TabItem>", "</Tabs>", "<!-- c", "-->", "+++", "| a | b |", "|---|---|",
    '{% hint style="info" %}', "{% endhint %}", "{% tabs %}", '{% tab title="T" %}',
    "{% endtab %}", '{% slack_channel "dev" %}', '<TabItem label="L">', "{% comment %}",
    "{% endcomment %}", "a {% comment %} b", "{% if x %}", "{% endif %}", "{% raw %}",
    "{% endraw %}", "`{% raw %}` {% raw %}{% if %}", '{% include n.html content="N" %}',
]  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(st.sampled_from(DIALECT_LINES), max_size=40))
def test_any_mix_of_docs_tools_markup_loads_and_renders_within_slack_limits(
    tmp_path_factory, lines
):
    """A page of any mix of MDX, MkDocs, Hugo, Obsidian, GitHub, GitBook and Liquid markup loads
    (or is reported), keeps its lines where they were (MkDocs' blocks read in place), and every
    section renders within Slack's limits."""
    from bot.content import load_library
    from bot.markup import mkdocs_blocks

    assert len(mkdocs_blocks(lines)) == len(lines)
    root = tmp_path_factory.mktemp("dialects")
    (root / "page.md").write_text("\n".join(lines) + "\n")
    (root / "ok.md").write_text("# Fine\n\nwords\n")
    library = load_library(root)
    assert "ok.md" in [d.path for d in library.documents]
    for section in library.sections:
        blocks, text = section_blocks(Match(section, 90))
        assert_within_slack_limits(blocks)
        assert text
