"""Memory and reload at scale: what the docs cost held, at their peak, and on every reload.

In a fresh process (no sentence model, as with EMBEDDING_MODEL=off), on bench/run.py's
synthetic corpus: loads the docs and builds the index as `serve` does (bot.live.LiveDocs),
answers one question, then changes one file and reloads, RELOADS times, keeping the docs in
a DATA_DIR as `serve` does (bot.docs_cache). Prints bytes held per section (resident memory
after the build, over the process before it), the build's peak over what it holds, seconds
from start to the first answer, each reload's seconds and resident memory after it. Then, in
two more fresh processes, a restart on the docs kept: with no file changed, and with one
changed (a revision without a docs cache: n/a).

Run from the repository root:
    python bench/memory.py                       # 100,000 sections, 10 reloads
    python bench/memory.py --sections 10000 --reloads 5 --rev efd0a28   # beside a baseline
    python bench/memory.py --just-written --reloads 3 --rev efd0a28     # after a checkout
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
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


class ChildPeak:
    """The most private memory (not shared with this process) any child process of this one
    held, sampled every 20 ms from /proc (Linux): what a reload built in a child costs over
    the bot's own memory."""

    def __init__(self) -> None:
        self.mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            for children in Path("/proc/self/task").glob("*/children"):
                for pid in children.read_text().split():
                    try:
                        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
                    except OSError:
                        continue
                    kb = sum(int(line.split()[1]) for line in rollup.splitlines()
                             if line.startswith(("Private_Clean:", "Private_Dirty:")))  # fmt: skip
                    self.mb = max(self.mb, kb / 1024)

    def stop(self) -> float:
        """Stop sampling; the peak in MB."""
        self._stop.set()
        self._thread.join()
        return self.mb


def docs_cache(data: Path, settings):
    """The docs cache `serve` keeps in DATA_DIR, or None for a bot that has none."""
    import bot

    if not (Path(bot.__file__).parent / "docs_cache.py").is_file():
        return None  # (the installed package's module would be found, not that bot's)
    from bot.docs_cache import DocsCache

    return DocsCache(data, settings)


def measure(folder: Path, reloads: int, data: Path, just_written: bool = False) -> dict:
    """In this (fresh) process: load, answer, change and reload; the figures. With
    ``just_written``, every file is touched just before the start, as by a checkout or a
    copy right before it: the start cannot trust the files' stamps, and the first reload
    reads them again."""
    from bot.config import ContentSettings
    from bot.content import load_library
    from bot.engine.decision import shipped_calibration
    from bot.live import LiveDocs

    shipped_calibration()  # the code and its data in memory before the baseline
    # The files this benchmark edits, listed before the baseline: a Path object of its own
    # for each file (10,000 at 100,000 sections), counted otherwise in the resident memory
    # after the reloads.
    files = sorted(folder.rglob("*.md"))
    if just_written:
        for file in files:
            os.utime(file)
    gc.collect()
    before = status_mb("VmRSS")
    started = time.perf_counter()
    settings = ContentSettings(content_dir=folder)
    cache = docs_cache(data, settings)
    extra = {"cache": cache} if cache is not None else {}
    live = LiveDocs.load(settings, load_library(folder), **extra)
    live.current.answer("what is the deployment process")
    first_answer = time.perf_counter() - started
    kept_s = kept_mb = None
    if cache is not None:
        t0 = time.perf_counter()
        live.kept()  # written in the background, as in `serve`; not counted in the start
        kept_s, kept_mb = time.perf_counter() - t0, cache.path.stat().st_size / 1e6
    gc.collect()
    held = status_mb("VmRSS") - before
    peak = status_mb("VmHWM") - before
    sections = len(live.current.library.sections)
    times, rss = [], []
    if cache is not None and hasattr(os, "fork"):
        import bot.live

        # As `serve` reloads: in a child process (0.8.0: every reload; later, one of many files).
        live.apart = getattr(bot.live, "APART_FILES", True)
    children = ChildPeak()
    for n in range(reloads):
        with files[n % len(files)].open("a", encoding="utf-8") as f:
            f.write(f"\nOne more line, change {n}.\n")
        t0 = time.perf_counter()
        if not live.reload("bench"):
            raise SystemExit(f"reload {n} failed; see the log")
        times.append(time.perf_counter() - t0)
        if cache is not None:
            live.kept()
        if hasattr(live, "released"):
            live.released()  # the docs replaced are freed in the background
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
        "child_mb": children.stop(),
        "cache_write_s": kept_s,
        "cache_mb": kept_mb,
    }


