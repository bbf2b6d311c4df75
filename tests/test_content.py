"""Reading role documents: front matter, titles, sections, links, problems (the docs tools' own
markup: test_markup.py)."""

from __future__ import annotations

import os

import pytest

from bot.config import SHIPPED_CONTENT
from bot.content import (
    ContentError,
    doc_url_for,
    load_library,
    read_limited,
    slugify,
    strip_number_prefix,
)
from bot.engine.search import build_index
from tests.conftest import CORPUS, KNOWLEDGEHUB

SEED = CORPUS.parent / "seed" / "devops-role.md"


def names(library):
    return [s.name for s in library.sections]


def test_shipped_content_is_the_seed():
    """content/devops-role.md is a byte-for-byte copy of the seed document."""
    if not SEED.exists():
        pytest.skip("seed not present")
    assert (SHIPPED_CONTENT / "devops-role.md").read_bytes() == SEED.read_bytes()


def test_seed_sections_and_paths(shipped_library):
    """The seed splits into its 9 sections with the heading path of the issue."""
    assert names(shipped_library) == [
        "The Role of a DevOps Specialist",
        "Why a DevOps Specialist is Needed",
        "What a DevOps Specialist Does",
        "How a DevOps Specialist Works",
        "The System Administrator",
        "The Developer",
        "The Security Expert",
        "The Manager",
        "The Coach",
    ]
    coach = shipped_library.sections[-1]
    assert coach.heading_path == ("DevOps", "How a DevOps Specialist Works", "The Coach")
    assert coach.document == "DevOps"
    assert coach.path == "devops-role.md"
    assert coach.line == 46


def test_html_comments_are_not_shown_or_indexed(shipped_library):
    """The seed's <!-- TODO --> lines appear in no section text."""
    for s in shipped_library.sections:
        assert "TODO" not in s.markdown and "TODO" not in s.own_text
        assert "<!--" not in s.markdown


def test_ids_are_stable_and_unique(shipped_library):
    """Reloading gives the same ids; no two sections share one."""
    again = load_library(SHIPPED_CONTENT)
    ids = [s.id for s in shipped_library.sections]
    assert ids == [s.id for s in again.sections]
    assert len(set(ids)) == len(ids)


def test_title_fallbacks(make_content):
    """Title: front matter, else first H1, else the file name."""
    root = make_content(
        {
            "a.md": "---\ntitle: From FM\n---\n# Heading One\n\ntext\n",
            "b.md": "# Heading Two\n\ntext\n",
            "c-file.md": "Just text, no heading.\n",
        }
    )
    titles = {d.path: d.title for d in load_library(root).documents}
    assert titles == {"a.md": "From FM", "b.md": "Heading Two", "c-file.md": "c-file"}


def test_leading_text_without_h1_is_named_after_title(make_content):
    """In a file with no H1 the text before the first heading is a section named by title."""
    root = make_content({"x.md": "---\ntitle: Grades\n---\nIntro words.\n\n## Junior\n\nJ.\n"})
    lib = load_library(root)
    assert names(lib) == ["Grades", "Junior"]
    assert lib.sections[1].heading_path == ("Grades", "Junior")
    assert lib.sections[1].parent == lib.sections[0].id


def test_h2_contains_h3_and_code_fence_headings_are_not_headings(make_content):
    """An H2 holds its H3s; '# comment' in a fenced block is code, not a heading."""
    root = make_content(
        {
            "x.md": "# Top\n\n## Script\n\n```bash\n# get the flows\necho hi\n```\n\n"
            "### Detail\n\nmore\n\n## Next\n\nz\n"
        }
    )
    lib = load_library(root)
    assert names(lib) == ["Top", "Script", "Detail", "Next"]
    script = lib.sections[1]
    assert "# get the flows" in script.markdown and "### Detail" in script.markdown
    assert "more" not in script.own_text and "z" not in script.markdown


def test_inline_markup_removed_from_heading_names(make_content):
    """Heading names drop emphasis, code ticks and images, keep link text."""
    root = make_content(
        {"x.md": "# T\n\n## The **bold** `code` [link text](http://x) ![img](a.png) end\n\nz\n"}
    )
    assert names(load_library(root))[1] == "The bold code link text end"


