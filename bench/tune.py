"""Choose the decision thresholds on the tuning halves of the benchmark's question sets.

For every combination of DECLINE_BELOW, ANSWER_AT and MARGIN, counts on the tuning halves
(even positions) of the tuning sets (bench/run.py TUNE_SETS): right (in scope: the right
section answered or first in 'did you mean'; off topic: declined), wrong outright answers,
and questions answered outright. Prints the combination with the most right (then most
answered) for each number of wrong answers allowed, and where the shipped constants stand.
The held-out halves are never read.

With --weights, it checks the engine's weights instead: it changes three of them at a time at
random, each to a value from a grid around it, and counts right answers on the same tuning
questions (right or wrong depends on DECLINE_BELOW alone, so each try gets its best).

Run from the repository root:  python bench/tune.py
                               python bench/tune.py --weights [--tries 120] [--seed 1]
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from run import TUNE_SETS, is_gold, load_set  # noqa: E402

from bot import index, question, search  # noqa: E402
from bot.search import build_index  # noqa: E402


def tuning_matches() -> list[tuple[list[tuple[object, int]], bool, list[str]]]:
    """(ranked (section, score) pairs, asked word for word?, gold) for every tuning-half
    question of every tuning set."""
    out = []
    for name in TUNE_SETS:
        library, qs = load_set(name)
        index = build_index(library)
        for q, gold in qs[::2]:
            matches = index.search(q)
            exact = index.asked_word_for_word(q, matches)
            out.append(([(m.section, m.score) for m in matches], exact, gold))
    return out


def answered(ranked, exact: bool, decline: int, answer_at: int, margin: int) -> bool:
    """Whether Index.answer would answer outright under these thresholds."""
    if not ranked or ranked[0][1] < decline:
        return False
    lead = ranked[0][1] - ranked[1][1] if len(ranked) > 1 else 100
    return exact or (ranked[0][1] >= answer_at and lead >= margin)


def outcome(ranked, exact, gold, decline: int, answer_at: int, margin: int) -> tuple[bool, bool]:
    """(right, wrong outright answer) for one question under these thresholds."""
    if not ranked or ranked[0][1] < decline:
        return not gold, False
    good = bool(gold) and is_gold(ranked[0][0], gold)
    return good, answered(ranked, exact, decline, answer_at, margin) and not good


#: Engine weights the --weights search varies, each over a grid that includes its shipped value.
WEIGHTS = {
    "PHRASE_SHARE": [0.2, 0.25, 0.3, 0.35, 0.4, 0.5],
    "IN_CONTEXT": [0.4, 0.5, 0.6, 0.7, 0.8],
    "IN_TEXT": [0.3, 0.4, 0.5, 0.6],
    "IN_TEXT_MAX": [0.7, 0.8, 0.9, 1.0],
    "STEM_ONLY": [0.5, 0.6, 0.7, 0.8, 0.9],
    "HEADING_NAMED": [0.5, 0.6, 0.7, 0.8, 0.9],
    "PATH_NAMED": [0.7, 0.8, 0.9, 1.0],
    "TYPO_STRENGTH": [0.7, 0.8, 0.85, 0.9, 1.0],
    "UNKNOWN_CAP": [1.0, 1.5, 2.0, 3.0],
}


def best_decline(rows: list) -> tuple[int, int]:
    """(right, DECLINE_BELOW) for the DECLINE_BELOW that gets most tuning questions right."""
    now = (search.ANSWER_AT, search.MARGIN)
    return max(
        (sum(outcome(r, e, g, decline, *now)[0] for r, e, g in rows), decline)
        for decline in range(30, 71)
    )


#: The module that owns each weight (the one whose functions read it).
OWNER = {name: next(m for m in (search, index, question) if name in vars(m)) for name in WEIGHTS}


def search_weights(tries: int, seed: int) -> None:
    """Random changes of three weights at a time, against the shipped weights."""
    shipped = {name: getattr(OWNER[name], name) for name in WEIGHTS}
    right, decline = best_decline(tuning_matches())
    print(f"shipped weights: {right} right (DECLINE_BELOW {decline})")
    rng = random.Random(seed)
    results = []
    for _ in range(tries):
        change = {name: rng.choice(WEIGHTS[name]) for name in rng.sample(sorted(WEIGHTS), 3)}
        change = {k: v for k, v in change.items() if v != shipped[k]}
        try:
            for name, value in change.items():
                setattr(OWNER[name], name, value)
            results.append((*best_decline(tuning_matches()), change))
        finally:
            for name, value in shipped.items():
                setattr(OWNER[name], name, value)
    results.sort(key=lambda r: -r[0])
    better = sum(r[0] > right for r in results)
    same = sum(r[0] == right for r in results)
    print(f"{tries} tries (seed {seed}): {better} better, {same} as good, "
          f"{tries - better - same} worse; the best five:")  # fmt: skip
    for r, d, change in results[:5]:
        print(f"  {r} right (DECLINE_BELOW {d}): {change or 'no change'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", action="store_true", help="search the engine's weights")
    parser.add_argument("--tries", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.weights:
        search_weights(args.tries, args.seed)
        return
    rows = tuning_matches()
    n = len(rows)
    results = []
    for decline, answer_at, margin in itertools.product(
        range(30, 71, 2), range(50, 91, 2), range(0, 31, 2)
    ):
        right = wrong = outright = 0
        for ranked, exact, gold in rows:
            r, w = outcome(ranked, exact, gold, decline, answer_at, margin)
            right += r
            wrong += w
            outright += answered(ranked, exact, decline, answer_at, margin)
        results.append((right, wrong, outright, (decline, answer_at, margin)))

    def show(label: str, r: tuple) -> None:
        right, wrong, answered, (d, a, m) = r
        print(
            f"{label:<22} {d:>13} {a:>9} {m:>6} {100 * right / n:>7.1f} {100 * wrong / n:>7.1f}"
            f" {100 * answered / n:>10.1f}"
        )

    print(f"{n} tuning questions (even positions of {', '.join(TUNE_SETS)})")
    print("                       DECLINE_BELOW ANSWER_AT MARGIN  right%  wrong%  answered%")
    for cap in range(0, 5):
        allowed = [r for r in results if r[1] <= cap]
        if allowed:
            show(f"best, <= {cap} wrong", max(allowed, key=lambda r: (r[0], r[2])))
    now = (search.DECLINE_BELOW, search.ANSWER_AT, search.MARGIN)
    show("shipped", next(r for r in results if r[3] == now))
    # Right or wrong depends on DECLINE_BELOW alone: how much room it has on each side.
    print("\nDECLINE_BELOW  right  in-scope declined (right first)  off-topic not declined")
    for decline in range(search.DECLINE_BELOW - 6, search.DECLINE_BELOW + 7):
        right = sum(outcome(r, e, g, decline, *now[1:])[0] for r, e, g in rows)
        declined = [(r, g) for r, _, g in rows if not r or r[0][1] < decline]
        lost = sum(1 for r, g in declined if g and r and is_gold(r[0][0], g))
        kept_off = sum(1 for r, _, g in rows if not g and r and r[0][1] >= decline)
        print(f"{decline:>13} {right:>6} {lost:>33} {kept_off:>23}")


if __name__ == "__main__":
    main()
