"""Memory and reload at scale: what the docs cost held, at their peak, and on every reload.

In a fresh process (no sentence model, as with EMBEDDING_MODEL=off), on bench/run.py's
synthetic corpus: loads the docs and builds the index as `serve` does (bot.live.LiveDocs),
answers one question, then changes one file and reloads, RELOADS times. Prints bytes held per
section (resident memory after the build, over the process before it), the build's peak over
what it holds, seconds from start to the first answer, each reload's seconds and resident
memory after it.

Run from the repository root:
    python bench/memory.py                       # 100,000 sections, 10 reloads
    python bench/memory.py --sections 10000 --reloads 5 --rev efd0a28   # beside a baseline
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
if "--tree" in sys.argv:  # the fresh process of a baseline: its bot package first
    sys.path.insert(0, sys.argv[sys.argv.index("--tree") + 1])


def status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status, in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(folder: Path, reloads: int) -> dict:
    """In this (fresh) process: load, answer, change and reload; the figures."""
    from bot.config import ContentSettings
    from bot.content import load_library
    from bot.engine.decision import shipped_calibration
    from bot.live import LiveDocs

    shipped_calibration()  # the code and its data in memory before the baseline
    gc.collect()
    before = status_mb("VmRSS")
    started = time.perf_counter()
    settings = ContentSettings(content_dir=folder)
    live = LiveDocs.load(settings, load_library(folder))
    live.current.answer("what is the deployment process")
    first_answer = time.perf_counter() - started
    gc.collect()
    held = status_mb("VmRSS") - before
    peak = status_mb("VmHWM") - before
    sections = len(live.current.library.sections)
    files = sorted(folder.rglob("*.md"))
    times, rss = [], []
    for n in range(reloads):
        with files[n % len(files)].open("a", encoding="utf-8") as f:
            f.write(f"\nOne more line, change {n}.\n")
        t0 = time.perf_counter()
        if not live.reload("bench"):
            raise SystemExit(f"reload {n} failed; see the log")
        times.append(time.perf_counter() - t0)
        rss.append(status_mb("VmRSS"))
    return {
        "sections": sections,
        "markdown_mb": sum(f.stat().st_size for f in files) / 1e6,
        "first_answer_s": first_answer,
        "held_bytes_per_section": held * 1048576 / sections,
        "held_mb": held,
        "peak_over_held": peak / held if held else float("nan"),
        "reload_s": times,
        "rss_mb": [before + held, *rss],
    }


def fresh(script: str, folder: Path, tree: Path, *args: str) -> dict:
    """``script --one FOLDER ARGS --tree TREE`` in a fresh process, on the bot of ``tree``:
    what its ``measure`` printed (JSON)."""
    out = subprocess.run(
        [sys.executable, script, "--one", str(folder), *args, "--tree", str(tree)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", type=int, default=100_000)
    parser.add_argument("--reloads", type=int, default=10)
    parser.add_argument("--rev", help="also that git revision's bot, on the same corpus")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the fresh process's folder
    parser.add_argument("--tree", help=argparse.SUPPRESS)  # ... and its bot's tree
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(Path(args.one), args.reloads)))
        return
    from load import tree_at
    from run import write_corpus

    trees = [("working tree", ROOT)] + ([(args.rev, tree_at(args.rev))] if args.rev else [])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        write_corpus(folder, args.sections)
        rows = [(name, fresh(__file__, folder, tree, "--reloads", str(args.reloads)))
                for name, tree in trees]  # fmt: skip
    m = rows[0][1]
    print(f"{m['sections']} synthetic sections ({m['markdown_mb']:.1f} MB of Markdown), a"
          f" fresh process each, no sentence model, {args.reloads} reloads of one changed"
          " file")  # fmt: skip
    print("tree           first answer s  held MB  bytes/section  peak/held  reload s (median)"
          "  resident MB after the build, then after each reload  spread")  # fmt: skip
    for name, m in rows:
        rss = m["rss_mb"]
        spread = 100 * (max(rss) - min(rss)) / rss[0]
        print(f"{name:<14} {m['first_answer_s']:>14.1f} {m['held_mb']:>8.0f}"
              f" {m['held_bytes_per_section']:>14.0f} {m['peak_over_held']:>10.2f}"
              f" {statistics.median(m['reload_s']):>18.1f}  {' '.join(f'{x:.0f}' for x in rss)}"
              f"  {spread:.0f}%")  # fmt: skip
    print("held: resident memory after the build over the process's before it; spread: the"
          " largest minus the smallest resident figure, over the first")  # fmt: skip


if __name__ == "__main__":
    main()