def test_hugo_toml_front_matter_is_read_and_its_errors_named(make_content):
    """Hugo's TOML front matter (between +++ lines) gives the title and drafts as YAML's
    does; a TOML error, or a value that is no title, is named at its line."""
    root = make_content(
        {
            "a.md": '+++\ntitle = "Deploys"\ndate = 2024-01-05\ntags = ["ops"]\n[params]\n'
            'owner = "infra"\n+++\n\nIntro to deploys.\n\n## Rollback\n\nOne click.\n',
            "b.md": '+++\nweight = 3\ntitle = "Bad\n+++\n# B\n\nx\n',
            "g.md": '+++\ntitle = "Bad\nweight = 3\n+++\n# G\n\nx\n',
            "c.md": "+++\ndraft = true\n+++\n# Draft\n\nx\n",
            "d.md": '+++\ntitle = ["x"]\n+++\n# T\n\nx\n',
            "e.md": f"+++\nx = {'[' * 3000}{']' * 3000}\n+++\n# E\n\nx\n",
            "f.md": '+++\ntitle = "Never closed"\n# F\n',
        }
    )
    lib = load_library(root)
    assert [s.heading_path for s in lib.sections] == [("Deploys",), ("Deploys", "Rollback"),
                                                      ("T",)]  # fmt: skip
    assert lib.sections[0].own_text == "Intro to deploys."
    assert sorted(map(str, lib.problems)) == [
        "b.md:4: bad TOML front matter: Unterminated string (by the closing '+++')",
        "d.md:2: front matter 'title' must be text; ignored",
        "e.md:2: bad TOML front matter: nested too deeply",
        "f.md:1: front matter block opened with '+++' is never closed",
        "g.md:2: bad TOML front matter: Illegal character '\\n'",
    ]


def test_hidden_folders_and_installed_packages_are_not_read(make_content):
    """A docs setting that names a site rather than its docs folder reads neither its hidden
    folders (.git) nor its installed packages (node_modules' READMEs); Jekyll's .markdown
    pages are read as .md ones are."""
    root = make_content(
        {
            "docs/intro.md": "# Intro\n\nWelcome.\n",
            "docs/jekyll.markdown": "# Jekyll\n\nAn older suffix.\n",
            "node_modules/left-pad/README.md": "# left-pad\n\nPads strings.\n",
            "website/node_modules/x/readme.md": "# x\n\nA package.\n",
            ".git/notes.md": "# Notes\n\nInternal.\n",
        }
    )
    assert [d.path for d in load_library(root).documents] == [
        "docs/intro.md",
        "docs/jekyll.markdown",
    ]


def test_a_paragraph_too_long_for_prose_is_read_and_shown_as_written(make_content):
    """A paragraph longer than MAX_INLINE_CHARS (a generated run of emphasis or brackets,
    which markdown-it's inline rules take minutes or gigabytes on) is its text as written,
    in the index and in the answer, with a warning at its line; a short one beside it is
    read as Markdown."""
    from bot.content import MAX_INLINE_CHARS
    from bot.render import to_mrkdwn

    run = "*a" * (MAX_INLINE_CHARS // 2 + 1)
    root = make_content({"p.md": f"# P\n\nShort *emphasis* here.\n\n{run}\n"})
    library = load_library(root)
    assert [(str(p), p.warning) for p in library.problems] == [
        ("p.md:5: a paragraph of 20,002 characters is read and shown as written: its Markdown"
         " is not parsed past 20,000", True)
    ]  # fmt: skip
    section = library.sections[0]
    assert section.own_text == f"Short emphasis here.\n{run}"
    assert to_mrkdwn(section.markdown) == f"Short _emphasis_ here.\n{run}"


def test_an_html_comment_or_code_block_never_closed_is_named_with_what_it_hides(make_content):
    """An HTML comment opened on a line of its own and never closed hides the rest of its
    page, and a code block never closed shows it as code (a browser does the same, headings
    included): a warning names its line and how many lines it takes. Closed ones, and one
    left open at the end of a page with no text (comment) or heading (code) after it, are
    not named."""
    root = make_content(
        {
            "a.md": "# A\n\nText.\n\n<!-- TODO: finish\n\n## B\n\nMore text.\n",
            "b.md": "# B\n\n<!-- one line -->\n\n<!--\nmulti\n-->\n\nShown.\n\n<!-- last\n",
            "c.md": "# C\n\nRun:\n\n```sh\nmake deploy\n\n## Rollback\n\nRevert.\n",
            "d.md": "# D\n\n~~~~\ncode\n~~~~~\n\n## E\n\n```\nlast code, open\n",
        }
    )
    library = load_library(root)
    assert [(str(p), p.warning) for p in library.problems] == [
        ("a.md:5: an HTML comment (<!--) is never closed: the 4 line(s) after it are hidden,"
         " as a browser hides them; close it with -->", True),
        ("c.md:5: a code block (```) is never closed: the 5 line(s) after it, 1 heading(s)"
         " among them, are shown as code; close it with ```", True),
    ]  # fmt: skip
    assert [s.name for s in library.sections] == ["A", "B", "C", "D", "E"]


def test_a_setext_headings_underline_is_not_its_sections_text(make_content):
    """A section under a setext heading (a title underlined with === or ---) starts after
    the underline, as one under an ATX heading starts after its line; a page's setext title
    shows neither line."""
    root = make_content(
        {
            "a.md": "Runbook\n=======\n\nIntro.\n\nDeploys\n-------\n\nShip it.\n",
            "b.md": "# Top\n\nText.\n\nOther\n=====\n\nMore.\n",
        }
    )
    sections = {s.heading_path: s.markdown for s in load_library(root).sections}
    assert sections == {
        ("Runbook",): "Intro.\n\nDeploys\n-------\n\nShip it.",
        ("Runbook", "Deploys"): "Ship it.",
        ("Top",): "Text.\n\nOther\n=====\n\nMore.",
        ("Top", "Other"): "More.",
    }


def test_each_section_has_its_own_plain_text_whatever_its_blocks(make_content):
    """A section's plain text is its own blocks' words, one line a block, markup gone: lists,
    tables, code, quotes (a heading inside a quote is text), setext headings (their
    underline is no text), and where a line is hidden (a comment) the rest all the same."""
    root = make_content(
        {
            "x.md": "# Runbook\n\nIntro *words*.\n\n## Steps\n\n- one\n- two [link](http://x)\n\n"
            "| Col | Other |\n|---|---|\n| a `b` | c |\n\n```sh\nmake deploy\n```\n\n"
            "Setext part\n-----------\n\n> quoted\n> ## inner\n\n    indented code\n\n"
            "## Hidden\n\nBefore <!-- gone --> after.\n<!-- all gone -->\nLast line.\n"
        }
    )
    texts = {s.name: s.own_text for s in load_library(root).sections}
    assert texts == {
        "Runbook": "Intro words.",
        "Steps": "one\ntwo link\nCol\nOther\na b\nc\nmake deploy",
        "Setext part": "quoted\ninner\nindented code",
        "Hidden": "Before after. Last line.",
    }


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbf---\r\ntitle: Bom\r\n---\r\n# H\r\n\r\n## Sub\r\n\r\nCRLF text\r\n",
        b"---\ntitle: Bom\n---\n# H\n\n## Sub\n\nCRLF text\n",
    ],
)
def test_bom_and_crlf(make_content, data):
    """A BOM and CRLF line ends read the same as plain LF UTF-8."""
    lib = load_library(make_content({"x.md": data}))
    assert lib.documents[0].title == "Bom"
    assert names(lib) == ["H", "Sub"]
    assert lib.sections[1].own_text == "CRLF text"


