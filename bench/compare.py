"""Compare the engine and content of a git revision with the working tree, question by question.

Both run in one command on the same question sets: each version in its own process, with its
own bot/ and content/ (the revision's taken with `git archive`). Printed per set and half:
each version's accuracy, the change in points, how many questions only one of them gets
right, and McNemar's exact p-value for that split: a change of one or two questions on a
set of 90 is what chance alone gives.

By default only the tuning halves (bench/run.py TUNE_SETS, even positions) are printed, so
that the held-out halves stay a fair check; --held-out prints them too, and each whole set,
for a final report. --sets runs only the sets named.
--build N also times both versions' index build on bench/run.py's synthetic corpus of N
sections, in fresh processes taking turns (this machine's speed moves from minute to minute,
so only builds run side by side are compared), and prints the medians and their ratio.
--latency N times both versions' answers as bench/run.py's scale run does (p50 and p99 of
300 questions on N synthetic sections), in fresh processes taking turns (--rounds each).
--instructions N counts, with valgrind's callgrind, the instructions each version takes per
answer to bench/run.py's scale questions on N synthetic sections: a count that stays the
same on a busy machine, where times move by tens of percent.

Run from the repository root:  python bench/compare.py HEAD~3
                               python bench/compare.py main --held-out
                               python bench/compare.py main --held-out --sets NAME ...
                               python bench/compare.py HEAD~1 --build 10000
                               python bench/compare.py HEAD~1 --instructions 3000
                               python bench/compare.py HEAD~1 --latency 10000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
#: Questions each version answers for --instructions (bench/run.py's scale questions).
ANSWERS = 300
#: Answered before them, and in the run that answers none: a made-up word to correct.
WARM_UP = "what is qwzxvb"


def _bench_on(tree: Path) -> ModuleType:
    """bench/run.py, running on tree's bot/ (imported first: run.py then finds it loaded)."""
    sys.path.insert(0, str(tree))
    import bot  # noqa: F401

    sys.path.insert(0, str(ROOT / "bench"))
    import run

    return run


def worker(tree: Path, sets: list[str]) -> None:
    """Print {set: [right?, ...]} for every question of these sets, with tree's bot/ and
    content/."""
    run = _bench_on(tree)
    out = {}
    for name in sets:
        library, qs = run.load_set(name, content_root=tree)
        engine = run.OurEngine(library)
        out[name] = [run.correct(engine.ask(q), gold) for q, gold in qs]
    print(json.dumps(out))


def build_worker(tree: Path, library_file: Path) -> None:
    """Print how long tree's bot takes to index a pickled library."""
    run = _bench_on(tree)
    library = pickle.loads(library_file.read_bytes())
    t0 = time.perf_counter()
    run.build_index(library)
    print(json.dumps(time.perf_counter() - t0))


def answers_worker(tree: Path, library_file: Path, answers: int) -> None:
    """Build tree's index on a pickled library and answer bench/run.py's scale questions
    (run under callgrind by answer_instructions)."""
    run = _bench_on(tree)
    library = pickle.loads(library_file.read_bytes())
    index = run.build_index(library)
    # A question with a word no index has, in the run answering none too: what is paid once
    # per process on the first such word (the English word list's load) is not counted.
    index.answer(WARM_UP)
    for question in run.scale_questions(library, answers):
        index.answer(question)


def latency_worker(tree: Path, library_file: Path) -> None:
    """Print bench/run.py's scale figures (p50, p99 ms of 300 questions) for tree's bot on a
    pickled library."""
    print(json.dumps(_bench_on(tree).scale_one(str(library_file), "ours", 300)))


def answer_instructions(trees: list[Path], sections: int) -> list[float]:
    """Each tree's instructions per answer on a synthetic corpus, counted by valgrind's
    callgrind (the same on a busy machine as on a quiet one): a run answering ANSWERS
    questions less a run answering none, over ANSWERS (both answer WARM_UP first)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from run import write_library

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        library_file = write_library(Path(tmp), sections)
        for tree in trees:
            counts = []
            for answers in (0, ANSWERS):
                done = subprocess.run(
                    ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/callgrind.out",
                     sys.executable, __file__, "--answers-worker", str(tree), str(library_file),
                     str(answers)],
                    capture_output=True, text=True, check=True,
                    env={**os.environ, "PYTHONHASHSEED": "0"},  # the same set order every run
                )  # fmt: skip
                counts.append(int(re.search(r"Collected : (\d+)", done.stderr).group(1)))
            out.append((counts[1] - counts[0]) / ANSWERS)
    return out


def take_turns(flag: str, trees: list[Path], sections: int, rounds: int) -> list[list]:
    """What a worker (--build-worker, --latency-worker) prints for each tree, on a synthetic
    corpus of this many sections, in fresh processes, the trees taking turns."""
    sys.path.insert(0, str(ROOT / "bench"))
    from run import write_library

    out: list[list] = [[] for _ in trees]
    with tempfile.TemporaryDirectory() as tmp:
        library_file = write_library(Path(tmp), sections)
        for _ in range(rounds):
            for tree, runs in zip(trees, out, strict=True):
                done = subprocess.run(
                    [sys.executable, __file__, flag, str(tree), str(library_file)],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                runs.append(json.loads(done.stdout))
    return out


def print_turns(what: str, unit: str, revision: str, runs: list[list[float]]) -> None:
    """Both versions' medians of runs taken in turns, their ratio, and every run."""
    old, new = (statistics.median(r) for r in runs)
    print(
        f"\n{what}: {revision} {old:.2f} {unit}, working tree {new:.2f} {unit} (medians),"
        f" ratio {new / old:.2f}; all: {' '.join(f'{t:.2f}' for t in runs[0])}"
        f" / {' '.join(f'{t:.2f}' for t in runs[1])}"
    )


