"""The yardstick a news retriever must beat: plain BM25 over fixed windows of the articles,
under the same "as of the question date" rule (used by `newsrag eval realtimeqa`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Protocol

import numpy as np

from rag.text import bm25_tokenize

WINDOW_WORDS = 150
WINDOW_STEP = 120


class Dated(Protocol):
    title: str
    text: str
    published: dt.date | None


class WindowBaseline:
    """Plain BM25 (bm25s, English stop words, snowball stemmer) over 150-word windows, step
    120, of title + text: the yardstick a news retriever must beat."""

    def __init__(self, articles: Iterable[Dated]) -> None:
        import bm25s

        self.texts: list[str] = []
        self.published: list[int] = []
        for a in articles:
            words = f"{a.title}\n{a.text}".split()
            num = int(a.published.strftime("%Y%m%d")) if a.published else -1
            for start in range(0, max(len(words) - WINDOW_WORDS, 0) + WINDOW_STEP, WINDOW_STEP):
                piece = words[start : start + WINDOW_WORDS]
                if piece:
                    self.texts.append(" ".join(piece))
                    self.published.append(num)
                if start + WINDOW_WORDS >= len(words):
                    break
        self._published = np.asarray(self.published, dtype=np.int64)
        self.retriever = bm25s.BM25()
        self.retriever.index(bm25_tokenize(self.texts), show_progress=False)
        self._vocab = getattr(self.retriever, "vocab_dict", {}) or {}

    def search(self, question: str, as_of: dt.date, k: int = 10) -> list[str]:
        terms = [t for t in bm25_tokenize([question])[0] if t in self._vocab]
        if not terms or not self.texts:
            return []
        scores = np.asarray(self.retriever.get_scores(terms), dtype=np.float64)
        ok = (self._published >= 0) & (self._published <= int(as_of.strftime("%Y%m%d")))
        scores = np.where(ok, scores, -1.0)
        order = np.argsort(-scores, kind="stable")[:k]
        return [self.texts[i] for i in order if scores[i] > 0]