def test_unicode_headings_and_anchor(make_content):
    """Non-ASCII headings keep their letters; the anchor follows github-slugger."""
    lib = load_library(make_content({"x.md": "# T\n\n## Déploiement & Sécurité 🚀\n\ntexte\n"}))
    assert lib.sections[1].name == "Déploiement & Sécurité 🚀"
    assert lib.sections[1].anchor == "déploiement--sécurité-"


def test_edge_case_files(make_content):
    """Empty file, front matter only and broken front matter are reported, others still load."""
    root = make_content(
        {
            "empty.md": "",
            "fm-only.md": "---\ntitle: Only\n---\n",
            "broken.md": "---\ntitle: [unclosed\n---\n# B\n",
            "unclosed.md": "---\ntitle: x\n# never closed\n",
            "latin1.md": "# Caf\xe9\n".encode("latin-1"),
            "good.md": "# Good\n\ntext\n",
            "_category_.json": '{"label": "x"}',
            "img.png": b"\x89PNG",
        }
    )
    lib = load_library(root)
    assert [d.path for d in lib.documents] == ["good.md"]
    problems = {p.path: p for p in lib.problems}
    assert set(problems) == {"empty.md", "fm-only.md", "broken.md", "unclosed.md", "latin1.md"}
    assert problems["broken.md"].line == 2 and "YAML" in problems["broken.md"].message
    assert "UTF-8" in problems["latin1.md"].message


def test_no_front_matter_and_nested_folders_with_duplicate_titles(make_content):
    """Nested folders are read recursively; equal titles in two folders stay distinct."""
    root = make_content({"a/role.md": "# Role\n\nA.\n", "b/c/role.md": "# Role\n\nB.\n"})
    lib = load_library(root)
    assert [d.path for d in lib.documents] == ["a/role.md", "b/c/role.md"]
    assert lib.sections[0].id != lib.sections[1].id


def test_drafts_skipped_unless_included(make_content):
    """draft: true is skipped, as Docusaurus does in production, unless asked for."""
    root = make_content({"d.md": "---\ndraft: true\n---\n# Draft\n\nx\n", "p.md": "# Pub\n\ny\n"})
    assert [d.title for d in load_library(root).documents] == ["Pub"]
    assert [d.title for d in load_library(root, include_drafts=True).documents] == ["Draft", "Pub"]


def test_duplicate_headings_reported(make_content):
    """Two identical heading paths in one document are a problem, with the line."""
    lib = load_library(make_content({"x.md": "# T\n\n## Same\n\na\n\n## Same\n\nb\n"}))
    assert [str(p) for p in lib.problems] == ["x.md:7: duplicate heading 'T > Same'"]
    assert lib.sections[2].anchor == "same-1"


def test_symlink_loop_does_not_hang(make_content):
    """A folder symlinked into itself is walked once."""
    root = make_content({"a/x.md": "# X\n\ny\n"})
    os.symlink(root / "a", root / "a" / "loop")
    assert [d.path for d in load_library(root).documents] == ["a/x.md"]


def test_missing_folder_is_an_error(tmp_path):
    """A content folder that does not exist raises ContentError naming it."""
    with pytest.raises(ContentError, match="nope"):
        load_library(tmp_path / "nope")


