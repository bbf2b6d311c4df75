"""The benchmark's own arithmetic: McNemar's exact test in bench/compare.py."""

from __future__ import annotations

import importlib.util
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
