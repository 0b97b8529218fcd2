"""Incremental ingest: make the store match a corpus folder, doing only the needed work.

Unchanged articles cost a file read and a hash; new and changed ones are chunked and embedded
in large cross-article batches (the model's forward pass is the floor, so everything else is
kept out of its way); removed ones are deleted. Each article is committed on its own (see
`rag.store`), so an interrupted run leaves a consistent store that the next run completes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ingest.chunking import ChunkedArticle, Chunker
from ingest.encoding import embed_articles
from ingest.loaders import LoadError, discover, load_file, relative_name
from ingest.scope import Scope, resolve_scope
from ingest.summary import Failure, IngestSummary
from rag.embedding import POOLED, SEPARATE, Embedder, load_embedder, resolve_model
from rag.records import Article
from rag.settings import Settings
from rag.store import (
    ArticleWrite,
    Bm25Manager,
    Store,
    StoreConfig,
    StoreError,
    bm25_manager,
    open_store,
)
from rag.store.lease import Lease, store_lease

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]

# Ingest runs in one process serialize: two concurrent runs would both embed the same work.
_run_lock = threading.Lock()


@dataclass
class Plan:
    """What a run will do, computed before any write (also what --dry-run reports)."""

    to_add: list[Article] = field(default_factory=list)
    to_update: list[Article] = field(default_factory=list)
    to_remove: list[str] = field(default_factory=list)
    unchanged: int = 0
    failures: list[Failure] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class Ingestor:
    """One ingest run's collaborators; tests swap the embedder or the store. Those not given
    are built here; a long-lived process passes its shared ones (`rag.pipeline.shared_*`)
    so the model is not loaded twice."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        embedder: Embedder | None = None,
        bm25: Bm25Manager | None = None,
    ) -> None:
        self.settings = settings
        self.store = store or open_store(settings)
        self._embedder = embedder
        self.bm25 = bm25 or bm25_manager(settings, self.store)
        self._lease: Lease | None = None

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = load_embedder(self.settings)
        return self._embedder

    def model_name(self) -> str:
        if self._embedder is not None:
            return self._embedder.name
        name = resolve_model(self.settings.embed_model)[1]
        return name + ("+int8" if self.settings.embed_quantize else "")

    # ----- planning --------------------------------------------------------------------------
    def plan(self, scope: Scope) -> Plan:
        """What a run over `scope.root` changes: adds and updates from its files, removals
        only of stored articles that `scope` owns (see ingest/scope.py)."""
        plan = Plan()
        root, base = scope.root, scope.base
        files, skipped = discover(root)
        plan.skipped = [relative_name(p, base) for p in skipped]
        for p in skipped:
            log.info("skipped %s: not a file type newsrag reads", relative_name(p, base))
        articles: dict[str, Article] = {}
        failed_paths: set[str] = set()
        for path in files:
            rel = relative_name(path, base)
            try:
                result = load_file(path, base, max_bytes=self.settings.max_file_bytes)
            except LoadError as exc:
                plan.failures.append(Failure(path=exc.path or rel, reason=exc.reason))
                failed_paths.add(rel)
                log.warning("failed %s: %s", exc.path or rel, exc.reason)
                continue
            for where, reason in result.problems:
                plan.failures.append(Failure(path=where, reason=reason))
                log.warning("failed %s: %s", where, reason)
            for art in result.articles:
                if art.doc_id in articles:
                    plan.failures.append(
                        Failure(
                            path=rel,
                            reason=f"duplicate doc_id {art.doc_id!r} (also in "
                            f"{articles[art.doc_id].path}); kept the first",
                        )
                    )
                    continue
                articles[art.doc_id] = art
        known = self.store.documents()
        for doc_id, art in articles.items():
            info = known.get(doc_id)
            if info is None:
                plan.to_add.append(art)
            elif info.sha256 != art.sha256:
                plan.to_update.append(art)
            else:
                plan.unchanged += 1
        for doc_id, info in known.items():
            # A file that failed to load this time keeps its articles: lose nothing.
            if doc_id not in articles and info.path not in failed_paths and scope.owns(info.path):
                plan.to_remove.append(doc_id)
        return plan

    # ----- running ---------------------------------------------------------------------------
    def run(
        self,
        path: Path | None = None,
        *,
        dry_run: bool = False,
        rebuild: bool = False,
        progress: Progress | None = None,
        wait: float | None = None,
        command: str | None = None,
        replace: bool = False,
    ) -> IngestSummary:
        """Make the store match the corpus, or the part of it under `path` (see
        ingest/scope.py: a path outside the corpus folder raises `OutsideCorpusError` unless
        `replace`). A real run holds the store's ingest lease (waiting up to `wait` seconds,
        default `settings.lease_wait`, for another writer to finish) and raises
        `LeaseHeldError` if it cannot get it; a dry run writes nothing and takes none."""
        root = Path(path or self.settings.corpus_dir)
        if not root.exists():
            raise StoreError(f"corpus path {root} does not exist")
        scope = resolve_scope(self.settings, Path(path) if path else None, replace=replace)
        if dry_run:
            return self._run(scope, None, dry_run=True, rebuild=rebuild, progress=progress)
        with self.lease(wait, command) as lease:
            return self._run(scope, lease, dry_run=False, rebuild=rebuild, progress=progress)

    @contextlib.contextmanager
    def lease(self, wait: float | None = None, command: str | None = None) -> Iterator[Lease]:
        """The store's ingest lease, held for the duration of the block."""
        lease = store_lease(self.store, expiry=self.settings.lease_expiry, command=command)
        lease.acquire(self.settings.lease_wait if wait is None else wait)
        try:
            yield lease
        finally:
            lease.release()

    def _run(
        self,
        scope: Scope,
        lease: Lease | None,
        *,
        dry_run: bool,
        rebuild: bool,
        progress: Progress | None,
    ) -> IngestSummary:
        t0 = time.perf_counter()
        self._lease = lease
        with _run_lock:
            if rebuild and lease is not None:
                with lease.paused():
                    self.store.reset()
            self._check_config()
            if not dry_run:
                self.store.repair()
            plan = self.plan(scope)
            summary = IngestSummary(
                added=len(plan.to_add),
                updated=len(plan.to_update),
                removed=len(plan.to_remove),
                unchanged=plan.unchanged,
                failed=len(plan.failures),
                failures=plan.failures,
                skipped=plan.skipped,
                dry_run=dry_run,
            )
            if dry_run:
                summary.seconds = time.perf_counter() - t0
                return summary
            for doc_id in plan.to_remove:
                self._check_lease()
                self.store.delete_article(doc_id)
                log.info("removed %s", doc_id)
            todo = plan.to_add + plan.to_update
            if todo:
                summary.chunks_written = self._embed_and_write(todo, progress)
            if todo or plan.to_remove or rebuild:
                self.bm25.refresh()
            summary.seconds = time.perf_counter() - t0
            log.info("ingest: %s in %.1fs", summary.line(), summary.seconds)
            return summary

    def _check_lease(self) -> None:
        if self._lease is not None:
            self._lease.check()

    def _check_config(self) -> None:
        have = self.store.config()
        name = self.model_name()
        s = self.settings
        dim = have.dim if have is not None and have.model == name else self.embedder.dim
        wanted = StoreConfig(
            name, dim, s.chunk_size, s.chunk_overlap, sentence_vectors=self.sentence_vectors()
        )
        self.store.ensure_config(wanted)

    def sentence_vectors(self) -> str:
        """How this run makes sentence vectors, without loading the model to find out: the
        default embedder pools them from the chunk's pass; a given one says, or encodes each
        sentence on its own."""
        if self._embedder is None:
            return POOLED
        return str(getattr(self._embedder, "sentence_vectors", SEPARATE))

    def _embed_and_write(self, todo: list[Article], progress: Progress | None) -> int:
        from tqdm import tqdm

        chunker = Chunker(
            self.embedder.count_tokens, self.settings.chunk_size, self.settings.chunk_overlap
        )
        # Large flushes let the model sort texts by length across many articles (less padding)
        # and amortize the store writes; progress is reported per flush.
        batch_target = max(self.settings.embed_batch_size * 16, 64)
        written = 0
        done_articles = 0
        bar = tqdm(total=len(todo), desc="embedding articles", unit="article", disable=None)
        batch: list[ChunkedArticle] = []
        batch_units = 0
        try:
            for art in todo:
                chunked = chunker.split(art)
                batch.append(chunked)
                batch_units += len(chunked.chunks) + len(chunked.sentences)
                if batch_units >= batch_target:
                    written += self._flush(batch)
                    done_articles += len(batch)
                    bar.update(len(batch))
                    if progress:
                        progress(done_articles, len(todo), "embedding")
                    batch, batch_units = [], 0
            if batch:
                written += self._flush(batch)
                done_articles += len(batch)
                bar.update(len(batch))
                if progress:
                    progress(done_articles, len(todo), "embedding")
        finally:
            bar.close()
        return written

    def _flush(self, batch: list[ChunkedArticle]) -> int:
        """Embed the chunks and sentences of several articles together, and write them in
        one batch."""
        embedded = embed_articles(self.embedder, batch)
        self._check_lease()
        self.store.write_articles(
            [
                ArticleWrite(ca.article, ca.chunks, chunk_vecs, ca.sentences, sentence_vecs)
                for ca, (chunk_vecs, sentence_vecs) in zip(batch, embedded, strict=True)
            ]
        )
        for ca in batch:
            log.debug("wrote %s (%d chunks)", ca.article.doc_id, len(ca.chunks))
        return sum(len(ca.chunks) for ca in batch)