def test_docusaurus_urls():
    """Doc URLs strip number prefixes (not date-like ones) and honour slug, id and index;
    partials have none."""
    base = "https://hub.example/docs"
    assert strip_number_prefix("01_Roles") == "Roles"
    assert strip_number_prefix("01_01_DevOps") == "01_01_DevOps"
    assert doc_url_for("01_Roles/02_Onboarding.md", {}, base) == f"{base}/Roles/Onboarding"
    assert doc_url_for("01_Roles/01_03_Onboarding.md", {}, base) == f"{base}/Roles/01_03_Onboarding"
    assert doc_url_for("01_Roles/index.md", {}, base) == f"{base}/Roles"
    assert doc_url_for("a/b.md", {"slug": "/custom"}, base) == f"{base}/custom"
    assert doc_url_for("a/b.md", {"slug": "rel"}, base) == f"{base}/a/rel"
    assert doc_url_for("a/b.md", {"id": "my-id"}, base) == f"{base}/a/my-id"
    assert doc_url_for("99_Useful materials/x.md", {}, base) == f"{base}/Useful%20materials/x"
    assert doc_url_for("a/b.md", {}, None) is None
    # Partials have no page (no link to a 404); Hugo's _index.md is its folder's page.
    assert doc_url_for("a/_partial.mdx", {}, base) is None
    assert doc_url_for("_shared/x.md", {}, base) is None
    assert doc_url_for("guides/_index.md", {}, base) == f"{base}/guides"


def test_section_links(make_content):
    """With a base URL each section links to its doc plus the heading anchor."""
    root = make_content({"01_Guide/02_intro.md": "# Intro\n\n## Why Git is Needed?\n\nx\n"})
    lib = load_library(root, base_url="https://d.example/docs/")
    assert lib.sections[0].url == "https://d.example/docs/Guide/intro"
    assert lib.sections[1].url == "https://d.example/docs/Guide/intro#why-git-is-needed"


def test_slugify_matches_github_slugger():
    """Punctuation goes, spaces become dashes, case folds."""
    assert slugify("What is Release Management?") == "what-is-release-management"
    assert slugify("A/B Testing") == "ab-testing"
    assert slugify("Running All Tests — RunLocalTests") == "running-all-tests--runlocaltests"
    assert slugify("C++ & Go_v2\tnow") == "c--go_v2now"  # '_' kept; a tab is no space
    assert slugify("Über Set-up 2") == "über-set-up-2"


def test_knowledgehub_loads():
    """The real knowledge hub: 68 pages; 16 drafts, 8 of them empty placeholders."""
    if not KNOWLEDGEHUB.is_dir():
        pytest.skip("shared corpus not present")
    published = load_library(KNOWLEDGEHUB)
    everything = load_library(KNOWLEDGEHUB, include_drafts=True)
    assert len(published.documents) == 52
    assert published.problems == ()
    assert len(everything.documents) == 60
    assert len(everything.problems) == 8
    assert all("empty document" in p.message for p in everything.problems)


def test_binary_huge_and_vanished_files_are_skipped_by_one_rule(make_content):
    """Binary, oversized and vanished files are skipped with a named problem; others load."""
    from bot.content import MAX_FILE_BYTES

    root = make_content(
        {
            "bin.md": b"# B\x00\x01\x02",
            "huge.md": b"# H\n" + b"x" * (MAX_FILE_BYTES + 1),
            "ok.md": "# Fine\n\ntext\n",
        }
    )
    os.symlink(root / "deleted-target.md", root / "gone.md")  # listed, then not there
    lib = load_library(root)
    assert [d.path for d in lib.documents] == ["ok.md"]
    messages = {p.path: p.message for p in lib.problems}
    assert "binary" in messages["bin.md"]
    assert "over the" in messages["huge.md"]
    assert "unreadable" in messages["gone.md"]


def test_check_reports_what_startup_skips(make_content):
    """`check` lists the same problems the bot warns about at startup."""
    import io

    from bot.__main__ import main

    root = make_content({"bin.md": b"\x00\x00", "ok.md": "# Fine\n\ntext\n"})
    out, err = io.StringIO(), io.StringIO()
    assert main(["check", "--content", str(root)], environ={}, stdout=out, stderr=err) == 2
    assert "bin.md:1: binary file" in out.getvalue()
    out, err = io.StringIO(), io.StringIO()
    code = main(["ask", "fine", "--content", str(root)], environ={}, stdout=out, stderr=err)
    assert code == 0 and "warning: bin.md:1: binary file" in err.getvalue()


