"""Fit the calibrated decision (bot/engine/decision.py) and judge it, one docs folder left out
at a time.

Run from the repository root:
    python bench/calibrate.py            leave-one-folder-out report (nothing written)
    python bench/calibrate.py --write    also fit on every folder and write
                                         bot/engine/calibration.json
    python bench/calibrate.py --plot F   also draw the held-out reliability plot to F (PNG,
                                         needs matplotlib: pip install -e '.[bench]')

The rule, the same for every fit: a logistic regression (L2 = 1.0, Newton's method) of
"the best section is right" on bot.engine.decision.FEATURES, one row per question, off-topic
questions labelled 0; then, on the same fitting folders, ``hedge_at`` is the lowest
probability (in steps of 0.01) with which every fitting folder declines at least 90% of its
off-topic questions: an in-scope question declined gets nothing, one shown as a best guess
still gets the section and buttons for the next ones; and ``answer_at`` the lowest
probability at or above it whose outright answers are wrong for at most 3% of the in-scope
questions.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bot.engine.decision import (  # noqa: E402
    FEATURES,
    HYBRID_FEATURES,
    Calibration,
    Fusion,
    decide,
)
from bot.engine.embed import VectorCache, embed_library, load_model  # noqa: E402
from bot.engine.question import corrected_text  # noqa: E402
from bot.engine.search import Dense, Index, Lexical, build_index  # noqa: E402

#: Docs folders and the question sets about them (the role doc's sets share one folder).
FOLDERS = {
    "role": [
        "role_questions.yml",
        "role_more_questions.yml",
        "role_fresh_questions.yml",
        "role_unseen_questions.yml",
    ],
    "hub": ["hub_questions.yml"],
    "gitlab": ["gitlab_questions.yml"],
    "18f": ["18f/questions.jsonl"],
}
L2 = 1.0
#: Outright answers may be wrong for at most this share of in-scope questions when fitted
#: (the target on held-out folders is 5%).
ANSWER_WRONG = 0.03
#: Every fitting folder must decline at least this share of its off-topic questions.
OFF_TOPIC_DECLINED = 0.90
GRID = [round(0.01 * k, 2) for k in range(1, 100)]
#: Simulated outcome sets for a folder's calibration-error floor (see ``ece_floor``).
FLOOR_DRAWS = 300


@dataclass
class Row:
    """One question as the calibration sees it."""

    folder: str
    features: list[float]
    right: bool  # the best section is a gold one
    in_scope: bool
    top3: bool
    tied: bool = False
    matched: bool = True  # the engine found a section at all (else it declines outright)

    @classmethod
    def of(cls, folder: str, features: list[float], matches: list, tied: bool,
           gold: list[str]) -> Row:  # fmt: skip
        """A question's row from what the engine gave it (its matches best first) and its
        gold sections (none: off-topic)."""
        from run import is_gold

        ranked = [m.section for m in matches[:3]]
        return cls(
            folder,
            features,
            bool(gold) and bool(ranked) and is_gold(ranked[0], gold),
            bool(gold),
            bool(gold) and any(is_gold(s, gold) for s in ranked),
            tied,
            bool(matches),
        )


def collect() -> list[Row]:
    """Every question of every folder, with its features and whether the best is right."""
    from run import load_set  # the question sets (and rank-bm25, a bench extra)

    rows = []
    for folder, sets in FOLDERS.items():
        for name in sets:
            library, qs = load_set(name)
            index = build_index(library)
            for q, gold in qs:
                rows.append(Row.of(folder, *index.features(q), gold))
    return rows


@dataclass
class Question:
    """One question with what the hybrid ranking is computed from."""

    folder: str
    index: Index
    lexical: Lexical
    lexical_row: Row  # the question as the lexical calibration sees it
    sims: np.ndarray  # every section's similarity to the question
    gold: list[str]


#: Fusions tried (each fold picks the one with the best mean top-1 over its fitting folders;
#: of equals, the first: the one that also looks at the sections most similar to the
#: question, which a question sharing no word with the docs needs).
FUSIONS = [
    Fusion(share, power, candidates)
    for share in (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
    for power in (0.0, 0.5, 1.0, 2.0)
    for candidates in (8, 0)
]


def collect_hybrid(rows: list[Row], model_setting: str = "default") -> list[Question]:
    """Every question of every folder (in ``collect``'s order, whose rows are given) with its
    lexical evidence and its similarity to every section, embedded by the sentence model
    (section vectors cached in the system's temporary folder)."""
    from run import load_set

    model = load_model(model_setting, threads=2)
    cache = Path(tempfile.gettempdir()) / "devops-role-bot-bench-embeddings"
    out: list[Question] = []
    it = iter(rows)
    for folder, sets in FOLDERS.items():
        for name in sets:
            library, qs = load_set(name)
            index = build_index(library)
            vectors = embed_library(model, library, VectorCache(cache, model.digest))
            dense = Dense(model, vectors)
            for q, gold in qs:
                sims = dense.similarities(corrected_text(index, q))
                out.append(Question(folder, index, index.lexical(q), next(it), sims, gold))
    return out


def hybrid_rows(questions: list[Question], lexical: Calibration, fusion: Fusion) -> list[Row]:
    """The questions as the hybrid calibration sees them, ranked with this fusion and gated by
    this lexical calibration."""

    rows = []
    for q in questions:
        features = q.lexical_row.features
        p = lexical.probability(features) if q.lexical_row.matched else 0.0
        fused = q.index.fuse(q.lexical._replace(probability=p), q.sims, fusion)
        rows.append(Row.of(q.folder, *fused, q.gold))
    return rows


def choose_fusion(questions: list[Question], lexical: Calibration) -> Fusion:
    """The fusion of FUSIONS with the best top-1, averaged over the questions' folders."""

    def mean_top1(fusion: Fusion) -> float:
        rows = hybrid_rows(questions, lexical, fusion)
        shares = []
        for f in sorted({r.folder for r in rows}):
            ins = [r for r in rows if r.folder == f and r.in_scope]
            shares.append(sum(r.right for r in ins) / max(1, len(ins)))
        return float(np.mean(shares))

    return max(FUSIONS, key=mean_top1)


def fit(rows: list[Row]) -> tuple[np.ndarray, float]:
    """Logistic regression with an L2 penalty (not on the bias), by Newton's method."""
    x = np.array([r.features for r in rows], dtype=float)
    y = np.array([r.right for r in rows], dtype=float)
    x1 = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(x1.shape[1])
    penalty = np.diag([L2] * x.shape[1] + [0.0])
    for _ in range(50):
        p = 1 / (1 + np.exp(-(x1 @ w)))
        grad = x1.T @ (p - y) + penalty @ w
        hess = x1.T @ (x1 * (p * (1 - p))[:, None]) + penalty
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return w[:-1], float(w[-1])


def outcome(row: Row, cal: Calibration) -> tuple[str, float]:
    """The decision and probability the calibration gives a row."""
    # As Index.answer: no section found is a decline; any found gets its probability.
    p = cal.probability(row.features) if row.matched else 0.0
    return decide(p, row.tied, cal), p


def strict_right(row: Row, decision: str) -> bool:
    """Right only when the reply shows a right section, or declines an off-topic question."""
    if not row.in_scope:
        return decision == "decline"
    return decision in ("answer", "hedged") and row.right


def thresholds(
    rows: list[Row],
    weights: np.ndarray,
    bias: float,
    features: tuple[str, ...] = FEATURES,
    fusion: Fusion | None = None,
) -> Calibration:
    """hedge_at and answer_at chosen on the fitting rows by the rule in this file's docstring."""
    folders = sorted({r.folder for r in rows})
    w = tuple(map(float, weights))

    def calibration(answer_at: float, hedge_at: float) -> Calibration:
        return Calibration(w, bias, answer_at, hedge_at, features, fusion)

    def declines_off_topic(cal: Calibration) -> bool:
        for f in folders:
            off = [r for r in rows if r.folder == f and not r.in_scope]
            declined = sum(outcome(r, cal)[0] == "decline" for r in off)
            if declined < OFF_TOPIC_DECLINED * len(off):
                return False
        return True

    hedge = next((h for h in GRID if declines_off_topic(calibration(1.0, h))), 1.0)
    in_scope = [r for r in rows if r.in_scope]
    for answer_at in [a for a in GRID if a >= hedge] + [1.0]:
        cal = calibration(answer_at, hedge)
        wrong = sum(outcome(r, cal)[0] == "answer" and not r.right for r in in_scope)
        if wrong <= ANSWER_WRONG * len(in_scope):
            return cal
    return calibration(1.0, hedge)


def ece(probs: list[float], labels: list[bool], bins: int = 10) -> tuple[float, list[tuple]]:
    """Expected calibration error (points) and the reliability table: per bin of predicted
    probability, its questions, mean prediction and how many were right."""
    table, total = [], 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, p in enumerate(probs) if lo <= p < hi or (b == bins - 1 and p == 1.0)]
        if not idx:
            continue
        mean_p = sum(probs[i] for i in idx) / len(idx)
        freq = sum(labels[i] for i in idx) / len(idx)
        total += len(idx) * abs(mean_p - freq)
        table.append((lo, hi, len(idx), mean_p, freq))
    return 100 * total / max(1, len(probs)), table


def ece_floor(probs: list[float], draws: int = FLOOR_DRAWS, seed: int = 0) -> tuple[float, float]:
    """The calibration error a perfectly calibrated model would still show on this many
    questions, by chance alone: the mean and 90th percentile of ``ece`` over ``draws`` sets
    of outcomes drawn with exactly the predicted probabilities (seeded, so repeatable). A
    folder's ECE is only telling above this floor."""
    rng = np.random.default_rng(seed)
    p = np.asarray(probs, dtype=float)
    errors = [ece(probs, list(rng.random(len(p)) < p))[0] for _ in range(draws)]
    return float(np.mean(errors)), float(np.percentile(errors, 90))


def report(rows: list[Row], cal: Calibration) -> dict:
    """The strict figures of one folder under one calibration."""
    outs = [outcome(r, cal) for r in rows]
    ins = [(r, o) for r, o in zip(rows, outs, strict=True) if r.in_scope]
    off = [(r, o) for r, o in zip(rows, outs, strict=True) if not r.in_scope]

    def share(n: int, d: int) -> float:
        return 100 * n / d if d else 0.0

    right = sum(strict_right(r, o[0]) for r, o in zip(rows, outs, strict=True))
    return {
        "n": len(rows),
        "overall": share(right, len(rows)),
        "top1": share(sum(r.right for r, _ in ins), len(ins)),
        "top3": share(sum(r.top3 for r, _ in ins), len(ins)),
        "shown_right": share(sum(strict_right(r, o[0]) for r, o in ins), len(ins)),
        "hedged": share(sum(o[0] == "hedged" for _, o in ins), len(ins)),
        "dym": share(sum(o[0] == "suggest" for _, o in ins), len(ins)),
        "answer_wrong": share(sum(o[0] == "answer" and not r.right for r, o in ins), len(ins)),
        # Of every outright answer, in-scope or not: wrong section, or an off-topic answered.
        "wrong_of_answers": share(
            sum(
                o[0] == "answer" and not (r.in_scope and r.right)
                for r, o in zip(rows, outs, strict=True)
            ),
            sum(o[0] == "answer" for o in outs),
        ),
        "off_declined": share(sum(o[0] == "decline" for _, o in off), len(off)),
        "ece": ece([o[1] for o in outs], [r.right for r in rows])[0],
        "ece_floor": ece_floor([o[1] for o in outs]),
    }


HEADER = (
    "folder  engine   n    overall%  top1%  top3%  shown-right%  hedged%  dym%  answer-wrong%"
    " (of answers%)  off-declined%  ECE pts  floor (p90)  hedge_at answer_at"
)


def line(folder: str, engine: str, m: dict, cal: Calibration) -> str:
    """One folder's figures under one calibration, as a row of HEADER."""
    return (
        f"{folder:<7} {engine:<7} {m['n']:>4} {m['overall']:>8.1f} {m['top1']:>6.1f}"
        f" {m['top3']:>6.1f} {m['shown_right']:>13.1f} {m['hedged']:>8.1f} {m['dym']:>5.1f}"
        f" {m['answer_wrong']:>14.1f} ({m['wrong_of_answers']:>11.1f}) {m['off_declined']:>14.1f}"
        f" {m['ece']:>8.1f}"
        f" {m['ece_floor'][0]:>5.1f} ({m['ece_floor'][1]:>4.1f})"
        f" {cal.hedge_at:>9.2f} {cal.answer_at:>9.2f}"
    )


def calibration_json(cal: Calibration, rows: list[Row], command: str) -> dict:
    """A calibration as shipped: weights, thresholds, what it was fitted on and how."""
    data = {
        "features": list(cal.features),
        "weights": [round(float(w), 6) for w in cal.weights],
        "bias": round(cal.bias, 6),
        "answer_at": cal.answer_at,
        "hedge_at": cal.hedge_at,
    }
    if cal.fusion:
        data["fusion"] = {
            "share": cal.fusion.share,
            "power": cal.fusion.power,
            "candidates": cal.fusion.candidates,
        }
    return data | {
        "fitted_on": {f: sets for f, sets in FOLDERS.items()},
        "questions": len(rows),
        "rule": __doc__.split("The rule, the same for every fit: ")[1].strip(),
        "command": command,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--write", action="store_true", help="write bot/engine/calibration.json (and with"
        " --hybrid, calibration-hybrid.json)"
    )  # fmt: skip
    parser.add_argument(
        "--hybrid", action="store_true", help="also the hybrid engine (the default sentence"
        " model), side by side"
    )  # fmt: skip
    parser.add_argument("--plot", type=Path, help="draw the held-out reliability plot (PNG)")
    args = parser.parse_args()
    rows = collect()
    questions = collect_hybrid(rows) if args.hybrid else []
    print("Leave one folder out: fitted on the other folders, reported on the one left out")
    print(HEADER)
    held_p, held_y = [], []
    for folder in FOLDERS:
        train = [r for r in rows if r.folder != folder]
        test = [r for r in rows if r.folder == folder]
        cal = thresholds(train, *fit(train))
        m = report(test, cal)
        print(line(folder, "lexical", m, cal), flush=True)
        if args.hybrid:
            fitting = [q for q in questions if q.folder != folder]
            fusion = choose_fusion(fitting, cal)
            train = hybrid_rows(fitting, cal, fusion)
            test = hybrid_rows([q for q in questions if q.folder == folder], cal, fusion)
            cal = thresholds(train, *fit(train), HYBRID_FEATURES, fusion)
            m = report(test, cal)
            print(line(folder, "hybrid", m, cal), f" {fusion}", flush=True)
        held_p += [outcome(r, cal)[1] for r in test]
        held_y += [r.right for r in test]
    total, table = ece(held_p, held_y)
    floor, floor90 = ece_floor(held_p)
    print(
        "\nfloor: the ECE a perfectly calibrated model would show on as many questions, by"
        f" chance alone\n(mean, and 90th percentile, of {FLOOR_DRAWS} simulated outcome sets)"
    )
    engine = "hybrid" if args.hybrid else "lexical"
    print(
        f"\nReliability of the {engine} engine on the held-out folders (all {len(held_p)}"
        f" questions): ECE {total:.1f} (floor {floor:.1f}, 90th percentile {floor90:.1f})"
    )
    print("predicted     questions  mean predicted%  right%")
    for lo, hi, n, mean_p, freq in table:
        print(f"{lo:.1f}-{hi:.1f} {n:>13} {100 * mean_p:>16.1f} {100 * freq:>7.1f}")
    if args.plot:
        plot(table, args.plot)
    if args.write:
        cal = thresholds(rows, *fit(rows))
        written = [("calibration.json", cal, rows, "python bench/calibrate.py --write")]
        if args.hybrid:
            fusion = choose_fusion(questions, cal)
            hybrid = hybrid_rows(questions, cal, fusion)
            cal_h = thresholds(hybrid, *fit(hybrid), HYBRID_FEATURES, fusion)
            written.append(
                ("calibration-hybrid.json", cal_h, hybrid,
                 "python bench/calibrate.py --write --hybrid")
            )  # fmt: skip
        for name, c, r, command in written:
            path = ROOT / "bot" / "engine" / name
            text = json.dumps(calibration_json(c, r, command), indent=2) + "\n"
            path.write_text(text, encoding="utf-8")
            print(f"\nwrote {path.relative_to(ROOT)}: hedge_at {c.hedge_at}, "
                  f"answer_at {c.answer_at}, fusion {c.fusion}")  # fmt: skip


def plot(table: list[tuple], path: Path) -> None:
    """The reliability diagram: mean predicted probability against the share right, per bin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.plot([t[3] for t in table], [t[4] for t in table], marker="o", label="held-out folders")
    for _, _, n, mean_p, freq in table:
        ax.annotate(str(n), (mean_p, freq), textcoords="offset points", xytext=(4, -10))
    ax.set_xlabel("predicted probability that the shown section is right")
    ax.set_ylabel("share right")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
