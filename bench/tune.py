"""Choose the decision thresholds on the tuning halves of the benchmark's question sets.

For every combination of DECLINE_BELOW, ANSWER_AT and MARGIN, counts on the tuning halves
(even positions) of the tuning sets (bench/run.py TUNE_SETS): right (in scope: the right
section answered or first in 'did you mean'; off topic: declined), wrong outright answers,
and questions answered outright. Prints the combination with the most right (then most
answered) for each number of wrong answers allowed, and where the shipped constants stand.
The held-out halves are never read.

Run from the repository root:  python bench/tune.py
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from run import TUNE_SETS, is_gold, load_set  # noqa: E402

from bot import search  # noqa: E402
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


def main() -> None:
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