def results(tree: Path, sets: list[str]) -> dict[str, list[bool]]:
    """Run the worker on a tree in a fresh process."""
    done = subprocess.run(
        [sys.executable, __file__, "--worker", str(tree), *sets],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{tree}: the benchmark failed:\n{done.stderr}")
    return json.loads(done.stdout)


def mcnemar_p(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value for the questions only one version gets right."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision", nargs="?", help="a git revision to compare with (HEAD, main~2)")
    parser.add_argument("--held-out", action="store_true", help="print the held-out halves too")
    parser.add_argument("--build", type=int, metavar="N", help="also time the index build")
    parser.add_argument(
        "--rounds", type=int, default=5, help="runs per version (--build, --latency)"
    )
    parser.add_argument(
        "--instructions", type=int, metavar="N", help="also count instructions per answer"
    )
    parser.add_argument("--answers-worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument(
        "--latency", type=int, metavar="N", help="also time answers as bench/run.py does"
    )
    parser.add_argument("--latency-worker", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument(
        "--sets", nargs="+", metavar="NAME", help="only these question sets (default: all)"
    )
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--build-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(Path(args.worker[0]), args.worker[1:])
        return
    if args.latency_worker:
        latency_worker(Path(args.latency_worker[0]), Path(args.latency_worker[1]))
        return
    if args.answers_worker:
        tree, library_file, answers = args.answers_worker
        answers_worker(Path(tree), Path(library_file), int(answers))
        return
    if args.build_worker:
        build_worker(Path(args.build_worker[0]), Path(args.build_worker[1]))
        return
    if not args.revision:
        parser.error("name a revision to compare with, e.g. HEAD")
    sys.path.insert(0, str(ROOT / "bench"))
    from run import SETS, TUNE_SETS

    sets = args.sets or SETS
    if unknown := sorted(set(sets) - set(SETS)):
        parser.error(f"no such question set: {', '.join(unknown)} (bench/run.py SETS)")

    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "archive", args.revision, "bot", "content"],
            cwd=ROOT, capture_output=True, check=False,
        )  # fmt: skip
        if archive.returncode != 0:
            raise SystemExit(f"git archive {args.revision}: {archive.stderr.decode().strip()}")
        archive_file = Path(tmp) / "rev.tar"
        archive_file.write_bytes(archive.stdout)
        with tarfile.open(archive_file) as tar:
            tar.extractall(tmp, filter="data")
        before, after = results(Path(tmp), sets), results(ROOT, sets)
        trees = [Path(tmp), ROOT]
        builds = (
            take_turns("--build-worker", trees, args.build, args.rounds) if args.build else None
        )
        timings = (
            take_turns("--latency-worker", trees, args.latency, args.rounds)
            if args.latency
            else None
        )
        instructions = answer_instructions(trees, args.instructions) if args.instructions else None
    print(f"{args.revision} against the working tree (acc% = accuracy as in bench/run.py)")
    print("set                       half   n  before%  after%  change  only-before  only-after  p")
    for name in sets:
        halves = [("tune", 0, 2)] if name in TUNE_SETS else []
        if args.held_out:
            halves = [("tune", 0, 2), ("test", 1, 2), ("all", 0, 1)]
        for half, start, step in halves:
            pairs = list(zip(before[name], after[name], strict=True))[start::step]
            n = len(pairs)
            a, b = sum(x for x, _ in pairs), sum(y for _, y in pairs)
            only_a = sum(x and not y for x, y in pairs)
            only_b = sum(y and not x for x, y in pairs)
            print(
                f"{name:<25} {half:<4} {n:>4} {100 * a / n:>8.1f} {100 * b / n:>7.1f}"
                f" {100 * (b - a) / n:>+7.1f} {only_a:>12} {only_b:>11}"
                f"  {mcnemar_p(only_a, only_b):.2f}"
            )
    if timings:
        for label in ("p50", "p99"):
            print_turns(
                f"{label} answer latency (bench/run.py's scale questions), {args.latency}"
                f" synthetic sections, {args.rounds} turns each",
                "ms", args.revision,
                [[t[f"{label}_ms"] for t in version] for version in timings],
            )  # fmt: skip
    if instructions:
        old, new = instructions
        print(
            f"\ninstructions per answer (callgrind), {args.instructions} synthetic sections,"
            f" {ANSWERS} questions: {args.revision} {old / 1e6:.2f} M, working tree"
            f" {new / 1e6:.2f} M, ratio {new / old:.3f}"
        )
    if builds:
        print_turns(
            f"index build, {args.build} synthetic sections, {args.rounds} turns each",
            "s", args.revision, builds,
        )  # fmt: skip


if __name__ == "__main__":
    main()
