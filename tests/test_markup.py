"""What a reader sees of the docs tools' own markup (bot.markup), read through the load:
Docusaurus and MDX, Material for MkDocs, Hugo, Obsidian, GitHub, GitBook, Jekyll and
Eleventy's templates."""

from __future__ import annotations

from bot.content import load_library
from bot.engine.search import Match
from bot.render import section_blocks


def test_mdx_imports_html_and_admonitions(make_content):
    """MDX import lines, raw HTML tags and images vanish; admonition content stays, and so
    does an admonition's title (both of Docusaurus' ways to write it), as a line of its own."""
    root = make_content(
        {
            "x.mdx": "import Tabs from '@theme/Tabs';\n\n# T\n\n:::tip Remember\nKeep this tip.\n"
            ':::\n\n<div class="x">\n\nVisible <b>bold</b> words.\n\n</div>\n\n'
            "![diagram](d.png)\n\n:::warning[Never on Fridays]\n\nNo deploys.\n\n:::\n"
        }
    )
    section = load_library(root).sections[0]
    assert "import" not in section.markdown and ":::" not in section.markdown
    assert section.own_text.startswith("Remember\nKeep this tip.\n")
    assert "**Never on Fridays**\n\n\nNo deploys." in section.markdown
    assert "Visible bold words." in section.own_text
    assert "<div" not in section.markdown and "diagram" not in section.own_text


def test_docusaurus_mdx_components_exports_and_comments_are_not_shown(make_content):
    """An MDX page as Docusaurus documents it: a component exported over several lines, MDX
    comments ({/* */}, on a line or over several), and tabs of indented JSX show none of
    their code; the tabs' text reads as text, not as a code block, each tab's label as its
    title. Code blocks and inline code that show such syntax are kept, and so is prose that
    starts with 'import'."""
    root = make_content(
        {
            "install.mdx": (
                "---\ntitle: Install\n---\n"
                "import Tabs from '@theme/Tabs';\nimport TabItem from '@theme/TabItem';\n\n"
                "export const Highlight = ({children, color}) => (\n"
                "  <span style={{backgroundColor: color}}>{children}</span>\n);\n\n"
                "export function Card({title}) {\n  const x = 1;\n\n  return <b>{title}</b>;\n}\n\n"
                "# Install\n\n{/* internal: ask infra before changing this */}\n\n"
                '<Tabs>\n  <TabItem value="apple" label="Apple" default>\n'
                '    This is an apple.\n  </TabItem>\n  <TabItem value="orange">\n'
                "    This is an orange.\n  </TabItem>\n</Tabs>\n\n"
                "Run the installer. {/* a note\nover two lines */} Then restart.\n\n"
                "Comment with `{/* like this */}` in MDX.\n\n"
                "```js\nimport Tabs from '@theme/Tabs';\nexport const x = 1;\n```\n\n"
                "import the data with the CLI, then check it.\n"
            ),
        }
    )
    section = load_library(root).sections[0]
    prose = section.own_text.split("Comment with")[0]  # (before the code shown on purpose)
    for code in ("import Tabs", "export const", "<span", "backgroundColor", "return", "const x",
                 "internal", "a note", "over two lines", "TabItem"):  # fmt: skip
        assert code not in prose, code
    assert section.own_text.split("\n")[:4] == [
        "Apple",  # (the first tab's label; the second has none)
        "This is an apple.",
        "This is an orange.",
        "Run the installer. Then restart.",
    ]
    assert section.markdown.startswith("**Apple**\n\nThis is an apple.\n\nThis is an orange.\n\n")
    assert "Comment with `{/* like this */}` in MDX." in section.markdown
    assert "```js\nimport Tabs from '@theme/Tabs';\nexport const x = 1;\n```" in section.markdown
    assert "import the data with the CLI, then check it." in section.own_text
    blocks, _ = section_blocks(Match(section, 90))
    shown = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert "```\nThis is an orange." not in shown and "span" not in shown


