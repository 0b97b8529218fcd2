"""A recency prior: newer passages get a mild bonus, added to the fused score.

bonus = weight * 0.5 ** (age_days / half_life_days), age counted back from `as_of`; undated
passages and passages "from the future" of as_of (which the as_of filter has already removed)
get no bonus. Fused scores are sums of z-scored features (rag.scoring.fusion, about ±6 wide), so
a weight of 0.5 moves a passage of today by half a standard deviation of one feature: enough to
break near-ties in favour of the newer article, not to lift an off-topic one.

Which questions get it: those that ask about the present (`is_present_question`) get
`Settings.recency_weight_present`; all others `Settings.recency_weight` (0 by default until the
RealTimeQA eval shows a mild prior helps every news question).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from typing import TypeVar

from rag.text import TOKEN_PATTERN

T = TypeVar("T")

# Words and phrases that ask about the present state of things (lower-case, matched on words).
PRESENT_CUES = (
    "latest",
    "now",
    "currently",
    "current",
    "recently",
    "recent",
    "so far",
    "as of today",
    "this week",
    "today",
    "still",
    "newest",
    "most recent",
)


def is_present_question(question: str) -> bool:
    """Whether the question asks about the present ("latest", "currently", "so far", ...)."""
    words = " ".join(TOKEN_PATTERN.findall(question.lower()))
    padded = f" {words} "
    return any(f" {cue} " in padded for cue in PRESENT_CUES)


def recency_bonus(
    published: dt.date | None, as_of: dt.date, weight: float, half_life_days: float
) -> float:
    if not weight or published is None:
        return 0.0
    age = (as_of - published).days
    if age < 0:
        return 0.0
    return weight * math.pow(0.5, age / max(half_life_days, 1e-6))


def apply_recency(
    ranked: Sequence[tuple[T, float]],
    published_of: Callable[[T], dt.date | None],
    as_of: dt.date,
    weight: float,
    half_life_days: float,
) -> list[tuple[T, float]]:
    """`ranked` (item, fused score) with the bonus added, re-sorted best first (stable)."""
    if not weight:
        return list(ranked)
    scored = [
        (item, score + recency_bonus(published_of(item), as_of, weight, half_life_days))
        for item, score in ranked
    ]
    return sorted(scored, key=lambda t: -t[1])
