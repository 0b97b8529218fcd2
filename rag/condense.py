"""Turn a follow-up question into a standalone retrieval query, without an LLM.

"What did he say next?" retrieves nothing useful on its own. When a question looks like a
follow-up (a pronoun or demonstrative standing for something earlier, a leading "and"/"what
about", or very few content words), the key terms of the previous turn are carried over: only
the last one, since a follow-up points at what was just said, and words of older turns pull the
search towards topics the user has left ("Where did Peter learn" must not bring back the chess
final two questions ago).
"""

from __future__ import annotations

import re

FOLLOW_UP_START = re.compile(
    r"^\s*(and|but|also|so|what about|how about|and what|why|then|what else|anything else)\b",
    re.IGNORECASE,
)
ANAPHORA = re.compile(
    r"\b(he|she|it|they|them|him|his|her|hers|its|their|theirs|this|that|these|those|there|"
    r"the same|the former|the latter|such)\b",
    re.IGNORECASE,
)
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’\-]*")
STOP = frozenset(
    """a an the and or but if of to in on at by for with from as is are was were be been being
    do does did done have has had what which who whom whose when where why how that this these
    those it its he she they them his her their there here i you we me my your our us about
    into over under again further then once more most other some such no nor not only own same
    so than too very can will just should now also say said tell told next else anything
    something please would could may might much many any all each""".split()
)
MAX_CARRIED = 8


def content_words(text: str) -> list[str]:
    return [w for w in WORD.findall(text) if w.lower() not in STOP and len(w) > 1]


def is_follow_up(question: str) -> bool:
    return bool(
        FOLLOW_UP_START.search(question)
        or ANAPHORA.search(question)
        or len(content_words(question)) <= 2
    )


def condense(question: str, history: list[tuple[str, str]] | None) -> str:
    """The query to search for: the question itself, or it plus the last turn's key terms.

    Terms come from the previous question first (what the user was asking about), then from
    the previous answer (names it introduced, which a pronoun likely points at). Turns before
    the last are not read.
    """
    if not history or not is_follow_up(question):
        return question
    have = {w.lower() for w in content_words(question)}
    carried: list[str] = []
    last_q, last_a = history[-1]
    answer_names = [w for w in content_words(re.sub(r"\[\d+\]", " ", last_a)) if w[0].isupper()]
    for w in [*content_words(last_q), *answer_names[:4]]:
        if w.lower() not in have:
            have.add(w.lower())
            carried.append(w)
        if len(carried) >= MAX_CARRIED:
            break
    return f"{question} {' '.join(carried)}".strip() if carried else question
