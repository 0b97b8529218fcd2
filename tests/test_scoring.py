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


def test_idf_from_bm25s_matches_doc_frequencies() -> None:
    bm25s = pytest.importorskip("bm25s")
    docs = ["the cat sat", "cats and dogs", "a bird"]
    retr = bm25s.BM25()
    retr.index(bm25_tokenize(docs), show_progress=False)
    idf = scoring.idf_from_bm25s(retr.vocab_dict, retr.scores["indptr"], retr.scores["num_docs"])
    expect = scoring.bm25_idf(scoring.doc_frequencies(scoring.tokenize(d) for d in docs), 3)
    assert idf == pytest.approx(expect)


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
