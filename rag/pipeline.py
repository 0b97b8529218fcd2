"""The question-answering pipeline: condense → retrieve → answer, with timings."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Protocol

from rag.answer import ExtractiveAnswerer
from rag.bm25 import Bm25Manager, bm25_for
from rag.condense import condense
from rag.embedding import Embedder, get_embedder
from rag.models import Answer, Filters
from rag.rerank import Reranker, get_reranker
from rag.retrieval import HybridRetriever, Retrieval
from rag.settings import Settings
from rag.store import Store, open_store

log = logging.getLogger(__name__)

History = list[tuple[str, str]]


class Answerer(Protocol):
    def answer(self, question: str, retrieval: Retrieval) -> Answer: ...


class Pipeline:
    """Everything needed to answer questions over one store. Safe to share between threads."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        embedder: Embedder | None = None,
        bm25: Bm25Manager | None = None,
        answerer: Answerer | None = None,
        reranker: Reranker | None = None,
    ) -> None:
        self.settings = settings
        self.store = store or open_store(settings)
        self.embedder = embedder or get_embedder(settings)
        self.store.check_readable(self.embedder.name, self.embedder.dim)
        self.bm25 = bm25 or bm25_for(settings, self.store)
        self.retriever = HybridRetriever(
            settings,
            self.store,
            self.embedder,
            self.bm25,
            reranker or get_reranker(settings.cross_encoder_path),
        )
        self.answerer: Answerer = answerer or default_answerer(settings, self.embedder)

    def retrieve(
        self,
        question: str,
        *,
        filters: Filters | None = None,
        history: History | None = None,
        top_k: int | None = None,
    ) -> Retrieval:
        return self.retriever.retrieve(condense(question, history), filters=filters, top_k=top_k)

    def answer(
        self,
        question: str,
        *,
        filters: Filters | None = None,
        history: History | None = None,
        top_k: int | None = None,
    ) -> Answer:
        question = question.strip()
        if not question:
            raise ValueError("the question is empty")
        t0 = time.perf_counter()
        retrieval = self.retrieve(question, filters=filters, history=history, top_k=top_k)
        t = time.perf_counter()
        answer = self.answerer.answer(question, retrieval)
        answer.timings = {
            **retrieval.timings,
            "answer_ms": round((time.perf_counter() - t) * 1000, 2),
            "total_ms": round((time.perf_counter() - t0) * 1000, 2),
        }
        return answer

    def stream(
        self,
        question: str,
        *,
        filters: Filters | None = None,
        history: History | None = None,
        top_k: int | None = None,
    ) -> Iterator[str | Answer]:
        """Text deltas, then the final `Answer` as the last item.

        An LLM answerer streams tokens; the extractive answer is ready at once and is
        streamed sentence by sentence so the UI behaves the same either way.
        """
        streamer = getattr(self.answerer, "stream", None)
        if streamer is not None:
            question = question.strip()
            retrieval = self.retrieve(question, filters=filters, history=history, top_k=top_k)
            yield from streamer(question, retrieval)
            return
        answer = self.answer(question, filters=filters, history=history, top_k=top_k)
        yield from _pieces(answer.text)
        yield answer


def _pieces(text: str) -> Iterator[str]:
    words = text.split(" ")
    for i in range(0, len(words), 4):
        chunk = " ".join(words[i : i + 4])
        yield chunk if i == 0 else " " + chunk


def default_answerer(settings: Settings, embedder: Embedder) -> Answerer:
    if settings.llm != "none":
        from rag.llm import build_llm_answerer  # optional dependency

        return build_llm_answerer(settings, embedder)
    return ExtractiveAnswerer(settings)


_pipelines: dict[str, Pipeline] = {}
_pipelines_lock = threading.Lock()


def get_pipeline(settings: Settings | None = None) -> Pipeline:
    """The process-wide pipeline for these settings (model and store opened once)."""
    settings = settings or Settings()
    key = settings.model_dump_json()
    with _pipelines_lock:
        pipe = _pipelines.get(key)
        if pipe is None:
            pipe = Pipeline(settings)
            _pipelines[key] = pipe
        return pipe


class ChatSession:
    """A conversation: keeps the history so follow-ups are condensed against it."""

    def __init__(self, pipeline: Pipeline, max_turns: int = 20) -> None:
        self.pipeline = pipeline
        self.history: History = []
        self.max_turns = max_turns

    def ask(
        self, question: str, *, filters: Filters | None = None, top_k: int | None = None
    ) -> Answer:
        answer = self.pipeline.answer(question, filters=filters, history=self.history, top_k=top_k)
        self._remember(question, answer)
        return answer

    def stream(
        self, question: str, *, filters: Filters | None = None, top_k: int | None = None
    ) -> Iterator[str | Answer]:
        for item in self.pipeline.stream(
            question, filters=filters, history=list(self.history), top_k=top_k
        ):
            if isinstance(item, Answer):
                self._remember(question, item)
            yield item

    def clear(self) -> None:
        self.history.clear()

    def _remember(self, question: str, answer: Answer) -> None:
        self.history.append((question, answer.text))
        del self.history[: -self.max_turns]
