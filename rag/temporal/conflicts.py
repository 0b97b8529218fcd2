"""When the top passages disagree over time, the newest dated evidence wins.

News updates itself: a death toll rises, a race gets a new leader. When two dated articles
both answer a question (their best sentences score within `CONFLICT_MARGIN` of the best
answer sentence) but state different facts (different numbers or names, beyond the words of
the question), the answer quotes the newest article first, drops the older conflicting
sentences and says "As of <date>: ". Undated passages never win or lose a conflict: without a
date there is no "newer".

Kept apart from rag/extractive.py so the extractive answerer only calls `newest_first`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence

# An answer sentence "answers it" too when its score is this close to the best one's
# (selection scores are cosine + 0.8 lexical evidence, about 0.3-1.5).
CONFLICT_MARGIN = 0.15

_FACT = re.compile(r"\d+(?:[.,]\d+)*|\b[A-Z][a-zA-Z'’-]+")

Pick = tuple[int, int, float]  # (passage index, sentence index, score)


def facts(sentence: str, question: str) -> frozenset[str]:
    """Numbers and capitalized words of a sentence that the question does not mention."""
    asked = {w.lower() for w in re.findall(r"\w+", question)}
    found = {m.group(0).replace(",", "") for m in _FACT.finditer(sentence)}
    return frozenset(f for f in found if f.lower() not in asked)


def format_date(day: dt.date) -> str:
    return f"{day.day} {day.strftime('%B')} {day.year}"


def newest_first(
    picks: Sequence[Pick],
    text_of: Callable[[Pick], str],
    date_of: Callable[[Pick], dt.date | None],
    doc_of: Callable[[Pick], str],
    question: str,
    limit: int,
    margin: float = CONFLICT_MARGIN,
) -> tuple[list[Pick], dt.date] | None:
    """The answer's picks, newest conflicting evidence first, and its date; None when the
    answering sentences do not disagree over time (then the usual order stands)."""
    if not picks:
        return None
    ordered = sorted(picks, key=lambda p: -p[2])
    best = ordered[0][2]
    answering = [p for p in ordered if p[2] >= best - margin and date_of(p)]
    if len({date_of(p) for p in answering}) < 2:
        return None
    dated = [(p, d) for p in answering if (d := date_of(p)) is not None]
    winner, win_date = max(dated, key=lambda pd: (pd[1], pd[0][2]))
    win_facts = facts(text_of(winner), question)
    older = [
        p
        for p in answering
        if doc_of(p) != doc_of(winner)
        and (date_of(p) or win_date) < win_date
        and facts(text_of(p), question) != win_facts
    ]
    if not older:
        return None
    dropped = {(p[0], p[1]) for p in older}
    out = [winner]
    seen = {" ".join(text_of(winner).split())}
    for p in ordered:
        if len(out) == limit:
            break
        key = " ".join(text_of(p).split())
        if (p[0], p[1]) in dropped or key in seen:
            continue
        d = date_of(p)
        if d is not None and d < win_date and doc_of(p) != doc_of(winner):
            continue  # older evidence from another article may be stale too
        seen.add(key)
        out.append(p)
    return out, win_date