def test_mkdocs_admonitions_and_tabs_hugo_shortcodes_and_github_alerts_read_as_text(
    make_content,
):
    """Material for MkDocs' admonitions and content tabs (their text indented under them),
    nested too, read as text with their titles on lines of their own, not as code blocks;
    a real indented code block after them stays code, an admonition shown in it too; Hugo
    shortcodes are not shown; a GitHub alert's marker reads as its title. A setext heading
    is not taken for a tab."""
    root = make_content(
        {
            "mk.md": (
                '# Deploys\n\n!!! warning "Never on Fridays"\n    The team is thin.\n\n'
                "    Ask the lead.\n\n??? note\n    Collapsed text.\n\n"
                '=== "Linux"\n\n    Run `make deploy`.\n\n'
                '    !!! tip "Nested"\n        Inner text.\n\n'
                'Back to text.\n\n    real code\n    !!! note "Shown as code"\n\n'
                '{{< figure src="x.png" >}}\n'
                "Hugo {{% notice tip %}}inside{{% /notice %}} after.\n\n"
                "> [!WARNING]\n> Rotate the keys.\n\nSetext\n===\n\nBody.\n"
            ),
        }
    )
    top, setext = load_library(root).sections
    assert top.own_text.split("\n") == [
        "Never on Fridays The team is thin.", "Ask the lead.", "Collapsed text.", "Linux",
        "Run make deploy.", "Nested Inner text.", "Back to text.",
        "real code", '!!! note "Shown as code"',
        "Hugo inside after.", "Warning Rotate the keys.",
    ]  # fmt: skip
    blocks, _ = section_blocks(Match(top, 90))
    shown = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert shown.startswith("*Never on Fridays*\nThe team is thin.\nAsk the lead.\n")
    assert "*Linux*\nRun `make deploy`.\n*Nested*\nInner text.\n" in shown
    assert '```\nreal code\n!!! note "Shown as code"\n```' in shown and "{{" not in shown
    assert setext.name == "Setext" and setext.own_text == "Body."


def test_obsidian_wikilinks_embeds_and_callouts_read_as_text(make_content):
    """An Obsidian vault's page: a wikilink reads as its text (else its page, else its
    heading), an embed is not shown, a callout's marker reads as its title (else its kind);
    inline code that shows the syntax stays as written."""
    root = make_content(
        {
            "v.md": "# Vault\n\nSee [[Onboarding]] and [[Deploys#Rollback|how to roll back]], "
            "[[#Local]].\n\n![[diagram.png]]\n\n> [!tip]- Ask early\n> Nobody minds.\n\n"
            "> [!NOTE]\n> Keys rotate.\n\nCode `[[x]]` stays.\n"
        }
    )
    section = load_library(root).sections[0]
    assert section.own_text.split("\n") == [
        "See Onboarding and how to roll back, Local.",
        "Ask early Nobody minds.",
        "Note Keys rotate.",
        "Code [[x]] stays.",
    ]
    assert "diagram" not in section.markdown and "> **Ask early**\n" in section.markdown


def test_gitbook_blocks_read_as_text_and_other_sites_tags_are_left_as_written(make_content):
    """GitBook's hint, tabs, embed and content-ref tags are hidden and a tab's title is shown
    on a line of its own; a tag GitBook does not define (18F's {% slack_channel %}) is left
    as written, since hiding it would lose what it names."""
    root = make_content(
        {
            "g.md": '# Setup\n\n{% hint style="warning" %}\n**Never** deploy on Fridays.\n'
            '{% endhint %}\n\n{% tabs %}\n{% tab title="Linux" %}\nRun `make deploy`.\n'
            "{% endtab %}\n\n{% tab title='Windows' %}\nRun `deploy.ps1`.\n{% endtab %}\n"
            '{% endtabs %}\n\n{% embed url="https://youtu.be/x" %}\n\n'
            '{% content-ref url="other.md" %}\n[other.md](other.md)\n{% endcontent-ref %}\n\n'
            'Ask in {% slack_channel "dev" %} for help.\n\n'
            '{% hint style="info" %}Inline hint text.{% endhint %}\n'
        }
    )
    section = load_library(root).sections[0]
    assert section.own_text.split("\n") == [
        "Never deploy on Fridays.", "Linux", "Run make deploy.", "Windows", "Run deploy.ps1.",
        "other.md", 'Ask in {% slack_channel "dev" %} for help.', "Inline hint text.",
    ]  # fmt: skip
    blocks, _ = section_blocks(Match(section, 90))
    shown = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert "*Linux*\nRun `make deploy`.\n*Windows*\n" in shown and "youtu" not in shown


