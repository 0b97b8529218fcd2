"""The lexical side of retrieval: BM25 over title + chunk text.

- `LexicalView`: what retrieval queries. Postings live in the SQLite file of
  `rag.store.lexical` (updated in place by the writer); a view holds only per-chunk columns
  (length, doc_id, source, date) in memory, for the BM25 length norm and the filter mask.
- `Bm25Manager`: keeps a process's view current: it reads the rows added or deleted since it
  last looked (cheap, per write), and reconciles the file with Chroma's manifest when the
  store's generation says a write did not reach this file (another machine, an older file).
- `Bm25Index`: the previous in-memory bm25s index, kept as the reference the lexical view is
  tested against (same scores) and the baseline `bench/scale.py` measures.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from rag.store.filters import FILTER_FIELDS, mask
from rag.store.lexical import LexicalDb, lexical_path, reconcile
from rag.store.lexview import LexicalView, _Columns, top_scored
from rag.text import bm25_tokenize, scaled_idf

log = logging.getLogger(__name__)


class Bm25Index:
    """An immutable BM25 index over chunk ids."""

    def __init__(
        self,
        ids: list[str],
        retriever,  # noqa: ANN001 - bm25s.BM25
        filter_meta: dict[str, list] | None = None,
        doc_freq: dict[str, int] | None = None,
    ) -> None:
        self.ids = ids
        self._retriever = retriever
        self._pos = {cid: i for i, cid in enumerate(ids)}
        self._vocab: dict = getattr(retriever, "vocab_dict", {}) or {}
        meta = filter_meta or {}
        self._doc_id = np.asarray(meta.get("doc_id", [""] * len(ids)), dtype=object)
        self._source = np.asarray(meta.get("source", [""] * len(ids)), dtype=object)
        self._published = np.asarray(meta.get("published_num", [-1] * len(ids)), dtype=np.int64)
        self.doc_freq = doc_freq or {}
        self.idf = scaled_idf(self.doc_freq, len(ids))

    @classmethod
    def build(cls, items: Iterable[tuple[str, str, dict]]) -> Bm25Index:
        """items: (chunk_id, text, metadata with doc_id, source, published_num)."""
        import bm25s

        ids: list[str] = []
        texts: list[str] = []
        meta: dict[str, list] = {k: [] for k in FILTER_FIELDS}
        for cid, text, m in items:
            ids.append(cid)
            texts.append(text)
            for key in meta:
                meta[key].append(m.get(key, -1 if key == "published_num" else ""))
        retriever = bm25s.BM25()
        doc_freq: dict[str, int] = {}
        if texts:
            tokens = bm25_tokenize(texts)
            for toks in tokens:
                for t in set(toks):
                    doc_freq[t] = doc_freq.get(t, 0) + 1
            retriever.index(tokens, show_progress=False)
        return cls(ids, retriever, meta, doc_freq)

    def allowed(self, filters) -> np.ndarray | None:  # noqa: ANN001 - rag.records.Filters
        """Mask of chunks passing the filters (None: all): `rag.store.filters`, the same rules
        as the Chroma `where` of the dense side."""
        columns = {"doc_id": self._doc_id, "source": self._source, "published_num": self._published}
        return mask(filters, columns)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def latest_published(self) -> int:
        """The newest `published_num` indexed (-1: none dated): lets a query "as of today"
        skip a date clause that would admit everything."""
        return int(self._published.max()) if self._published.size else -1

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 score of every indexed chunk (zeros when no query term is known)."""
        if not self.ids:
            return np.zeros(0, dtype=np.float32)
        known = [t for t in query_tokens if t in self._vocab]
        if not known:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self._retriever.get_scores(known), dtype=np.float32)

    def top(
        self, query_tokens: list[str], n: int, allowed: np.ndarray | None = None
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(top ids, their scores, all scores) — all scores let callers score other candidates."""
        return top_scored(self.ids, self.scores(query_tokens), n, allowed)

    def position(self, chunk_id: str) -> int | None:
        return self._pos.get(chunk_id)


class Bm25Manager:
    """Keeps a process's lexical view in step with the store.

    Per question: one `PRAGMA data_version` (microseconds) tells whether any other connection
    wrote the file; if so the view reads only the rows added or deleted since. At most every
    `min_refresh_seconds` the store's generation (one small Chroma read) is compared with the
    one stamped in the file: a mismatch means a write the file did not see (a writer on another
    machine, a file older than the store), repaired by `reconcile` from the manifest. A
    slightly stale lexical side is harmless: every hit is re-checked against the manifest.
    """

    def __init__(self, store, cache_dir: Path, min_refresh_seconds: float = 2.0) -> None:  # noqa: ANN001
        self.store = store
        self.db = LexicalDb(cache_dir / "lexical.sqlite3")
        self.min_refresh_seconds = min_refresh_seconds
        self._cols: _Columns | None = None
        self._view: LexicalView | None = None
        self._checked_at = -1e9
        self._version = -1
        self._lock = threading.Lock()
        self._probe_lock = threading.Lock()
        self._probe: sqlite3.Connection | None = None

    def _data_version(self) -> int:
        """SQLite's counter of commits by other connections: a probe of its own, so that
        every commit (the writer's, a reconcile in any thread) moves it."""
        with self._probe_lock:
            if self._probe is None:
                self.db.conn()  # creates the file and its schema
                self._probe = sqlite3.connect(
                    self.db.path, check_same_thread=False, isolation_level=None
                )
            return int(self._probe.execute("PRAGMA data_version").fetchone()[0])

    def current(self) -> LexicalView:
        import time

        version = self._data_version()
        view = self._view
        if (
            view is not None
            and version == self._version
            and time.monotonic() - self._checked_at < self.min_refresh_seconds
        ):
            return view
        with self._lock:
            if time.monotonic() - self._checked_at >= self.min_refresh_seconds:
                generation = self.store.generation()
                if generation != self.db.generation():
                    reconcile(self.db, self.store, generation)
                self._checked_at = time.monotonic()
            version = self._data_version()
            if self._view is None or version != self._version:
                self._catch_up()
                self._version = version
            assert self._view is not None
            return self._view

    def refresh(self) -> LexicalView:
        """Catch up now (after this process wrote to the store)."""
        self._checked_at = -1e9
        return self.current()

    def _catch_up(self) -> None:
        conn = self.db.conn()
        conn.execute("BEGIN")
        try:
            epoch = self.db.meta("epoch")
            cols = self._cols
            fresh = cols is None or cols.epoch != epoch
            if fresh:
                cols = _Columns(epoch)
                row = conn.execute("SELECT max(seq) FROM deleted").fetchone()
                cols.del_seq = int(row[0] or 0)
            assert cols is not None
            added = conn.execute(
                "SELECT rowid, chunk_id, doc_id, source, published_num, dl FROM chunks"
                " WHERE rowid > ? ORDER BY rowid",
                (cols.size,),
            ).fetchall()
            deleted = conn.execute(
                "SELECT seq, chunk FROM deleted WHERE seq > ? ORDER BY seq", (cols.del_seq,)
            ).fetchall()
        finally:
            conn.execute("COMMIT")
        cols.add(added)
        if deleted:
            cols.delete([r for _, r in deleted])
            cols.del_seq = int(deleted[-1][0])
        self._cols = cols
        self._view = LexicalView(self.db, cols)
        if fresh or added or deleted:
            log.debug(
                "lexical view: +%d -%d rows, %d chunks", len(added), len(deleted), cols.n_alive
            )


def bm25_manager(settings, store) -> Bm25Manager:  # noqa: ANN001 - Settings, Store
    """A lexical-index manager for a store; its file is the one the store's writer updates
    (`rag.store.lexical.lexical_path`). One per store and process is enough:
    `rag.pipeline.shared_bm25` keeps it."""
    return Bm25Manager(store, lexical_path(settings).parent)