def test_last_update_shown_as_freshness(make_content):
    """Docusaurus' last_update (a date or {date: ...}) becomes 'Updated YYYY-MM-DD'."""
    from bot.engine.search import Match
    from bot.render import section_blocks

    root = make_content(
        {
            "a.md": "---\nlast_update:\n  date: 2024-08-12\n---\n# A\n\ntext\n",
            "b.md": "---\nlast_update: 2023-01-31\n---\n# B\n\ntext\n",
            "c.md": "# C\n\ntext\n",
        }
    )
    lib = load_library(root)
    assert [s.updated for s in lib.sections] == ["2024-08-12", "2023-01-31", None]
    blocks, _ = section_blocks(Match(lib.sections[0], 90))
    assert "Updated 2024-08-12" in blocks[-1]["elements"][0]["text"]


def test_owner_phrasings_that_would_do_nothing_are_reported(make_content):
    """Phrasings for a missing file or section, or of the wrong type, name their line."""
    root = make_content(
        {
            "role.md": (
                "---\nquestions:\n  The Coahc: [who trains]\n---\n# Role\n\n## The Coach\n\nx\n"
            ),
            "draft.md": "---\ndraft: true\n---\n# Draft\n\ntext\n",
            "synonyms.yml": (
                "synonyms:\n"
                "  infra: [servers]\n"
                "  ops: 3\n"
                "questions:\n"
                "  role.md:\n"
                "    The Coach: [who trains people]\n"
                "    The Mentor: [who mentors]\n"
                "  draft.md:\n"
                "    Draft: [a draft is not an error]\n"
                "  gone.md:\n"
                "    Anything: [x]\n"
                "extra: 1\n"
            ),
        }
    )
    lib = load_library(root)
    found = sorted(map(str, lib.problems))
    assert found == [
        "role.md:3: front matter 'questions': no section 'The Coahc'",
        "synonyms.yml:10: questions for 'gone.md': no such file in the folder",
        "synonyms.yml:12: unknown key 'extra' (expected 'synonyms', 'questions')",
        "synonyms.yml:3: synonyms for 'ops' must be a list of strings",
        "synonyms.yml:7: questions for 'role.md': no section 'The Mentor'",
    ]
    coach = next(s for s in lib.sections if s.name == "The Coach")
    assert coach.phrasings == ("who trains people",)


def test_a_bad_value_in_owner_phrasings_or_synonyms_costs_only_itself(make_content):
    """A list item YAML reads as no text (a number, 'yes') is named and left out, the rest of
    its list used; a bad section entry no longer drops the entries after it."""
    root = make_content(
        {
            "role.md": (
                "---\nquestions:\n  The Coach: [who trains, 42]\n  The Manager: 7\n"
                "  Hiring: [who hires]\n---\n# Role\n\n## The Coach\n\nx\n\n"
                "## The Manager\n\ny\n\n## Hiring\n\nz\n"
            ),
            "synonyms.yml": (
                "synonyms:\n"
                "  k8s: [kubernetes, yes, 1.28]\n"
                "  infra: [servers]\n"
                "questions:\n"
                "  role.md:\n"
                "    The Manager: {who: manages}\n"
                "    The Coach: [true, who coaches]\n"
            ),
        }
    )
    lib = load_library(root)
    assert sorted(map(str, lib.problems)) == [
        "role.md:3: front matter 'questions': section 'The Coach': ignored 42"
        " (not text to YAML: put it in quotes); the rest is used",
        "role.md:4: front matter 'questions': section 'The Manager' must map to a list of"
        " questions",
        "synonyms.yml:2: synonyms for 'k8s': ignored True, 1.28"
        " (not text to YAML: put it in quotes); the rest is used",
        "synonyms.yml:6: questions for 'role.md': section 'The Manager' must map to a list of"
        " questions",
        "synonyms.yml:7: questions for 'role.md': section 'The Coach': ignored True"
        " (not text to YAML: put it in quotes); the rest is used",
    ]
    assert "kubernetes" in lib.synonyms["k8s"] and "servers" in lib.synonyms["infra"]
    phrasings = {s.name: s.phrasings for s in lib.sections}
    assert set(phrasings["The Coach"]) == {"who trains", "who coaches"}
    assert phrasings["Hiring"] == ("who hires",)


def test_front_matter_questions_used_for_something_else_are_reported_at_their_line(make_content):
    """A site whose front matter says 'questions' for something else (a list of channel
    names) gets one problem at that key's line, saying what the bot expected; the page loads."""
    root = make_content({
        "page.md": "---\ntitle: Page\nquestions:\n  - some-channel\nlayout: x\n---\n# Page\n\nx\n",
    })  # fmt: skip
    lib = load_library(root)
    assert list(map(str, lib.problems)) == [
        "page.md:3: front matter 'questions': must map a section name to a list of questions,"
        " not a list; ignored"
    ]
    assert [s.name for s in lib.sections] == ["Page"]
    assert lib.sections[0].phrasings == ()


