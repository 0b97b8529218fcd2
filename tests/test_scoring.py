"""Unit tests of rag.scoring on synthetic candidates (no model, no store)."""

from __future__ import annotations

import numpy as np
import pytest

from rag import scoring
from rag.scoring import Candidate, FusionWeights
from rag.text import bm25_tokenize


def cand(
    cid: str,
    bm25: float,
    dense: float,
    cos: list[float],
    texts: list[str] | None = None,
    title: str = "",
) -> Candidate:
    texts = texts or [f"sentence {i} of {cid}." for i in range(len(cos))]
    return Candidate(
        chunk_id=cid,
        bm25=bm25,
        dense=dense,
        sentence_cos=np.array(cos),
        sentence_texts=texts,
        title=title,
    )


def pool() -> list[Candidate]:
    return [
        cand("bm25-only", 12.0, 0.20, [0.15, 0.20]),
        cand("dense-only", 1.0, 0.80, [0.70, 0.60]),
        cand("both", 10.0, 0.75, [0.72, 0.40, 0.30]),
        cand("neither", 2.0, 0.25, [0.10]),
        cand("filler-1", 3.0, 0.30, [0.20, 0.25]),
        cand("filler-2", 2.5, 0.35, [0.30]),
    ]


def test_tokenize_stems_and_drops_stopwords() -> None:
    assert scoring.tokenize("The cats were running in the parks") == ["cat", "were", "run", "park"]
    assert scoring.question_terms("When were the cats running?") == ["cat", "run"]


def test_zscore_fusion_prefers_candidate_strong_on_both_signals() -> None:
    ranked = scoring.fuse(pool())
    assert ranked[0][0].chunk_id == "both"
    scores = [s for _, s in ranked]
    assert scores == sorted(scores, reverse=True)
    assert {c.chunk_id for c, _ in ranked} == {c.chunk_id for c in pool()}


def test_minmax_fusion_also_prefers_both() -> None:
    assert scoring.fuse(pool(), method="minmax")[0][0].chunk_id == "both"


def test_rrf_baseline_uses_ranks_of_bm25_and_dense() -> None:
    ranked = scoring.fuse(pool(), method="rrf")
    assert ranked[0][0].chunk_id == "both"  # rank 2 on both lists beats rank 1 on one
    top_score = ranked[0][1]
    assert top_score == pytest.approx(2 / (scoring.RRF_K + 2))


def test_weights_can_switch_a_signal_off() -> None:
    only_bm25 = FusionWeights(bm25=1, dense=0, sent1=0, sent2=0, lex=0)
    assert scoring.fuse(pool(), weights=only_bm25)[0][0].chunk_id == "bm25-only"
    only_dense = FusionWeights(bm25=0, dense=1, sent1=0, sent2=0, lex=0)
    assert scoring.fuse(pool(), weights=only_dense)[0][0].chunk_id == "dense-only"


def test_lexical_overlap_feature_uses_question_terms_not_in_title() -> None:
    a = cand(
        "a",
        5.0,
        0.5,
        [0.5, 0.5],
        ["Tesla was born in Smiljan.", "He moved away."],
        title="Nikola Tesla",
    )
    b = cand(
        "b", 5.0, 0.5, [0.5, 0.5], ["Tesla liked pigeons.", "He fed them."], title="Nikola Tesla"
    )
    terms = scoring.question_terms("Where was Tesla born?")
    feats = scoring.candidate_features([a, b], terms)
    lex = feats[:, scoring.FEATURES.index("lex")]
    # "born" (the only non-title term) + the bigram (tesla, born); "tesla" alone earns nothing
    assert lex[0] == pytest.approx(1.0 + scoring.BIGRAM_WEIGHT) and lex[1] == 0.0
    assert scoring.fuse([b, a], terms)[0][0].chunk_id == "a"


def test_empty_and_single_candidate() -> None:
    assert scoring.fuse([]) == []
    one = scoring.fuse([cand("x", 1.0, 0.5, [0.4])])
    assert len(one) == 1 and np.isfinite(one[0][1])
    no_sentences = cand("y", 1.0, 0.5, [])
    assert scoring.fuse([no_sentences, cand("z", 0.5, 0.2, [0.1])])[0][0].chunk_id == "y"


def test_select_sentences_bounded_ordered_and_existing() -> None:
    ranked = scoring.fuse(pool())
    for k in (1, 2, 3):
        picked = scoring.select_sentences(ranked, max_sentences=k)
        assert 1 <= len(picked) <= k
        assert [(c, s) for c, s, _ in picked] == sorted((c, s) for c, s, _ in picked)
        for ci, si, _ in picked:
            assert ci < scoring.ANSWER_PASSAGES
            assert 0 <= si < len(ranked[ci][0].sentence_texts)
    best = scoring.select_sentences(ranked, max_sentences=1)[0]
    assert ranked[best[0]][0].chunk_id == "both" and best[1] == 0  # cosine 0.72, top passage
    assert scoring.select_sentences([], max_sentences=2) == []


def test_select_sentences_prefers_sentence_with_question_terms() -> None:
    c = cand("c", 5.0, 0.5, [0.50, 0.52], ["The dam was finished in 1936.", "It is large."])
    terms = scoring.question_terms("When was the dam finished?")
    ranked = scoring.fuse([c, cand("d", 1.0, 0.1, [0.1])], terms)
    assert scoring.select_sentences(ranked, max_sentences=1)[0][:2] == (0, 0)


