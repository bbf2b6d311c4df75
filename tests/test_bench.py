"""The benchmark's own arithmetic: McNemar's exact test in bench/compare.py; the logistic
fit, calibration error and threshold rule in bench/calibrate.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "compare", Path(__file__).parent.parent / "bench" / "compare.py"
)
compare = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare)


@pytest.mark.parametrize(
    ("only_before", "only_after", "p"),
    [
        (0, 0, 1.0),  # no question changed
        (1, 1, 1.0),  # one won, one lost
        (0, 4, 0.125),  # 2 * (1/2)**4
        (4, 0, 0.125),  # two-sided: the same either way
        (1, 9, 0.021484375),  # 2 * (1 + 10) / 2**10
    ],
)
def test_mcnemar_exact_p(only_before, only_after, p):
    assert compare.mcnemar_p(only_before, only_after) == pytest.approx(p)


_cal_spec = importlib.util.spec_from_file_location(
    "calibrate", Path(__file__).parent.parent / "bench" / "calibrate.py"
)
calibrate = importlib.util.module_from_spec(_cal_spec)
sys.modules["calibrate"] = calibrate  # its dataclass looks its module up there
_cal_spec.loader.exec_module(calibrate)


def _rows(n: int, seed: int = 3) -> list:
    """Questions whose best section is right with probability sigmoid(6 * score - 3)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        score = float(rng.random())
        right = bool(rng.random() < 1 / (1 + np.exp(-(6 * score - 3))))
        features = [score, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0]
        rows.append(calibrate.Row(f"f{i % 3}", features, right, True, right))
    return rows


def test_fit_recovers_a_known_logistic_relation():
    """The Newton fit finds the weight and bias that generated the data (L2 shrinks a little)."""
    weights, bias = calibrate.fit(_rows(6000))
    assert weights[0] == pytest.approx(6, abs=0.8)
    assert bias + weights[3] + weights[5] == pytest.approx(-3, abs=0.5)


def test_expected_calibration_error():
    """Zero for predictions that match the outcomes; the gap, in points, when they do not."""
    assert calibrate.ece([0.0, 1.0, 1.0], [False, True, True])[0] == pytest.approx(0)
    error, table = calibrate.ece([0.75] * 4, [True, True, False, False])
    assert error == pytest.approx(25) and table == [(0.7, 0.8, 4, 0.75, 0.5)]


def test_calibration_error_floor_shrinks_with_more_questions():
    """A perfectly calibrated model's error by chance alone: large on a few questions, small
    on many, and the same on every run."""
    few = calibrate.ece_floor([0.5] * 20)
    many = calibrate.ece_floor([0.5] * 2000)
    assert few == calibrate.ece_floor([0.5] * 20)
    assert few[0] > 5 > 2 > many[0]
    assert few[1] >= few[0]
    # Certain predictions cannot miss by chance.
    assert calibrate.ece_floor([0.0, 1.0] * 50) == (0.0, 0.0)


def test_thresholds_follow_the_rule():
    """hedge_at is the lowest probability that declines at least 90% of every fitting
    folder's off-topic questions (not a higher one that declines more of them and in-scope
    questions too), and answer_at keeps wrong outright answers at or under the rule's share."""
    rows = _rows(900)
    rows += [calibrate.Row(f"f{i % 3}", [0.1 + 0.01 * i, 0, 0, 0.3, 0, 1, 0], False, False, False)
             for i in range(60)]  # fmt: skip
    cal = calibrate.thresholds(rows, *calibrate.fit(rows))

    def least_declined(hedge_at: float) -> float:
        shares = []
        for folder in ("f0", "f1", "f2"):
            off = [r for r in rows if r.folder == folder and not r.in_scope]
            lowered = calibrate.Calibration(cal.weights, cal.bias, cal.answer_at, hedge_at)
            declined = sum(calibrate.outcome(r, lowered)[0] == "decline" for r in off)
            shares.append(declined / len(off))
        return min(shares)

    assert least_declined(cal.hedge_at) >= 0.9
    assert least_declined(round(cal.hedge_at - 0.01, 2)) < 0.9
    # Where declining more would only decline more off-topic and wrong in-scope questions
    # (no right one), hedge_at still stops at the lowest probability the rule allows.
    plain = [calibrate.Row(f"f{i % 3}", [0.05 + 0.01 * i, 0, 0, 1, 0, 1, 0], False, False, False)
             for i in range(60)]  # fmt: skip
    plain += [calibrate.Row(f"f{i % 3}", [0.6, 0, 0, 1, 0, 1, 0], False, True, False)
              for i in range(30)]  # fmt: skip
    plain += [calibrate.Row(f"f{i % 3}", [0.95, 0.5, 0, 1, 0, 1, 0], True, True, True)
              for i in range(90)]  # fmt: skip
    fitted = calibrate.thresholds(plain, *calibrate.fit(plain))
    p = [fitted.probability(r.features) for r in plain if not r.in_scope]
    assert fitted.hedge_at <= sorted(p)[-5]  # a tenth of each folder's off-topic stays shown
    in_scope = [r for r in rows if r.in_scope]
    wrong = sum(calibrate.outcome(r, cal)[0] == "answer" and not r.right for r in in_scope)
    assert wrong <= calibrate.ANSWER_WRONG * len(in_scope)
    assert cal.hedge_at <= cal.answer_at
