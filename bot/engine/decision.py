"""The decision: a calibrated probability that the best section is right, and the reply it
calls for (answer, hedged best guess, did-you-mean or decline).

The probability is a logistic regression over what the engine knows of a question (see
FEATURES), fitted by ``bench/calibrate.py`` on question sets written by others, one docs
folder left out at a time, and shipped as ``bot/engine/calibration.json`` with the rule that
made it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

#: What the probability is computed from, in this order.
FEATURES = (
    "score",  # the best section's score, 0-1
    "lead",  # its lead over the best candidate that is not its ancestor or descendant, 0-1
    #         (0 when no such candidate matched at all)
    "exact",  # 1 when the question is word for word the section's heading or a phrasing
    "known",  # the share of the question's idf weight in words the docs use as typed, 0-1
    "corrected",  # the share in words corrected to a word of the docs (typos), 0-1
    "sections",  # log10 of the number of sections in the docs folder
    "related",  # 1 when the runner-up is the best section's ancestor or descendant
)
#: With a sentence model (bot.engine.embed), the same and the dense evidence.
HYBRID_FEATURES = (
    *FEATURES,
    "cosine",  # the best section's cosine similarity to the question
    "cosine_lead",  # its lead over the most similar section not its ancestor or descendant
)
CALIBRATION_FILE = "calibration.json"
HYBRID_FILE = "calibration-hybrid.json"


@dataclass(frozen=True, slots=True)
class Fusion:
    """How the dense similarity joins the lexical score of a candidate:
    ``score / 100 + share * (1 - p) ** power * cosine``, p being the lexical probability that
    the lexical best is right (a sure lexical answer is left alone), over the lexical
    candidates and the ``candidates`` sections most similar to the question."""

    share: float
    power: float
    candidates: int


class CalibrationError(Exception):
    """The calibration file is missing, malformed, or made for other features."""


@dataclass(frozen=True, slots=True)
class Calibration:
    """A fitted model and the two probabilities that choose the reply."""

    weights: tuple[float, ...]
    bias: float
    answer_at: float  # at least this: the section, as the answer
    hedge_at: float  # at least this (below answer_at): the section as a best guess
    features: tuple[str, ...] = FEATURES
    fusion: Fusion | None = None  # with HYBRID_FEATURES

    @classmethod
    def from_json(cls, data: dict, where: str = CALIBRATION_FILE) -> Calibration:
        """A calibration from its JSON form; raises CalibrationError naming what is wrong."""
        try:
            features = tuple(data["features"])
            if features not in (FEATURES, HYBRID_FEATURES):
                raise CalibrationError(
                    f"{where}: made for features {data['features']}, the engine has {FEATURES}"
                    f" or {HYBRID_FEATURES}"
                )
            fusion = None
            if features == HYBRID_FEATURES:
                f = data["fusion"]
                fusion = Fusion(float(f["share"]), float(f["power"]), int(f["candidates"]))
            cal = cls(
                tuple(float(w) for w in data["weights"]),
                float(data["bias"]),
                float(data["answer_at"]),
                float(data["hedge_at"]),
                features,
                fusion,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise CalibrationError(f"{where}: not a calibration ({err!r})") from err
        if len(cal.weights) != len(features) or not 0 <= cal.hedge_at <= cal.answer_at <= 1:
            raise CalibrationError(f"{where}: {len(cal.weights)} weights or thresholds out of 0-1")
        return cal

    def probability(self, features: Sequence[float]) -> float:
        """The probability (0-1) that the best section is the right one."""
        z = self.bias + sum(w * x for w, x in zip(self.weights, features, strict=True))
        return 1 / (1 + math.exp(-z)) if z > -700 else 0.0


@lru_cache(maxsize=2)
def shipped_calibration(hybrid: bool = False) -> Calibration:
    """The calibration shipped with the package (read once, on the first answer): the
    lexical one, or with ``hybrid`` the one for a sentence model's evidence too."""
    name = HYBRID_FILE if hybrid else CALIBRATION_FILE
    path = resources.files("bot.engine").joinpath(name)
    cal = Calibration.from_json(json.loads(path.read_text(encoding="utf-8")), name)
    if (cal.features == HYBRID_FEATURES) != hybrid:
        raise CalibrationError(f"{name}: made for features {cal.features}")
    return cal


def decide(probability: float, tied: bool, calibration: Calibration) -> str:
    """The reply a probability calls for: "answer", "hedged", "suggest" or "decline".

    A did-you-mean with buttons only is for a plausible best section ``tied`` with an
    unrelated one: the bot cannot tell which is meant, so it shows neither first.
    """
    if probability < calibration.hedge_at:
        return "decline"
    if tied:
        return "suggest"
    return "answer" if probability >= calibration.answer_at else "hedged"