def test_abstention_on_low_scores_and_not_on_high() -> None:
    idf = {"dam": 5.0, "finish": 3.0, "1936": 6.0}
    terms = scoring.question_terms("When was the dam finished?")
    good = cand("good", 9.0, 0.7, [0.75, 0.3], ["The dam was finished in 1936.", "Big."])
    bad = cand("bad", 0.5, 0.1, [0.12, 0.08], ["Cats sleep a lot.", "They purr."])
    assert not scoring.should_abstain(scoring.fuse([good, bad], terms), terms, idf=idf)
    assert scoring.should_abstain(scoring.fuse([bad], terms), terms, idf=idf)
    assert scoring.should_abstain([], terms, idf=idf)
    hi = scoring.confidence(scoring.fuse([good], terms), terms, idf=idf)
    lo = scoring.confidence(scoring.fuse([bad], terms), terms, idf=idf)
    assert hi > scoring.DEFAULT_ABSTAIN.threshold > lo


def test_abstain_features() -> None:
    idf = {"dam": 5.0, "finish": 3.0, "hoover": 6.0, "1936": 7.0}
    c = cand("c", 1.0, 0.5, [0.4, 0.6], ["The dam is here.", "Water."])
    other = cand("o", 1.0, 0.5, [0.2], ["Hoover finished it."])
    f = scoring.abstain_features([(c, 2.5), (other, 1.0)], ["dam", "finish"], idf=idf)
    sent1, coverage, number_missing, name_missing, margin, missing3, typed = f
    assert sent1 == pytest.approx(0.6)
    assert coverage == pytest.approx(5.0 / 8.0)
    assert number_missing == 0.0 and name_missing == 0.0
    assert margin == pytest.approx(1.5)
    assert missing3 == 0.0  # "finish" is in the second passage
    assert typed == pytest.approx(5.0 / 8.0)  # one sentence holds "dam" (untyped: any counts)
    question = "When did Hoover finish the dam in 1936?"
    terms = scoring.question_terms(question)
    f = scoring.abstain_features([(c, 1.0)], terms, idf=idf, question=question)
    assert f[2] == 1.0  # the year is absent
    assert f[3] == pytest.approx(7.0)  # the rarest absent name or number: 1936
    assert f[5] == pytest.approx(7.0)
    unknown = scoring.abstain_features([(c, 0.0)], ["zzz"], idf=idf)
    assert unknown[5] == scoring.MISSING_CAP


def test_name_terms_are_capitalized_words_past_the_first_and_numbers() -> None:
    names = scoring.name_terms("Who was named MVP of Super Bowl 51 in Santa Clara?")
    assert {"mvp", "super", "bowl", "51", "santa", "clara"} <= names
    assert "who" not in names and "name" not in names


def test_a_missing_year_lowers_confidence() -> None:
    idf = {"super": 4.0, "bowl": 4.0, "mvp": 5.0, "51": 6.0, "50": 6.0, "name": 2.0}
    c = cand("c", 5.0, 0.6, [0.7], ["Von Miller was named the MVP of Super Bowl 50."])
    about = scoring.confidence(
        [(c, 3.0)],
        scoring.question_terms("Who was named MVP of Super Bowl 50?"),
        idf=idf,
        question="Who was named MVP of Super Bowl 50?",
    )
    other = scoring.confidence(
        [(c, 3.0)],
        scoring.question_terms("Who was named MVP of Super Bowl 51?"),
        idf=idf,
        question="Who was named MVP of Super Bowl 51?",
    )
    assert about > other


def test_idf_from_bm25s_matches_doc_frequencies() -> None:
    bm25s = pytest.importorskip("bm25s")
    docs = ["the cat sat", "cats and dogs", "a bird"]
    retr = bm25s.BM25()
    retr.index(bm25_tokenize(docs), show_progress=False)
    idf = scoring.idf_from_bm25s(retr.vocab_dict, retr.scores["indptr"], retr.scores["num_docs"])
    expect = scoring.bm25_idf(scoring.doc_frequencies(scoring.tokenize(d) for d in docs), 3)
    assert idf == pytest.approx(expect)


def test_typed_evidence_wants_the_specifics_and_the_kind_of_answer_in_one_sentence() -> None:
    question = "How many patents did Tesla file in Japan?"
    terms = scoring.question_terms(question)
    idf = {t: 5.0 for t in terms}
    w = scoring.term_weights(terms, idf)

    def evidence(*sentences: str) -> float:
        c = cand("c", 1.0, 0.5, [0.5] * len(sentences), list(sentences), title="Nikola Tesla")
        return scoring.typed_evidence(c, terms, w, question)

    full = evidence("He filed 12 patents in Japan.")
    assert full == pytest.approx(1.0)
    assert evidence("He filed patents in Japan.") == 0.0  # no number anywhere
    assert evidence("He filed patents in Japan.", "He was born in 1856.") == pytest.approx(0.0)
    assert 0.0 < evidence("He filed 300 patents worldwide.") < full


def test_the_lede_wins_a_tie_and_only_a_tie_or_near_tie() -> None:
    """Inverted pyramid: of two equally matching passages of news, the earlier one ranks first;
    a clearly better passage deep in an article still wins."""

    def at(cid: str, ordinal: int, bm25: float, cos: float) -> Candidate:
        c = cand(cid, bm25, cos, [cos])
        c.ordinal = ordinal
        return c

    tie = [at("deep", 6, 8.0, 0.6), at("lede", 0, 8.0, 0.6), at("other", 0, 2.0, 0.2)]
    assert scoring.fuse(tie)[0][0].chunk_id == "lede"
    assert scoring.fuse(tie, weights=FusionWeights(lede=0.0))[0][0].chunk_id == "deep"
    clear = [at("deep", 6, 14.0, 0.8), at("lede", 0, 8.0, 0.5), at("other", 0, 2.0, 0.2)]
    assert scoring.fuse(clear)[0][0].chunk_id == "deep"
