"""The question-answering pipeline (condense → retrieve → answer, with timings) and the
composition root of newsrag.

This is the one place that keeps process-wide instances: the store, the embedder, the BM25
manager, the reranker and the pipelines built from them (`shared_*`, `get_pipeline`). Every
other module only constructs; a long-lived process (the web app, `rag.query`) asks here so
that the model loads and the store opens once per process, and everything in the process
sees the same store (a `--rebuild` drops and recreates its collections).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from rag.condense import condense
from rag.embedding import SEPARATE, Embedder, SentenceTransformerEmbedder, load_embedder
from rag.extractive import ExtractiveAnswerer
from rag.reading import SpanReader, load_reader
from rag.records import Answer, Query
from rag.rerank import Reranker, load_reranker
from rag.retrieval import HybridRetriever, Retrieval
from rag.settings import Settings
from rag.store import Bm25Manager, Store, bm25_manager, make_client

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

log = logging.getLogger(__name__)

History = list[tuple[str, str]]


_blas_limited = False


def single_threaded_blas() -> None:
    """Limit numpy's BLAS to one thread in a process that answers questions, once.

    The query path multiplies matrices of at most ~80 rows (candidate and sentence vectors);
    a second OpenBLAS thread buys nothing there and waits on the cores torch's OpenMP threads
    hold after a forward pass: near-duplicate collapse took 4 ms a question with two BLAS
    threads and 0.3 ms with one (bench/query.py profile, 2026-12-06). The models run on torch's
    own threads, which this leaves alone."""
    global _blas_limited
    if _blas_limited:
        return
    _blas_limited = True
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


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
        single_threaded_blas()
        self.store = store or shared_store(settings)
        self.embedder = embedder or shared_embedder(settings)
        how = str(getattr(self.embedder, "sentence_vectors", SEPARATE))
        self.store.check_readable(self.embedder.name, self.embedder.dim, how)
        self.bm25 = bm25 or shared_bm25(settings, self.store)
        self.retriever = HybridRetriever(
            settings,
            self.store,
            self.embedder,
            self.bm25,
            reranker or shared_reranker(settings.cross_encoder_path),
        )
        self.answerer: Answerer = answerer or default_answerer(settings, self.embedder)

    def retrieve(self, query: Query | str, **options: Any) -> Retrieval:
        """Passages for a `Query` (or a question and `Query`'s fields as keywords) as of its
        date (default today: nothing published later is visible; see
        `HybridRetriever.retrieve`). A follow-up is condensed against the history first."""
        query = Query.of(query, **options)
        standalone = condense(query.question, list(query.history))
        return self.retriever.retrieve(query.model_copy(update={"question": standalone}))

    def answer(self, query: Query | str, **options: Any) -> Answer:
        """The answer to a `Query` (or a question and `Query`'s fields as keywords)."""
        query = Query.of(query, **options)
        t0 = time.perf_counter()
        retrieval = self.retrieve(query)
        t = time.perf_counter()
        answer = with_time(self.answerer.answer(query.question, retrieval), retrieval)
        answer.timings = {
            **retrieval.timings,
            **answer.timings,  # the answerer's own stages (read_ms)
            "answer_ms": round((time.perf_counter() - t) * 1000, 2),
            "total_ms": round((time.perf_counter() - t0) * 1000, 2),
        }
        return answer

    def stream(self, query: Query | str, **options: Any) -> Iterator[str | Answer]:
        """Text deltas, then the final `Answer` as the last item.

        An LLM answerer streams tokens; the extractive answer is ready at once and is
        streamed sentence by sentence so the UI behaves the same either way.
        """
        query = Query.of(query, **options)
        streamer = getattr(self.answerer, "stream", None)
        if streamer is not None:
            retrieval = self.retrieve(query)
            for item in streamer(query.question, retrieval):
                yield with_time(item, retrieval) if isinstance(item, Answer) else item
            return
        answer = self.answer(query)
        yield from _pieces(answer.text)
        yield answer


def with_time(answer: Answer, retrieval: Retrieval) -> Answer:
    """The answer with the date it was answered as of, the question's window and any notice
    about a window that found nothing."""
    if retrieval.as_of:
        answer.asked_as_of = retrieval.as_of.isoformat()
    if retrieval.window:
        answer.window = retrieval.window.describe()
    if retrieval.notice and retrieval.notice not in answer.notice:
        answer.notice = f"{answer.notice} {retrieval.notice}".strip()
    return answer


def _pieces(text: str) -> Iterator[str]:
    words = text.split(" ")
    for i in range(0, len(words), 4):
        chunk = " ".join(words[i : i + 4])
        yield chunk if i == 0 else " " + chunk


def default_answerer(settings: Settings, embedder: Embedder) -> Answerer:
    extractive = ExtractiveAnswerer(settings, shared_reader(settings))
    if settings.llm != "none":
        from rag.llm import build_llm_answerer  # optional dependency

        return build_llm_answerer(
            settings, embedder, lambda: shared_llm(settings), extractive=extractive
        )
    return extractive


# ----- process-wide instances ------------------------------------------------------------------
# One lock for all of them: building one may build another (a pipeline builds the store), hence
# reentrant; loading a model under it also makes concurrent first callers wait for one load.
_lock = threading.RLock()
_clients: dict[str, object] = {}
_stores: dict[str, Store] = {}
_embedders: dict[tuple[str, int, bool], SentenceTransformerEmbedder] = {}
_bm25: dict[str, Bm25Manager] = {}
_rerankers: dict[str, Reranker] = {}
# Pipelines are cheap (they hold the shared pieces above, nothing of their own but the
# answerer), and a process may see many settings objects (a test run sees hundreds): the most
# recently used few are kept. Stores, clients and BM25 indexes are keyed by location, not by
# settings, and never evicted: embedded Chroma must not be opened twice on one path.
PIPELINES_KEPT = 8
_pipelines: OrderedDict[str, Pipeline] = OrderedDict()
_llms: dict[str, LLM] = {}
_readers: dict[tuple[str, int, bool], SpanReader] = {}


def _store_key(settings: Settings) -> str:
    return f"{settings.chroma_url or settings.store_dir.resolve()}|{settings.collection}"


def shared_store(settings: Settings) -> Store:
    """The process's `Store` for a location and collection (one Chroma client per location:
    embedded Chroma must not be opened twice on one path, a server client pools connections)."""
    key = _store_key(settings)
    with _lock:
        store = _stores.get(key)
        if store is None:
            where = settings.chroma_url or str(settings.store_dir.resolve())
            if where not in _clients:
                _clients[where] = make_client(settings)
            store = _stores[key] = Store(settings, _clients[where])
        return store


def shared_embedder(settings: Settings) -> SentenceTransformerEmbedder:
    """The process's embedder for these settings (the model loads once per process)."""
    key = (settings.embed_model, settings.embed_batch_size, settings.embed_quantize)
    with _lock:
        embedder = _embedders.get(key)
        if embedder is None:
            embedder = _embedders[key] = load_embedder(settings)
        return embedder


def shared_bm25(settings: Settings, store: Store) -> Bm25Manager:
    """The process's BM25 manager of a store (one index in memory per store)."""
    key = _store_key(settings)
    with _lock:
        manager = _bm25.get(key)
        if manager is None or manager.store is not store:
            manager = _bm25[key] = bm25_manager(settings, store)
        return manager


def shared_reranker(path: str | None) -> Reranker | None:
    """The process's cross-encoder for a path, or None when none is configured."""
    if not path:
        return None
    with _lock:
        reranker = _rerankers.get(path)
        if reranker is None:
            reranker = load_reranker(path)
            if reranker is not None:
                _rerankers[path] = reranker
        return reranker


def shared_reader(settings: Settings) -> SpanReader:
    """The process's span reader for these settings (its model loads once, on first use)."""
    key = (
        str(settings.reader_weights or ""),
        settings.reader_window_tokens,
        settings.reader_quantize,
    )
    with _lock:
        reader = _readers.get(key)
        if reader is None:
            reader = _readers[key] = load_reader(settings)
        return reader


def shared_llm(settings: Settings) -> LLM:
    """The process's LLM for the backend settings (a local GGUF loads once per process, whatever
    store the pipelines asking for it read)."""
    from rag.llm import build_llm  # optional dependency

    parts = (settings.llm, settings.llm_url, settings.llm_model, settings.llm_model_path)
    key = "|".join(str(p) for p in parts)
    with _lock:
        llm = _llms.get(key)
        if llm is None:
            llm = _llms[key] = build_llm(settings)
        return llm


def get_pipeline(settings: Settings | None = None) -> Pipeline:
    """The process-wide pipeline for these settings (model and store opened once); the
    `PIPELINES_KEPT` most recently used settings keep theirs."""
    settings = settings or Settings()
    key = settings.model_dump_json()
    with _lock:
        pipe = _pipelines.get(key)
        if pipe is None:
            pipe = _pipelines[key] = Pipeline(settings)
            while len(_pipelines) > PIPELINES_KEPT:
                _pipelines.popitem(last=False)
        _pipelines.move_to_end(key)
        return pipe


class ChatSession:
    """A conversation: keeps the history so follow-ups are condensed against it."""

    def __init__(self, pipeline: Pipeline, max_turns: int = 20) -> None:
        self.pipeline = pipeline
        self.history: History = []
        self.max_turns = max_turns

    def ask(self, query: Query | str, **options: Any) -> Answer:
        """The answer to the next turn (a `Query` or a question and its options; its history
        is this conversation's)."""
        query = self._with_history(Query.of(query, **options))
        answer = self.pipeline.answer(query)
        self._remember(query.question, answer)
        return answer

    def stream(self, query: Query | str, **options: Any) -> Iterator[str | Answer]:
        query = self._with_history(Query.of(query, **options))
        for item in self.pipeline.stream(query):
            if isinstance(item, Answer):
                self._remember(query.question, item)
            yield item

    def clear(self) -> None:
        self.history.clear()

    def _with_history(self, query: Query) -> Query:
        return query.model_copy(update={"history": tuple(self.history)})

    def _remember(self, question: str, answer: Answer) -> None:
        self.history.append((question, answer.text))
        del self.history[: -self.max_turns]