def ingest_corpus(
    settings: Settings | None = None,
    path: Path | str | None = None,
    *,
    dry_run: bool = False,
    rebuild: bool = False,
    progress: Progress | None = None,
    wait: float | None = None,
    command: str | None = None,
    replace: bool = False,
    store: Store | None = None,
    embedder: Embedder | None = None,
    bm25: Bm25Manager | None = None,
) -> IngestSummary:
    """Make the store match the corpus (or the part of it at `path`), holding the store's
    ingest lease (see `Ingestor.run`)."""
    settings = settings or Settings()
    return Ingestor(settings, store=store, embedder=embedder, bm25=bm25).run(
        Path(path) if path else None,
        dry_run=dry_run,
        rebuild=rebuild,
        progress=progress,
        wait=wait,
        command=command,
        replace=replace,
    )


def delete_document(
    settings: Settings,
    doc_id: str,
    *,
    store: Store | None = None,
    bm25: Bm25Manager | None = None,
    wait: float | None = None,
    command: str | None = None,
) -> str:
    """Delete an article from the store and, when it is a file of its own, from the corpus,
    so the next re-ingest does not bring it back. Holds the store's ingest lease (taken
    before the file is touched, so a refused delete changes nothing)."""
    store = store or open_store(settings)
    if doc_id not in store.documents():
        raise ValueError(f"no article with doc_id {doc_id!r} in the store")
    lease = store_lease(store, expiry=settings.lease_expiry, command=command)
    lease.acquire(settings.lease_wait if wait is None else wait)
    try:
        with _run_lock:
            info = store.documents().get(doc_id)
            if info is None:  # another writer removed it while we waited
                raise ValueError(f"no article with doc_id {doc_id!r} in the store")
            corpus = settings.corpus_dir.resolve()
            file = (corpus / info.path).resolve() if info.path else None
            if file is not None and file.is_relative_to(corpus) and file.is_file():
                if info.path != doc_id:
                    raise ValueError(
                        f"{doc_id!r} is one of the articles in {info.path}; edit that file and "
                        "re-ingest to remove it"
                    )
                file.unlink()
            lease.check()
            store.delete_article(doc_id)
            (bm25 or bm25_manager(settings, store)).refresh()
    finally:
        lease.release()
    return f"deleted {info.title or doc_id}"
