"""Optional second stage: a local cross-encoder re-orders the top fused passages.

No cross-encoder ships in any wheel we can install, so this is off by default and only a path
on disk turns it on (`NEWSRAG_CROSS_ENCODER_PATH`, a sentence-transformers CrossEncoder
directory such as a saved ms-marco-MiniLM-L-6-v2); nothing is ever fetched from a hub. It reads
each (question, passage) pair together, which bi-encoder cosines and BM25 cannot, so users who
have one get better ordering for the price of one forward pass per reranked passage.

Only the order changes: each passage keeps its fused score; the cross-encoder's score is kept
beside it as `rerank_score`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)


class RerankError(ValueError):
    """The configured cross-encoder cannot be loaded (message names the path and the cause)."""


class Reranker(Protocol):
    def scores(self, question: str, passages: Sequence[str]) -> np.ndarray:
        """One relevance score per passage, higher is better."""
        ...


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder loaded from a local directory, with a lock
    around predict (as for the embedder: torch already uses both cores per call)."""

    def __init__(self, path: str | Path, *, batch_size: int = 32) -> None:
        target = Path(path).expanduser()
        if not target.is_dir():
            raise RerankError(
                f"cross-encoder {str(path)!r}: no such directory (NEWSRAG_CROSS_ENCODER_PATH must "
                "name a local sentence-transformers CrossEncoder directory)"
            )
        from sentence_transformers import CrossEncoder

        try:
            self._model = CrossEncoder(str(target), device="cpu", local_files_only=True)
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise RerankError(
                f"cross-encoder {str(path)!r}: cannot load it: {type(exc).__name__}: {first}"
            ) from None
        self.name = target.name
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def scores(self, question: str, passages: Sequence[str]) -> np.ndarray:
        if not passages:
            return np.zeros(0, dtype=np.float32)
        pairs = [(question, p) for p in passages]
        with self._lock:
            out = self._model.predict(
                pairs, batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True
            )
        out = np.asarray(out, dtype=np.float32)
        return out[:, -1] if out.ndim == 2 else out  # two-label models: the "relevant" column


def rerank_order(scores: np.ndarray) -> list[int]:
    """Indices by descending score; ties keep the fused order (a stable sort)."""
    return [int(i) for i in np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")]


def load_reranker(path: str | None) -> Reranker | None:
    """The cross-encoder at `path` (a new instance), or None when none is configured;
    `rag.pipeline.shared_reranker` keeps the one of the process."""
    if not path:
        return None
    log.info("loading cross-encoder %s", path)
    return CrossEncoderReranker(path)
