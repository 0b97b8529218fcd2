"""Answers as of a date (rag.temporal): windows read from the question, the recency prior and
the newest-evidence rule, unit by unit; the end-to-end behaviour with the real model is in
tests/test_as_of.py."""

from __future__ import annotations

import datetime as dt

import pytest

from rag.temporal import (
    apply_recency,
    is_present_question,
    newest_first,
    question_window,
    recency_bonus,
    resolve_as_of,
)

D = dt.date
AS_OF = D(2024, 3, 20)  # a Wednesday


@pytest.mark.parametrize(
    ("question", "as_of", "since", "until"),
    [
        ("Who won the vote this week?", AS_OF, D(2024, 3, 14), D(2024, 3, 20)),
        ("Who won the vote last week?", AS_OF, D(2024, 3, 11), D(2024, 3, 17)),
        ("What did the council decide last month?", AS_OF, D(2024, 2, 1), D(2024, 2, 29)),
        ("What happened yesterday in Paris?", AS_OF, D(2024, 3, 19), D(2024, 3, 19)),
        ("What is the news today?", AS_OF, D(2024, 3, 20), D(2024, 3, 20)),
        ("What happened in March?", AS_OF, D(2024, 3, 1), D(2024, 3, 20)),  # clipped at as_of
        ("What happened in March?", D(2024, 2, 10), D(2023, 3, 1), D(2023, 3, 31)),
        ("Who won the title last year?", AS_OF, D(2023, 1, 1), D(2023, 12, 31)),
        ("Which team won in 2023?", AS_OF, D(2023, 1, 1), D(2023, 12, 31)),
        ("What happened on 12 January 2024?", AS_OF, D(2024, 1, 12), D(2024, 1, 12)),
        # another as_of moves the same words: the windows are relative to it, not to today
        ("What did the council decide last month?", D(2023, 7, 4), D(2023, 6, 1), D(2023, 6, 30)),
    ],
)
def test_relative_time_becomes_a_window_relative_to_as_of(
    question: str, as_of: dt.date, since: dt.date, until: dt.date
) -> None:
    window = question_window(question, as_of)
    assert window is not None
    assert (window.since, window.until) == (since, until)


@pytest.mark.parametrize(
    "question",
    [
        "Who may win the election?",  # "may" is not May
        "What is happening now?",  # the present: a recency cue, not a window
        "How many people died in the 2 attacks?",
        "Who won the Super Bowl?",
    ],
)
def test_no_window_without_a_time_phrase(question: str) -> None:
    assert question_window(question, AS_OF) is None


def test_a_window_after_as_of_is_dropped() -> None:
    assert question_window("What happened in 2025?", AS_OF) is None


def test_as_of_parsing() -> None:
    assert resolve_as_of("2024-03-12") == D(2024, 3, 12)
    assert resolve_as_of(dt.datetime(2024, 3, 12, 18, 5)) == D(2024, 3, 12)
    assert resolve_as_of(None) == dt.date.today()
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        resolve_as_of("last tuesday")


@pytest.mark.parametrize(
    ("question", "present"),
    [
        ("What is the latest death toll?", True),
        ("Who is currently leading the race?", True),
        ("How many have died so far?", True),
        ("Which company announced layoffs this week?", True),
        ("Who won the chess final?", False),
        ("What did the nowcast predict?", False),  # words, not substrings
    ],
)
def test_present_tense_questions(question: str, present: bool) -> None:
    assert is_present_question(question) is present


def test_recency_prior_breaks_near_ties_towards_newer_but_not_more() -> None:
    ranked = [("old", 1.00), ("new", 0.90), ("undated", 0.95), ("far-better-old", 5.0)]
    dates = {"old": D(2024, 1, 1), "new": D(2024, 3, 19), "far-better-old": D(2023, 1, 1)}
    out = apply_recency(ranked, dates.get, AS_OF, weight=0.5, half_life_days=14)
    assert [item for item, _ in out] == ["far-better-old", "new", "old", "undated"]
    assert apply_recency(ranked, dates.get, AS_OF, weight=0.0, half_life_days=14) == ranked
    assert recency_bonus(D(2024, 3, 6), AS_OF, 1.0, 14) == pytest.approx(0.5)
    assert recency_bonus(D(2024, 3, 21), AS_OF, 1.0, 14) == 0.0  # after as_of: none
    assert recency_bonus(None, AS_OF, 1.0, 14) == 0.0


SENTENCES = {
    (0, 0): ("The flood death toll rose to 12 on Monday, officials said.", "feb", D(2024, 2, 5)),
    (1, 0): ("The flood death toll has risen to 31, officials said.", "mar", D(2024, 3, 10)),
    (1, 1): ("Rescue teams are still searching the valley.", "mar", D(2024, 3, 10)),
    (2, 0): ("A flood death toll of 12 was reported by police.", "undated", None),
}


def _newest(picks, question="What is the flood death toll?", limit=2):  # noqa: ANN001, ANN202
    return newest_first(
        picks,
        text_of=lambda p: SENTENCES[(p[0], p[1])][0],
        date_of=lambda p: SENTENCES[(p[0], p[1])][2],
        doc_of=lambda p: SENTENCES[(p[0], p[1])][1],
        question=question,
        limit=limit,
    )


def test_newest_dated_evidence_wins_a_conflict() -> None:
    found = _newest([(0, 0, 1.20), (1, 0, 1.10), (1, 1, 0.5)])
    assert found is not None
    picks, date = found
    assert date == D(2024, 3, 10)
    assert picks[0][:2] == (1, 0)
    assert (0, 0) not in [p[:2] for p in picks]  # the stale count is dropped


def test_no_conflict_no_change() -> None:
    assert _newest([(0, 0, 1.2), (1, 1, 0.4)]) is None  # the newer one does not answer it
    assert _newest([(0, 0, 1.2), (2, 0, 1.15)]) is None  # undated: no "newer"
    assert _newest([(1, 0, 1.2), (1, 1, 1.15)]) is None  # one article