def test_self_referencing_and_exponential_yaml_is_reported_not_fatal(make_content):
    """YAML anchors that contain themselves, or nest aliases 2^30 deep, cost one problem each."""
    bomb = ["a0: &a0 {x: 1}"]
    bomb += [f"a{i}: &a{i} {{l: *a{i - 1}, r: *a{i - 1}}}" for i in range(1, 31)]
    root = make_content(
        {
            "role.md": (
                "---\ntitle: &t [*t]\nslug: &s {a: *s}\nquestions: &q\n  The Coach: *q\n---\n"
                "# Role\n\n## The Coach\n\ntrains people\n"
            ),
            "synonyms.yml": "questions: &x\n  role.md: *x\n" + "\n".join(bomb) + "\n",
        }
    )
    lib = load_library(root)
    found = sorted(map(str, lib.problems))
    assert "role.md:2: front matter 'title' must be text; ignored" in found
    assert "role.md:3: front matter 'slug' must be text; ignored" in found
    assert (
        "role.md:5: front matter 'questions': section 'The Coach' must map to a list of questions"
        in found
    )
    assert (
        "synonyms.yml:2: questions for 'role.md': section 'role.md' must map to a list of questions"
        in found
    )
    assert "synonyms.yml:33: unknown key 'a30' (expected 'synonyms', 'questions')" in found
    assert [d.title for d in lib.documents] == ["Role"]
    assert [s.name for s in lib.sections] == ["Role", "The Coach"]


def test_yaml_nested_deeper_than_the_stack_is_reported_not_fatal(make_content):
    """Lists within lists 5,000 deep (past Python's stack and libyaml's limit of 1,000), in
    front matter or in the synonyms file, cost one problem naming the line; 600 deep (past
    PyYAML's Python loader only) is read."""
    deep = "[" * 5000 + "]" * 5000
    root = make_content(
        {
            "deep.md": f"---\ntitle: Deep\nx: {deep}\n---\n# Deep\n\ntext\n",
            "ok.md": "# Fine\n\nOnboarding is fine.\n",
            "synonyms.yml": f"synonyms:\n  ci: [build]\nquestions: {deep}\n",
        }
    )
    lib = load_library(root)
    found = sorted(map(str, lib.problems))
    assert found == [
        "deep.md:3: bad YAML front matter: exceeded maximum nesting depth",
        "synonyms.yml:3: not valid YAML: exceeded maximum nesting depth",
    ]
    assert [d.title for d in lib.documents] == ["Fine"]
    (root / "synonyms.yml").write_text(
        "synonyms:\n  ci: [build]\nquestions:\n  deep.md:\n    Deep: [why so deep]\n"
        f"x: {'[' * 600}{']' * 600}\n"
    )
    (root / "deep.md").write_text("# Deep\n\ntext\n")
    lib = load_library(root)
    assert [str(p) for p in lib.problems] == [
        "synonyms.yml:6: unknown key 'x' (expected 'synonyms', 'questions')"
    ]
    assert lib.synonyms["ci"][-1] == "build"
    assert next(s for s in lib.sections if s.name == "Deep").phrasings == ("why so deep",)


def test_folder_labels_are_context_and_bad_category_files_reported(make_content):
    """Docusaurus category labels (or folder names without number prefixes) are context for
    every section below them; a _category_.json that is not JSON is reported, not fatal."""
    root = make_content(
        {
            "01_Roles/_category_.json": '{"label": "Team Roles"}',
            "01_Roles/01_01_DevOps/skills.md": "# Knowledge and Skills\n\n## Grades\n\nJunior.\n",
            "02_Broken/_category_.json": "{not json",
            "02_Broken/page.md": "# Page\n\ntext\n",
        }
    )
    lib = load_library(root)
    grades = next(s for s in lib.sections if s.name == "Grades")
    assert grades.context == ("Team Roles", "DevOps", "Knowledge and Skills")
    page = next(s for s in lib.sections if s.name == "Page")
    assert page.context == ("Broken",)
    assert [p.path for p in lib.problems] == ["02_Broken/_category_.json"]
    assert "not valid JSON" in lib.problems[0].message
    index = build_index(lib)
    assert index.answer("devops grades").best.section.name == "Grades"


def test_front_matter_keys_yaml_reads_as_booleans_numbers_or_null_are_warnings(make_content):
    """'on:', '1:' and 'null:' (keys YAML reads as True, 1 and None) are left out with a
    warning at their line; the page loads, `check` passes and `ask` answers."""
    import io

    from bot.__main__ import main

    root = make_content({
        "rota.md": "---\ntitle: Rota\non: call rota\nnull: y\n---\n# Rota\n\nWho is on call.\n",
        "keys.md": "---\n2: x\ntitle: Keys\n---\n# Keys\n\nWhere the keys are.\n",
    })  # fmt: skip
    lib = load_library(root)
    assert [d.title for d in lib.documents] == ["Keys", "Rota"]
    assert [(str(p), p.warning) for p in lib.problems] == [
        ("keys.md:2: front matter key '2' is read by YAML as 2, not a name; ignored", True),
        ("rota.md:3: front matter key 'on' is read by YAML as True, not a name; ignored", True),
        ("rota.md:4: front matter key 'null' is read by YAML as None, not a name; ignored", True),
    ]
    out, err = io.StringIO(), io.StringIO()
    assert main(["check", "--content", str(root)], environ={}, stdout=out, stderr=err) == 0
    assert "rota.md:3: warning: front matter key 'on'" in out.getvalue()
    assert out.getvalue().splitlines()[-1].endswith("(3 warning(s))")
    out = io.StringIO()
    assert main(["ask", "who is on call", "--content", str(root)], environ={}, stdout=out,
                stderr=err) == 0  # fmt: skip
    assert "Rota" in out.getvalue().splitlines() and "Who is on call." in out.getvalue()


