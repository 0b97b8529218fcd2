"""The citation checker for generated answers: pure functions, no model."""

from __future__ import annotations

import numpy as np
import pytest

from rag import citecheck
from rag.citecheck import Evidence, check_answer, split_draft, strip_markers

BRIDGE = Evidence(
    "Council approves new harbour bridge for Port Ellery",
    [
        "The Port Ellery town council voted 7 to 2 on Tuesday to approve a new cable-stayed "
        "bridge across the harbour.",
        "The bridge will cost an estimated 84 million pounds and is expected to open in 2027.",
        "Construction will be led by the engineering firm Halden & Sons.",
    ],
)
WHEAT = Evidence(
    "Drought cuts wheat harvest in the Vell valley",
    [
        "Farmers in the Vell valley harvested 30 percent less wheat this summer after the "
        "driest spring in sixty years.",
        "Several farms switched to sorghum, a grain that needs far less water.",
    ],
)
CHESS = Evidence(
    "Teenager wins national chess championship",
    [
        "Sixteen-year-old Lena Varga won the national chess championship on Sunday.",
        "She defeated the defending champion, grandmaster Piotr Adamek.",
    ],
)
EVIDENCE = [BRIDGE, WHEAT, CHESS]


def quote(ev: list[Evidence], citation: tuple[int, int, float]) -> str:
    return ev[citation[0]].sentences[citation[1]]


def test_markers_are_parsed_in_their_usual_spellings() -> None:
    assert strip_markers("It opens in 2027 [2].") == ("It opens in 2027.", [2])
    assert strip_markers("Costs rose [1, 3][2] sharply.")[1] == [1, 3, 2]
    assert strip_markers("Costs rose [Passage 2].")[1] == [2]
    assert strip_markers("Costs rose [^4].")[1] == [4]
    assert strip_markers("No markers here.") == ("No markers here.", [])


def test_a_marker_after_the_full_stop_stays_with_its_sentence() -> None:
    draft = split_draft("The bridge costs 84 million pounds. [1] Farmers harvested less. [2]")
    assert [(d.text, d.cited) for d in draft] == [
        ("The bridge costs 84 million pounds.", [1]),
        ("Farmers harvested less.", [2]),
    ]


def test_a_correct_marker_is_kept() -> None:
    r = check_answer("The bridge will cost 84 million pounds [1].", EVIDENCE)
    assert r.text == "The bridge will cost 84 million pounds. [1]"
    assert r.sentences[0].status == "kept"
    assert r.citations[0][:2] == (0, 1)  # passage 1, its sentence about the cost


def test_a_wrong_marker_is_fixed() -> None:
    r = check_answer("Farmers in the Vell valley harvested 30 percent less wheat [3].", EVIDENCE)
    assert r.sentences[0].status == "fixed"
    assert r.citations[0][0] == 1  # the wheat passage, not the chess one
    assert r.text.endswith("[1]")  # renumbered: the first (and only) citation


def test_a_missing_marker_is_added() -> None:
    r = check_answer("Lena Varga won the national chess championship.", EVIDENCE)
    assert r.sentences[0].status == "added"
    assert r.citations[0][0] == 2
    assert r.text == "Lena Varga won the national chess championship. [1]"


def test_numbers_that_match_no_passage_are_removed() -> None:
    r = check_answer("Several farms switched to sorghum [7][2].", EVIDENCE)
    assert r.removed_numbers == 1
    assert "[7]" not in r.text
    assert r.citations[0][0] == 1
    assert citecheck.answer_marker_numbers(r.text) == [1]


def test_an_unsupported_sentence_is_dropped_by_default() -> None:
    draft = "The bridge will open in 2027 [1]. The moon is made of green cheese [1]."
    r = check_answer(draft, EVIDENCE)
    assert "cheese" not in r.text
    assert len(r.unsupported) == 1 and r.unsupported[0].passage is None
    assert r.text == "The bridge will open in 2027. [1]"


def test_an_unsupported_sentence_can_be_marked_instead() -> None:
    draft = "The bridge will open in 2027 [1]. The moon is made of green cheese [1]."
    r = check_answer(draft, EVIDENCE, unsupported="mark")
    assert r.text == (
        "The bridge will open in 2027. [1] The moon is made of green cheese. [unsupported]"
    )
    assert len(r.citations) == 1  # the marked sentence cites nothing


def test_citations_are_renumbered_in_order_of_first_use() -> None:
    draft = (
        "Lena Varga won the national chess championship [3]. "
        "Farmers harvested 30 percent less wheat [2]. "
        "Varga defeated grandmaster Piotr Adamek [3]."
    )
    r = check_answer(draft, EVIDENCE)
    assert citecheck.answer_marker_numbers(r.text) == [1, 2, 3]
    assert [c[0] for c in r.citations] == [2, 1, 2]  # chess, wheat, chess (another sentence)
    assert [c[1] for c in r.citations] == [0, 0, 1]


