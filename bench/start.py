"""Start-up and memory of `serve` on a large docs folder, with the sentence model and
without, in one run: the time from starting the process to /healthz 200 and to
"semantic": "ready", and the bot's resident memory then, on bench/run.py's synthetic corpus.
Each starts on new docs (no docs cache in DATA_DIR) and again on the docs the start before
kept there (bot.docs_cache).

The vector cache in DATA_DIR is filled first (with random unit vectors, as for
bench/run.py's scale rows: a warm cache of real vectors of 10,000 synthetic sections would
take most of an hour to make), so "ready" is a start with a warm cache. Each configuration
runs ``--runs`` times, taking turns; medians are reported.

Run from the repository root:  python bench/start.py [--sections 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from load import free_port  # noqa: E402
from run import fill_cache, write_corpus  # noqa: E402

from bot.content import load_library  # noqa: E402
from bot.demo.standin import FakeSlack  # noqa: E402


def rss_mb(pid: int) -> float:
    """The process's resident memory now, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def health(base: str) -> dict | None:
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=2) as resp:
            return json.loads(resp.read())
    except OSError:
        return None


def start(docs: Path, data_dir: Path, model: str, kept: bool) -> dict:
    """One start of `serve`: seconds to healthy and to ready, and memory then. Without
    ``kept``, the docs cache is removed first (a start on new docs)."""
    if not kept:
        (data_dir / "docs.pickle").unlink(missing_ok=True)
    fake = FakeSlack()
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SLACK_")},
        "SLACK_BOT_TOKEN": "xoxb-start-bench",
        "SLACK_SIGNING_SECRET": "start-bench-secret",
        "SLACK_API_URL": fake.api_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "CONTENT_DIR": str(docs),
        "DATA_DIR": str(data_dir),
        "EMBEDDING_MODEL": model,
        "LOG_LEVEL": "WARNING",
    }
    base = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env, cwd=ROOT)
    healthy = ready = None
    try:
        while time.monotonic() - t0 < 300:
            body = health(base)
            now = time.monotonic() - t0
            if body and body.get("ok") and healthy is None:
                healthy = now
            if body and body.get("semantic") in ("ready", "off"):
                ready = now
                break
            time.sleep(0.02)
        time.sleep(1.0)  # settled
        memory = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        fake.close()
    return {"healthy_s": healthy, "ready_s": ready, "rss_mb": memory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        docs, data_dir = Path(tmp) / "docs", Path(tmp) / "data"
        docs.mkdir()
        write_corpus(docs, args.sections)
        fill_cache(load_library(docs), data_dir / "embeddings")
        rows: dict[tuple[str, bool], list[dict]] = {
            (model, kept): [] for kept in (False, True) for model in ("default", "off")
        }
        for _ in range(args.runs):
            for model, kept in rows:  # each start with kept=True follows one that kept them
                rows[model, kept].append(start(docs, data_dir, model, kept))
    print(f"serve on {args.sections} synthetic sections, warm vector cache, medians of"
          f" {args.runs} starts taking turns")  # fmt: skip
    print("EMBEDDING_MODEL  docs            to healthy s  to semantic ready s  resident MB")
    med = {}
    for (model, kept), runs in rows.items():
        med[model, kept] = m = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        docs_from = "kept" if kept else "new"
        print(f"{model:<16} {docs_from:<15} {m['healthy_s']:>12.2f} {m['ready_s']:>20.2f}"
              f" {m['rss_mb']:>12.0f}")  # fmt: skip
    extra = med["default", False]["rss_mb"] - med["off", False]["rss_mb"]
    ratio = med["default", False]["ready_s"] / med["off", False]["ready_s"]
    print(
        f"the model costs {extra:+.0f} MB resident; start to ready is {ratio:.2f} times"
        " the start of the bot without it (new docs)"
    )
    for model in ("default", "off"):
        new, kept = med[model, False]["healthy_s"], med[model, True]["healthy_s"]
        print(f"{model}: healthy on the docs kept in {kept / new:.2f} times the time on new docs")


if __name__ == "__main__":
    main()