def restart(folder: Path, data: Path) -> dict:
    """In this (fresh) process: start as `serve` does on the docs kept in ``data``, answer;
    seconds to the first answer and bytes held per section."""
    from bot.config import ContentSettings
    from bot.content import load_library
    from bot.engine.decision import shipped_calibration
    from bot.live import LiveDocs

    shipped_calibration()
    gc.collect()
    before = status_mb("VmRSS")
    started = time.perf_counter()
    settings = ContentSettings(content_dir=folder)
    cache = docs_cache(data, settings)
    if cache is None:
        return {}
    kept = cache.read()
    library = load_library(folder, previous=kept.library if kept else None)
    from_cache = kept is not None
    live = LiveDocs.load(settings, library, kept=kept, cache=cache)
    live.current.answer("what is the deployment process")
    first_answer = time.perf_counter() - started
    del kept, library  # as `serve` does: the docs are live's now
    gc.collect()
    held = status_mb("VmRSS") - before
    live.kept()
    return {
        "first_answer_s": first_answer,
        "held_bytes_per_section": held * 1048576 / len(live.current.library.sections),
        "from_cache": from_cache,
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
    parser.add_argument(
        "--just-written", action="store_true", help="touch every file just before the start"
        " (a start right after a checkout)"
    )  # fmt: skip
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the fresh process's folder
    parser.add_argument("--tree", help=argparse.SUPPRESS)  # ... and its bot's tree
    parser.add_argument("--data", help=argparse.SUPPRESS)  # ... and its DATA_DIR
    parser.add_argument("--restart", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one and args.restart:
        print(json.dumps(restart(Path(args.one), Path(args.data))))
        return
    if args.one:
        print(json.dumps(measure(Path(args.one), args.reloads, Path(args.data),
                                 args.just_written)))  # fmt: skip
        return
    from load import tree_at
    from run import write_corpus

    trees = [("working tree", ROOT)] + ([(args.rev, tree_at(args.rev))] if args.rev else [])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        write_corpus(folder, args.sections)
        rows, restarts = [], []
        for n, (name, tree) in enumerate(trees):
            data = str(Path(tmp) / f"data{n}")
            extra = ["--just-written"] if args.just_written else []
            rows.append((name, fresh(__file__, folder, tree, "--reloads", str(args.reloads),
                                     "--data", data, *extra)))  # fmt: skip
            unchanged = fresh(__file__, folder, tree, "--data", data, "--restart")
            with sorted(folder.rglob("*.md"))[-1].open("a", encoding="utf-8") as f:
                f.write(f"\nOne more line, for the restart of {name}.\n")
            edited = fresh(__file__, folder, tree, "--data", data, "--restart")
            restarts.append((name, unchanged, edited))
    m = rows[0][1]
    print(f"{m['sections']} synthetic sections ({m['markdown_mb']:.1f} MB of Markdown), a"
          f" fresh process each, no sentence model, {args.reloads} reloads of one changed"
          " file" + (", every file touched just before the start" if args.just_written
                     else ""))  # fmt: skip
    print("tree           first answer s  held MB  bytes/section  peak/held  reload s (median)"
          "  resident MB after the build, then after each reload  spread"
          "  reload's child MB")  # fmt: skip
    for name, m in rows:
        rss = m["rss_mb"]
        spread = 100 * (max(rss) - min(rss)) / rss[0]
        child = f"{m['child_mb']:.0f}" if m.get("child_mb") else "-"
        print(f"{name:<14} {m['first_answer_s']:>14.1f} {m['held_mb']:>8.0f}"
              f" {m['held_bytes_per_section']:>14.0f} {m['peak_over_held']:>10.2f}"
              f" {statistics.median(m['reload_s']):>18.1f}  {' '.join(f'{x:.0f}' for x in rss)}"
              f"  {spread:.0f}%  {child}")  # fmt: skip
    print("held: resident memory after the build over the process's before it; spread: the"
          " largest minus the smallest resident figure, over the first; reload's child: the"
          " most private memory a reload's child process held"
          " (-: reloads in the process)")  # fmt: skip
    for name, m in rows:
        if m.get("cache_mb"):
            print(f"{name}: docs cache {m['cache_mb']:.0f} MB"
                  f" ({m['cache_mb'] * 1e6 / m['sections']:.0f} bytes a section),"
                  f" written {m['cache_write_s']:.1f} s after the first answer")  # fmt: skip
    print()
    print("restart on the docs kept in DATA_DIR: first answer s (bytes/section held)")
    print("tree           no file changed      one file changed")
    for name, unchanged, edited in restarts:
        cells = [
            f"{m['first_answer_s']:.1f} ({m['held_bytes_per_section']:.0f})"
            if m.get("from_cache") else "n/a"
            for m in (unchanged, edited)
        ]  # fmt: skip
        print(f"{name:<14} {cells[0]:<20} {cells[1]}")


if __name__ == "__main__":
    main()