def _load_in_time(root, seconds: float = 20):
    """load_library in a thread: (library, True) if it finished within ``seconds``."""
    import threading

    result: list = []
    thread = threading.Thread(target=lambda: result.append(load_library(root)), daemon=True)
    thread.start()
    thread.join(seconds)
    return (result[0] if result else None), not thread.is_alive()


def test_devices_and_named_pipes_are_skipped_without_reading(make_content):
    """A .md link to /dev/zero (size 0, endless) and a named pipe (opening it waits for a
    writer) are named and skipped; loading does not read them or hang."""
    root = make_content({"ok.md": "# Fine\n\ntext\n"})
    os.symlink("/dev/zero", root / "zero.md")
    os.mkfifo(root / "fifo.md")
    lib, finished = _load_in_time(root)
    assert finished, "loading hung on a named pipe"
    assert [d.path for d in lib.documents] == ["ok.md"]
    messages = {p.path: p.message for p in lib.problems}
    assert messages == {
        "fifo.md": "unreadable: not a regular file (a named pipe); skipped",
        "zero.md": "unreadable: not a regular file (a device); skipped",
    }


def test_a_file_or_folder_named_in_another_encoding_is_named_and_skipped(make_content):
    """A name that is not UTF-8 (latin-1 'café.md', from an old archive) is named with its
    bytes shown and skipped, and the other files are read: it took the whole load down."""
    root = make_content({"ok.md": "# Fine\n\n## Parking\n\nBehind building C.\n"})
    raw = os.fsencode(root)
    os.mkdir(raw + b"/men\xfc")
    for name in (b"/caf\xe9.md", b"/men\xfc/lunch.md"):
        with open(raw + name, "w", encoding="utf-8") as f:
            f.write("# Cafe\n\nOpen at nine.\n")
    lib = load_library(root)
    assert [d.path for d in lib.documents] == ["ok.md"]
    assert sorted(str(p) for p in lib.problems) == [
        "caf\\xe9.md:0: file name is not UTF-8; skipped (rename it to be read)",
        "men\\xfc:0: folder name is not UTF-8; skipped (rename it to be read)",
    ]


