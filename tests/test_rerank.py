"""The optional cross-encoder second stage: it sets the order, keeps the fused score apart,
and a bad path is a clear error."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from rag.pipeline import Pipeline
from rag.rerank import CrossEncoderReranker, RerankError, load_reranker, rerank_order
from rag.settings import Settings


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real CrossEncoder directory: the bundled MiniLM with a fresh, seeded one-logit head.
    No trained cross-encoder ships in any wheel we can install, so its scores mean nothing,
    but loading, predicting and re-ordering go through exactly the code a user's model would."""
    import torch
    from sentence_transformers import CrossEncoder

    from rag.embedding import bundled_model_path

    torch.manual_seed(0)
    model = CrossEncoder(
        str(bundled_model_path()), num_labels=1, device="cpu", local_files_only=True
    )
    target = tmp_path_factory.mktemp("ce") / "tiny-cross-encoder"
    model.save(str(target))
    return target


class KeywordReranker:
    """Scores 1.0 for passages holding `word`, else 0.0."""

    def __init__(self, word: str) -> None:
        self.word = word
        self.calls: list[int] = []

    def scores(self, question: str, passages: Sequence[str]) -> np.ndarray:
        self.calls.append(len(passages))
        return np.array([float(self.word in p) for p in passages])


class TestRerankOrder:
    def test_stable_descending(self) -> None:
        assert rerank_order(np.array([0.1, 0.9, 0.1, 0.5])) == [1, 3, 0, 2]


@pytest.mark.slow
class TestRetrievalWithReranker:
    def test_reranker_decides_the_order_and_fused_scores_are_kept(
        self, news_settings: Settings
    ) -> None:
        plain = Pipeline(news_settings).retrieve("What will the new crossing cost?", top_k=8)
        assert plain.passages[0].hit.doc_id == "harbour-bridge.md"
        reranker = KeywordReranker("sorghum")
        pipe = Pipeline(news_settings, reranker=reranker)
        got = pipe.retrieve("What will the new crossing cost?", top_k=8)
        assert "sorghum" in got.passages[0].hit.text
        assert [p.rerank_score for p in got.passages[:1]] == [1.0]
        assert "rerank_ms" in got.timings
        fused = {p.hit.chunk_id: p.score for p in plain.passages}
        for p in got.passages:
            if p.hit.chunk_id in fused:
                assert p.score == pytest.approx(fused[p.hit.chunk_id])
        assert max(reranker.calls) <= news_settings.rerank_depth

    def test_real_cross_encoder_orders_by_its_own_scores(
        self, news_settings: Settings, cross_encoder_dir: Path
    ) -> None:
        settings = news_settings.model_copy(update={"cross_encoder_path": str(cross_encoder_dir)})
        pipe = Pipeline(settings)
        question = "Which grain did farmers plant instead because it uses less water?"
        got = pipe.retrieve(question, top_k=6)
        scores = [p.rerank_score for p in got.passages]
        assert all(s is not None for s in scores)
        assert scores == sorted(scores, reverse=True)
        # the same model, asked directly, gives the same scores for the same pairs
        direct = CrossEncoderReranker(cross_encoder_dir).scores(
            question, [f"{p.hit.metadata['title']}\n{p.hit.text}" for p in got.passages]
        )
        assert np.allclose(direct, scores, atol=1e-5)
        answer = pipe.answer(question)
        assert all(c.quote in c.passage for c in answer.citations)

    def test_missing_directory_is_a_clear_error(self, news_settings: Settings) -> None:
        with pytest.raises(RerankError, match="/no/such/cross-encoder"):
            load_reranker("/no/such/cross-encoder")
        env = {
            **os.environ,
            "NEWSRAG_STORE_DIR": str(news_settings.store_dir),
            "NEWSRAG_COLLECTION": news_settings.collection,
            "NEWSRAG_CROSS_ENCODER_PATH": "/no/such/cross-encoder",
        }
        out = subprocess.run(
            [sys.executable, "-m", "ui.cli", "ask", "What will the bridge cost?"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 2
        assert "/no/such/cross-encoder" in out.stderr and "no such directory" in out.stderr
        assert "Traceback" not in out.stderr
