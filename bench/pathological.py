"""Pages that stress the reading of docs: one construct repeated (on one long line, or on
line after line), each page read at two sizes. A reading time that doubles when the page
doubles is linear; one that grows about four times is quadratic, the shape of every slow page
found so far (MDX comments, Hugo shortcodes and template comments left open on one line, runs
of brackets or emphasis, pages of very many headings).

Run from the repository root:
    python bench/pathological.py                  # the working tree
    python bench/pathological.py --rev 2cd656e    # beside that revision's bot, in one run
    python bench/pathological.py --chars 100000   # the smaller size (default 200,000)

For each page, size and tree, in a fresh process: the fastest of three reads (bot.content's
load_library, as `check` and `serve` read a folder) at CHARS and twice CHARS characters, and
the ratio of the two. A ratio of 3 or more is flagged; a page whose three reads take more
than the time limit (30 s) is shown as such and flagged.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
if "--tree" in sys.argv:  # the fresh process of a tree: its bot package first
    sys.path.insert(0, sys.argv[sys.argv.index("--tree") + 1])
else:
    sys.path.insert(0, str(ROOT))

#: What each page repeats: (name, unit, one line?). A unit repeated on one line, or a unit
#: that is a line (ends in a newline) repeated on line after line.
PAGES = [
    ("MDX comment opened", "{/*", True),
    ("Hugo shortcode opened", "{{<", True),
    ("Hugo shortcode opened (%)", "{{%", True),
    ("template tag opened", "{%", True),
    ("template comment opened", "{% comment %}", True),
    ("template comment, closed", "{% if %}{% comment %}a{% endcomment %}", True),
    ("template raw opened", "{% raw %}", True),
    ("code span and tag", "`{% if x %}", True),
    ("GitBook tag", '{% tab title="T" %}', True),
    ("wikilink opened", "[[", True),
    ("HTML comment opened", "<!--", True),
    ("image brackets", "![", True),
    ("emphasis", "*a", True),
    ("links", "[a](b) ", True),
    ("JSX tag with a label", '<TabItem label="L">', True),
    ("list markers", "- ", True),
    ("quote markers", "> ", True),
    ("headings", "# h\n", False),
    ("headings and text", "## h\nsome text\n", False),
    ("MkDocs admonitions", '!!! note "T"\n    x\n', False),
    ("MDX exports", "export const X = ({a}) => (\n", False),
    ("admonition fences", ":::tip[T]\n", False),
    ("callouts", "> [!tip] T\n", False),
    ("table rows", "| a | b |\n", False),
    ("list items", "- item\n", False),
    ("link reference definitions", "[r]: http://x\n", False),
    ("HTML blocks", "<div>\n\n", False),
    ("code fences", "```\n", False),
    ("blank lines", "\n", False),
]
#: Seconds a page's three reads may take before they are stopped.
TIME_LIMIT = 30


def page(unit: str, one_line: bool, chars: int) -> str:
    """A page of about ``chars`` characters after its title: ``unit`` repeated."""
    body = unit * max(1, chars // len(unit))
    return "# T\n\n" + (body if one_line else body.rstrip("\n") + "\n")


def measure(unit: str, one_line: bool, chars: int) -> float:
    """In this (fresh) process, on the bot first on the path: the fastest of three reads of
    the page of ``unit`` at ``chars`` characters."""
    from bot.content import load_library

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "page.md").write_text(page(unit, one_line, chars), encoding="utf-8")
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            load_library(Path(tmp))
            best = min(best, time.perf_counter() - t0)
    return best


def fresh(tree: Path, n: int, chars: int) -> float | None:
    """``measure`` of page ``n`` in a fresh process, on the bot of ``tree``; None when it
    takes more than TIME_LIMIT (the process is stopped: a regular expression running in C
    cannot be interrupted from within)."""
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--chars", str(chars), "--tree",
             str(tree)],
            check=True, capture_output=True, text=True, timeout=TIME_LIMIT,
        ).stdout  # fmt: skip
    except subprocess.TimeoutExpired:
        return None
    return float(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=200_000)
    parser.add_argument("--rev", help="also that git revision's bot, side by side")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a fresh process's page
    parser.add_argument("--tree", help=argparse.SUPPRESS)  # ... and its bot's tree
    args = parser.parse_args()
    if args.one is not None:
        _, unit, one_line = PAGES[args.one]
        print(measure(unit, one_line, args.chars))
        return
    from load import tree_at

    trees = [("working tree", ROOT)] + ([(args.rev, tree_at(args.rev))] if args.rev else [])
    results = [
        (name, [[fresh(tree, n, size) for size in (args.chars, 2 * args.chars)]
                for n in range(len(PAGES))])
        for name, tree in trees
    ]  # fmt: skip
    k = args.chars / 1000
    print(f"Each page: one construct repeated to {k:,.0f}k and {2 * k:,.0f}k characters, read"
          f" by load_library (fastest of 3; {TIME_LIMIT} s at most for the 3); ratio: the"
          " second read's time over the first's (2: linear, 4: quadratic)")  # fmt: skip
    print(f"{'page':<38} {'tree':<14} {f'{k:,.0f}k s':>9} {f'{2 * k:,.0f}k s':>9} {'ratio':>6}")
    flagged = 0
    for n, (name, _, one_line) in enumerate(PAGES):
        label = f"{name} ({'one line' if one_line else 'lines'})"
        for tree, rows in results:
            first, second = rows[n]
            shown = [f"{s:.3f}" if s is not None else f">{TIME_LIMIT}" for s in (first, second)]
            ratio = second / first if first and second else None
            bad = ratio is None or ratio >= 3
            flagged += bad
            print(f"{label:<38} {tree:<14} {shown[0]:>9} {shown[1]:>9}"
                  f" {f'{ratio:.1f}' if ratio else '-':>6}{'  <-' if bad else ''}")  # fmt: skip
    print(f"{flagged} read(s) flagged (ratio 3 or more, or past the time limit)")


if __name__ == "__main__":
    main()