def test_jekyll_and_eleventy_template_logic_and_comments_are_not_shown(make_content):
    """A Jekyll or Eleventy page: Liquid's logic ({% if %}, {% include %}, {% highlight %})
    and a comment's text (on a line, over lines, in the middle of one) are not shown; an
    include's content="..." is; what {% raw %} holds is shown as written; inline code and
    code blocks that show the syntax, and a site's own tag, stay as written."""
    root = make_content(
        {
            "j.md": "# Leave\n\n{% comment %}\ninternal: ask HR first\n{% endcomment %}\n"
            "Book leave in the portal.\n\n{% if site.gov %}\nTell your supervisor.\n"
            '{% endif %}\n\n{%- include note.html content="Plan **early**." -%}\n'
            "{% include footer.html %}\n\nUse `{% if x %}` to branch; {% raw %}{{ name }} and"
            " {% if %}{% endraw %} are shown.\n\nBefore {% comment %} hidden {% endcomment %}"
            " after, open {% comment %} hidden\nstill hidden {% endcomment %}back.\n\n"
            "{% highlight shell %}\nleave --days 2\n{% endhighlight %}\n\nAsk in"
            ' {% slack_channel "hr" %}.\n\n```liquid\n{% if user %}Hi{% endif %}\n```\n'
        }
    )
    section = load_library(root).sections[0]
    assert section.own_text.split("\n") == [
        "Book leave in the portal.", "Tell your supervisor.", "Plan early.",
        "Use {% if x %} to branch; {{ name }} and {% if %} are shown.",
        "Before after, open back.", "leave --days 2", 'Ask in {% slack_channel "hr" %}.',
        "{% if user %}Hi{% endif %}",
    ]  # fmt: skip
    blocks, _ = section_blocks(Match(section, 90))
    shown = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    prose = shown.split("```")[0]
    assert "internal" not in prose and "footer" not in prose and "{% endif %}" not in prose
    assert "Plan *early*." in shown and "```\n{% if user %}Hi{% endif %}\n```" in shown


def test_a_comment_never_closed_is_text(make_content):
    """A page that writes {% comment %} or {/* in its prose and never closes it (not a
    template or MDX: a Jekyll or Docusaurus site would not build) keeps that line and
    everything after it."""
    root = make_content(
        {
            "p.md": "# P\n\nWrite {% comment %} to start one.\n\nThis stays.\n\n## Next\n\n"
            "So does this.\n",
            "m.md": "# M\n\nOpen with {/* and more.\n\nThis stays too.\n",
        }
    )
    assert [s.own_text for s in load_library(root).sections] == [
        "Open with {/* and more.\nThis stays too.",
        "Write {% comment %} to start one.\nThis stays.", "So does this.",
    ]  # fmt: skip


def test_a_sites_own_tags_are_shown_as_its_pages_show_them_and_matched_as_written(
    make_content,
):
    """The TTS handbook's {% slack_channel %} reads as the channel (or its given name) and a
    link written with the template ({% page %}, {{ site.baseurl }}) as a link, in Slack and
    in the command line's text; the index keeps the words the tags carry, which help
    matching. Code that shows the tags is left as written."""
    from bot.render import section_text

    root = make_content(
        {
            "h.md": '# Help\n\nAsk in {% slack_channel "ttsc-help-wanted" %} or'
            ' {% slack_channel "talent" "the Talent team" %}'
            " (or {% slack_channel 'hr' %}).\n\n"
            '- [Choosing a lead]({% page "/18f/leading-projects/#how" %})\n'
            "- [About]({{ site.baseurl }}/about/) and [Rel]({{ '/x/' | relative_url }})\n\n"
            'Write `{% slack_channel "x" %}`.\n\n```\n{% slack_channel "y" %}\n```\n'
        }
    )
    section = load_library(root).sections[0]
    assert "slack_channel" in section.own_text and "leading-projects" in section.own_text
    blocks, _ = section_blocks(Match(section, 90))
    shown = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert shown.split("\n")[:3] == [
        "Ask in #ttsc-help-wanted or the Talent team (or #hr).",
        "• Choosing a lead",
        "• About and Rel",
    ]
    assert 'Write `{% slack_channel "x" %}`.' in shown
    assert '```\n{% slack_channel "y" %}\n```' in shown
    text = section_text(Match(section, 90))
    assert "Ask in #ttsc-help-wanted or the Talent team (or #hr)." in text
    assert "- [Choosing a lead](/18f/leading-projects/#how)" in text
    assert '```\n{% slack_channel "y" %}\n```' in text