def test_synonyms_file_over_its_limit_or_a_pipe_is_refused(make_content):
    """An owner file past MAX_SYNONYMS_BYTES is refused with its size limit named, not read
    into the index; a named pipe in its place does not hang loading."""
    from bot.content import MAX_SYNONYMS_BYTES

    big = "synonyms:\n" + "".join(f"  w{n}: [x{n}]\n" for n in range(MAX_SYNONYMS_BYTES // 10))
    root = make_content({"ok.md": "# Fine\n\ntext\n", "synonyms.yml": big})
    lib = load_library(root)
    assert [str(p) for p in lib.problems] == [
        f"synonyms.yml:1: unreadable: file is over the {MAX_SYNONYMS_BYTES} byte limit; skipped"
    ]
    assert "w1" not in lib.synonyms
    (root / "synonyms.yml").unlink()
    os.mkfifo(root / "synonyms.yml")
    lib, finished = _load_in_time(root)
    assert finished and [d.path for d in lib.documents] == ["ok.md"]
    assert "not a regular file (a named pipe)" in lib.problems[0].message


def test_check_passes_on_the_18f_handbook_and_fails_on_a_missing_section(make_content):
    """The 18F handbook uses 'questions' for channel names: warnings, exit 0. A phrasing
    that names a section the document does not have still fails `check`."""
    import io

    from bot.__main__ import main

    handbook = CORPUS / "18f-handbook" / "docs"
    if not handbook.is_dir():
        pytest.skip("shared corpus not present")
    out = io.StringIO()
    assert main(["check", "--content", str(handbook)], environ={}, stdout=out,
                stderr=io.StringIO()) == 0  # fmt: skip
    assert out.getvalue().splitlines()[-1].startswith("ok: 27 document(s)")
    root = make_content({
        "page.md": "---\nquestions:\n  Nowhere:\n    - where is it\n---\n# Page\n\nx\n",
    })  # fmt: skip
    out = io.StringIO()
    assert main(["check", "--content", str(root)], environ={}, stdout=out,
                stderr=io.StringIO()) == 2  # fmt: skip
    assert "page.md:3: front matter 'questions': no section 'Nowhere'" in out.getvalue()


def test_a_reload_reads_only_the_files_whose_stamp_changed(make_content, monkeypatch):
    """Read again with ``previous``, a file whose stamp (size, times, inode) is the one its
    parse was read with is not read; one whose bytes changed is, even at the same size with
    its modification time put back (its status-change time still moves). A file changed
    just before it was read is read again next time (its stamp is not trusted)."""
    import bot.content as content

    root = make_content({f"p{k}.md": f"# Page {k}\n\nThe quorvex rota {k}.\n" for k in range(3)})
    library = load_library(root)
    assert all(p.stamp is None for p in library.parsed.values())  # all just written
    monkeypatch.setattr(content, "RACY_NS", 0)
    read: list[str] = []
    real_read = content.read_source

    def counted(file, rel):
        read.append(rel)
        return real_read(file, rel)

    monkeypatch.setattr(content, "read_source", counted)
    library = load_library(root, previous=library)
    assert sorted(read) == ["p0.md", "p1.md", "p2.md"]  # no stamp to trust yet
    assert all(p.stamp is not None for p in library.parsed.values())
    read.clear()
    again = load_library(root, previous=library)
    assert read == [] and again.documents == library.documents
    assert all(a is b for a, b in zip(again.documents, library.documents, strict=True))
    target = root / "p1.md"
    st = target.stat()
    target.write_text("# Page 1\n\nThe glimmer rota 1.\n")  # as long as before
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert target.stat().st_size == st.st_size and target.stat().st_mtime_ns == st.st_mtime_ns
    read.clear()
    changed = load_library(root, previous=again)
    assert read == ["p1.md"]
    assert "glimmer" in changed.documents[1].sections[0].own_text
    assert changed.documents[0] is again.documents[0]
    # Its bytes the same, its owner's questions changed: a file trusted by its stamp is
    # still read and parsed again.
    (root / "synonyms.yml").write_text("questions:\n  p2.md:\n    Page 2: [who keeps the rota]\n")
    read.clear()
    asked = load_library(root, previous=changed)
    assert read == ["p2.md"]
    assert asked.documents[2].sections[0].phrasings == ("who keeps the rota",)
    assert asked.documents[0] is changed.documents[0]


def _messy_folder(make_content):
    """Good pages, owner questions, and every kind of file a load skips or warns about."""
    return make_content({
        "a/_category_.json": "{not json",
        "a/one.md": "---\ntitle: One\n---\n# One\n\n## Pager rota\n\nWho is on call.\n",
        "a/two.md": "# Two\n\n## Dup\n\nx\n\n## Dup\n\ny\n",
        "b/bad.md": "---\ntitle: [unclosed\n---\n# Bad\n\ntext\n",
        "b/latin.md": "# Caf\xe9\n\nno".encode("latin-1"),
        "b/three.md": "# Three\n\n## Budget\n\nMoney.\n",
        "c/empty.md": "---\ntitle: Nothing\n---\n",
        "synonyms.yml": "questions:\n  b/three.md:\n    Budget: [how much can I spend]\n",
    })  # fmt: skip


def test_a_load_parsed_in_two_processes_is_the_load_parsed_in_one(make_content, monkeypatch, forks):
    """Past PARSE_APART_BYTES a load parses its last files in a forked child: documents,
    problems (in the files' order) and parses are those of a load in one process, on a
    fresh start and on a reload where a file broke; a child that fails or cannot start
    leaves its files to this process, with the same result."""
    import bot.content as content

    root = _messy_folder(make_content)

    def loads(previous=None, apart: bool = False):
        monkeypatch.setattr(content, "PARSE_APART_BYTES", 1 if apart else 0)
        return load_library(root, previous=previous)

    alone, apart = loads(), loads(apart=True)
    assert len(forks) == 1
    assert [str(p) for p in apart.problems] == [str(p) for p in alone.problems]
    assert len(alone.problems) == 5 and len(alone.documents) == 3
    assert apart.documents == alone.documents and apart.parsed == alone.parsed
    (root / "b" / "three.md").write_bytes(b"\x00binary now")
    (root / "a" / "one.md").write_text("# One\n\n## Pager rota\n\nWho is on call now.\n")
    again_alone, again_apart = loads(alone), loads(apart, apart=True)
    assert len(forks) == 2
    assert [str(p) for p in again_apart.problems] == [str(p) for p in again_alone.problems]
    assert any("still answering from the version read before" in str(p)
               for p in again_apart.problems)  # fmt: skip
    assert again_apart.documents == again_alone.documents
    assert again_apart.parsed == again_alone.parsed


def test_read_limited_reads_a_whole_file_whatever_its_stated_size(tmp_path):
    """A file is read whole, a file past the limit refused; a file larger than its stated
    size (a /proc file says 0 bytes; a file written to after its size was read) is read
    whole too, up to the limit."""
    page = tmp_path / "a.md"
    page.write_bytes(b"x" * 100)
    assert read_limited(page, 100) == b"x" * 100
    with pytest.raises(OSError, match="over the 99 byte limit"):
        read_limited(page, 99)
    status = read_limited("/proc/self/status", 1_000_000)  # (st_size 0)
    assert status.startswith(b"Name:") and b"\nVmRSS:" in status
    with pytest.raises(OSError, match="over the 10 byte limit"):
        read_limited("/proc/self/status", 10)
