"""Pauses of the interpreter at scale: what keeps a Slack acknowledgement waiting.

In a fresh process (no sentence model), on bench/run.py's synthetic corpus, loaded as `serve`
loads it (bot.live.LiveDocs):
- the garbage collector's full round over the docs, and as the bot leaves it after loading
  (this version freezes the docs: takes them out of its rounds);
- the longest waits of a thread that asks for the interpreter every millisecond while two
  one-file reloads run;
- an acknowledgement's work (HMAC, JSON, a SQLite insert and commit) every 33 ms for
  SECONDS, beside two threads answering questions and one reloading, with Python's 5 ms
  switch interval and with `serve`'s (bot.slack.server.SWITCH_INTERVAL).
Reloads run as `serve` runs them: for a bot with a docs cache (bot.docs_cache), in a child
process that passes the docs back through it.

Run from the repository root:
    python bench/pauses.py                                   # 100,000 sections
    python bench/pauses.py --sections 10000 --rev 2987ce9    # beside a baseline
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import hmac
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
if "--tree" in sys.argv:  # the fresh process: its bot package first
    sys.path.insert(0, sys.argv[sys.argv.index("--tree") + 1])
else:
    sys.path.insert(0, str(ROOT))

SWITCHES = (0.005, 0.001)


def collector_round() -> float:
    """Seconds of one full round of the cyclic garbage collector."""
    start = time.perf_counter()
    gc.collect()
    return time.perf_counter() - start


def longest_waits(live, files: list[Path]) -> list[float]:
    """A thread's waits for the interpreter (ms, longest first, over 15 ms) while two
    reloads run in this one."""
    waits: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            start = time.perf_counter()
            time.sleep(0.001)
            late = time.perf_counter() - start - 0.001
            if late > 0.015:
                waits.append(late * 1000)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    for n in range(2):
        with files[n].open("a", encoding="utf-8") as f:
            f.write(f"\nOne more line, change {n}.\n")
        live.reload("bench")
    stop.set()
    sampler.join()
    return sorted(waits, reverse=True)


def acknowledgements(live, files: list[Path], seconds: float, db: Path) -> list[float]:
    """Milliseconds an acknowledgement's work took, beside answers and reloads."""
    stop = threading.Event()
    questions = [f"what is {s.name}" for s in live.current.library.sections[:500]]

    def answer() -> None:
        n = 0
        while not stop.is_set():
            live.current.answer(questions[n % len(questions)])
            n += 1
            time.sleep(0.02)

    def reload() -> None:
        n = 2
        while not stop.is_set():
            with files[n % len(files)].open("a", encoding="utf-8") as f:
                f.write(f"\nOne more line, change {n}.\n")
            live.reload("bench")
            n += 1

    conn = sqlite3.connect(db, check_same_thread=False)
    conn.execute("CREATE TABLE IF NOT EXISTS handled (key TEXT PRIMARY KEY, payload TEXT)")
    conn.commit()
    took: list[float] = []
    threads = [threading.Thread(target=t) for t in (answer, answer, reload)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        start = time.perf_counter()
        body = json.dumps({"event": {"text": "x" * 200, "ts": str(n)}})
        hmac.new(b"secret", body.encode(), hashlib.sha256).hexdigest()
        conn.execute("INSERT INTO handled VALUES (?, ?)", (f"{db.name}-{n}", body))
        conn.commit()
        json.loads(body)
        took.append((time.perf_counter() - start) * 1000)
        n += 1
        time.sleep(0.033)
    stop.set()
    for t in threads:
        t.join()
    return sorted(took)


def measure(folder: Path, seconds: float, data: Path) -> dict:
    """In this (fresh) process: load, then each measurement."""
    from memory import docs_cache

    from bot.config import ContentSettings
    from bot.content import load_library
    from bot.live import LiveDocs

    settings = ContentSettings(content_dir=folder)
    cache = docs_cache(data, settings)
    if cache is None:  # a bot without a docs cache reloads in its own process
        live = LiveDocs.load(settings, load_library(folder))
    else:  # as `serve` does: with a docs cache, reloads of many files in a child process
        import bot.live

        live = LiveDocs.load(settings, load_library(folder), cache=cache)
        live.kept()
        if hasattr(os, "fork"):  # 0.8.0: every reload in a child process
            live.apart = getattr(bot.live, "APART_FILES", True)
    files = sorted(folder.rglob("*.md"))
    frozen = gc.get_freeze_count()  # none for a bot that does not freeze its docs
    as_loaded = tracked = collector_round()
    if frozen:
        gc.unfreeze()  # the docs back in the collector's rounds, as before they were frozen
        tracked = collector_round()
        gc.freeze()
    waits = longest_waits(live, files)
    out = {"round_tracked_s": tracked, "round_as_loaded_s": as_loaded, "waits_ms": waits[:5],
           "waits": len(waits), "acks": {}}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for switch in SWITCHES:
            sys.setswitchinterval(switch)
            took = acknowledgements(live, files, seconds, Path(tmp) / f"acks-{switch}.db")
            out["acks"][str(switch)] = (statistics.median(took), took[int(len(took) * 0.99) - 1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=25.0, help="each acknowledgement run")
    parser.add_argument("--rev", help="also that git revision's bot, on the same corpus")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the fresh process's folder
    parser.add_argument("--tree", help=argparse.SUPPRESS)  # ... and its bot's tree
    parser.add_argument("--data", help=argparse.SUPPRESS)  # ... and its DATA_DIR
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(Path(args.one), args.seconds, Path(args.data))))
        return
    from load import tree_at
    from memory import fresh
    from run import write_corpus

    trees = [("working tree", ROOT)] + ([(args.rev, tree_at(args.rev))] if args.rev else [])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        write_corpus(folder, args.sections)
        for n, (name, tree) in enumerate(trees):
            data = str(Path(tmp) / f"data{n}")
            rows.append((name, fresh(__file__, folder, tree, "--seconds", str(args.seconds),
                                     "--data", data)))  # fmt: skip
    print(f"{args.sections} synthetic sections, no sentence model, a fresh process each")
    print("tree           collector round s (docs tracked / as loaded)  waits > 15 ms during two"
          " reloads (count: longest ms)  acknowledgement p50/p99 ms,"
          " 5 ms / 1 ms switch")  # fmt: skip
    for name, m in rows:
        acks = "  ".join(f"{p50:.1f}/{p99:.1f}" for p50, p99 in m["acks"].values())
        waits = " ".join(f"{w:.0f}" for w in m["waits_ms"])
        print(f"{name:<14} {m['round_tracked_s']:>8.2f} / {m['round_as_loaded_s']:<8.3f}"
              f"                      {m['waits']:>3}: {waits:<30}  {acks}")  # fmt: skip


if __name__ == "__main__":
    main()