def test_the_same_quote_is_cited_once() -> None:
    draft = "The bridge will cost 84 million pounds [1]. It is expected to open in 2027 [1]."
    r = check_answer(draft, EVIDENCE)
    assert len(r.citations) == 1
    assert citecheck.answer_marker_numbers(r.text) == [1, 1]


def test_quotes_are_verbatim_sentences_of_their_passage() -> None:
    draft = (
        "The council voted 7 to 2 to approve a bridge across the harbour [2]. "
        "Halden & Sons will lead construction. Farms switched to sorghum [9]."
    )
    r = check_answer(draft, EVIDENCE)
    assert len(r.citations) == 3
    for c in r.citations:
        q = quote(EVIDENCE, c)
        assert q in EVIDENCE[c[0]].sentences
        assert 0.0 <= c[2] <= 1.0


def test_support_uses_vectors_when_given() -> None:
    # A paraphrase with almost no shared words is supported through its vector only.
    ev = [
        Evidence(
            "t",
            ["Alpha beta gamma.", "Delta epsilon zeta."],
            vectors=np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32),
        )
    ]
    draft = "Something else entirely [1]."
    without = check_answer(draft, ev)
    assert without.text == ""
    with_vec = check_answer(
        draft, ev, vectors=np.array([[0.0, 1.0]], dtype=np.float32), threshold=0.4
    )
    assert with_vec.citations and with_vec.citations[0][1] == 1


def test_noise_and_repeats_are_not_sentences() -> None:
    draft = "Answer: [1]\nThe bridge will open in 2027 [1]. The bridge will open in 2027 [1]."
    r = check_answer(draft, EVIDENCE)
    assert r.text == "The bridge will open in 2027. [1]"


def test_max_sentences_caps_the_answer() -> None:
    draft = (
        "Lena Varga won the national chess championship [3]. "
        "Farmers harvested 30 percent less wheat [2]. "
        "The bridge will open in 2027 [1]."
    )
    r = check_answer(draft, EVIDENCE, max_sentences=2)
    assert len(citecheck.answer_marker_numbers(r.text)) == 2


def test_checking_is_idempotent() -> None:
    draft = "Costs: 84 million pounds [1]. Farmers harvested less wheat. [3] Cheese [4]."
    once = check_answer(draft, EVIDENCE, unsupported="mark")
    twice = check_answer(once.text, EVIDENCE, unsupported="mark")
    assert twice.text == once.text


def test_vectors_must_match_the_sentences() -> None:
    with pytest.raises(ValueError):
        check_answer("One sentence [1].", EVIDENCE, vectors=np.zeros((2, 4), np.float32))


def test_a_sentence_with_numbers_its_passage_lacks_is_unsupported() -> None:
    # "14-year-old" where the passage says "Sixteen-year-old": the number decides.
    r = check_answer(
        "Lena Varga, a 14-year-old, won the national chess championship [3].", EVIDENCE
    )
    assert r.text == ""
    ok = check_answer(
        "Sixteen-year-old Lena Varga won the national chess championship [3].", EVIDENCE
    )
    assert ok.citations
    assert citecheck.numbers_in("1,800 jobs, forty minutes, 84.5 million") == {"1800", "40", "84.5"}


def test_an_echoed_passage_heading_is_removed() -> None:
    draft = (
        "[1] Council approves new harbour bridge for Port Ellery — The bridge will cost an "
        "estimated 84 million pounds."
    )
    r = check_answer(draft, EVIDENCE)
    assert r.text == "The bridge will cost an estimated 84 million pounds. [1]"
    # A dash inside an ordinary sentence is left alone.
    r = check_answer("Farmers — hit by drought — harvested 30 percent less wheat [2].", EVIDENCE)
    assert r.text.startswith("Farmers — hit by drought")
    assert check_answer(
        "Passage 2: Farmers harvested 30 percent less wheat.", EVIDENCE
    ).text.startswith("Farmers")


def test_a_sentence_that_only_restates_the_question_is_left_out() -> None:
    question = "How much will the bridge in Port Ellery cost?"
    draft = (
        "The answer to the question is: the bridge in Port Ellery will cost [1]. "
        "The bridge will cost 84 million pounds [1]."
    )
    r = check_answer(draft, EVIDENCE, question=question)
    assert r.text == "The bridge will cost 84 million pounds. [1]"
    assert not r.unsupported
