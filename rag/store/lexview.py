"""A process's view of the lexical index (`rag.store.lexical`): the per-chunk columns it
needs in memory (length for BM25's norm, doc_id / source / date for the filter mask), grown
from the rows the file added or deleted since the last look, and BM25 scored from the file's
postings for the question's terms only.
"""

from __future__ import annotations

import functools
from collections import Counter

import numpy as np

from rag.store.filters import mask
from rag.store.lexical import LexicalDb
from rag.text import scaled_idf

K1, B = 1.5, 0.75  # bm25s's defaults (Lucene BM25): the ranking the fusion weights were fit on


class _Columns:
    """Per-chunk columns indexed by the file's row id, shared by the views of one manager.

    Row ids only grow and a row's values never change, so a view made at size n keeps reading
    rows < n while later rows are appended; only `alive` changes in place, and it is copied
    before a deletion is applied (copy on write), so a view in use never sees it move."""

    def __init__(self, epoch: str) -> None:
        self.epoch = epoch
        self.ids: list[str] = []
        self.pos: dict[str, int] = {}
        self.size = 0
        self.del_seq = 0
        self.n_alive = 0
        self.total_dl = 0
        cap = 1024
        self.doc_id = np.empty(cap, dtype=object)
        self.source = np.empty(cap, dtype=object)
        self.published = np.full(cap, -1, dtype=np.int64)
        self.dl = np.zeros(cap, dtype=np.float32)
        self.alive = np.zeros(cap, dtype=bool)

    def _grow(self, need: int) -> None:
        cap = len(self.alive)
        if need <= cap:
            return
        while cap < need:
            cap *= 2
        for name in ("doc_id", "source", "published", "dl", "alive"):
            old = getattr(self, name)
            new = np.empty(cap, dtype=old.dtype)
            new[: len(old)] = old
            new[len(old) :] = -1 if name == "published" else (False if name == "alive" else 0)
            if old.dtype == object:
                new[len(old) :] = ""
            setattr(self, name, new)

    def add(self, rows: list[tuple]) -> None:
        """Rows (rowid, chunk_id, doc_id, source, published_num, dl) of the file, in rowid
        order; a chunk's position is its rowid - 1 (SQLite's rowids start at 1)."""
        if not rows:
            return
        top = rows[-1][0]
        self._grow(top)
        self.ids.extend([""] * (top - len(self.ids)))
        alive = self.alive.copy()
        for row, cid, doc_id, source, published, dl in rows:
            rowid = row - 1
            self.ids[rowid] = cid
            self.pos[cid] = rowid
            self.doc_id[rowid] = doc_id
            self.source[rowid] = source
            self.published[rowid] = published
            self.dl[rowid] = dl
            alive[rowid] = True
            self.n_alive += 1
            self.total_dl += dl
        self.alive = alive
        self.size = top

    def delete(self, rows: list[int]) -> None:
        rowids = [r - 1 for r in rows if r - 1 < self.size]
        if not rowids:
            return
        alive = self.alive.copy()
        for r in rowids:
            if alive[r]:
                alive[r] = False
                self.n_alive -= 1
                self.total_dl -= int(self.dl[r])
        self.alive = alive


class _Idf(dict[str, float]):
    """The scaled global idf (`rag.text.scaled_idf`) of terms, filled on demand (`get`, `[]`,
    `in`): the vocabulary is not held in memory, and retrieval only asks for the question's
    terms. A dict, so it passes wherever the index's idf dict did; iterating it lists only
    the terms asked so far."""

    def __init__(self, view: LexicalView) -> None:
        super().__init__()
        self._view = view
        self._unknown: set[str] = set()

    def _load(self, term: str) -> bool:
        if dict.__contains__(self, term):
            return True
        if term in self._unknown:
            return False
        df = self._view.doc_freq(term)
        if not df:
            self._unknown.add(term)
            return False
        self[term] = scaled_idf({term: df}, len(self._view))[term]
        return True

    def __missing__(self, term: str) -> float:
        if self._load(term):
            return dict.__getitem__(self, term)
        raise KeyError(term)

    def __contains__(self, term: object) -> bool:
        return isinstance(term, str) and self._load(term)

    def get(self, term: str, default=None):  # noqa: ANN001, ANN201
        return dict.__getitem__(self, term) if self._load(term) else default


class LexicalView:
    """A consistent view of the lexical index for one question: same interface as
    `Bm25Index` (positions are the file's row ids)."""

    def __init__(self, db: LexicalDb, cols: _Columns) -> None:
        self._db = db
        self._cols = cols
        self._size = cols.size
        self._alive = cols.alive
        self._n = cols.n_alive
        self._avgdl = cols.total_dl / cols.n_alive if cols.n_alive else 1.0
        self._published = cols.published[: self._size]
        self.idf: dict[str, float] = _Idf(self)

    def __len__(self) -> int:
        return self._n

    @property
    def ids(self) -> list[str]:
        return self._cols.ids[: self._size]

    @functools.cached_property
    def latest_published(self) -> int:
        """The newest `published_num` indexed (-1: none dated), once per view."""
        live = self._published[self._alive[: self._size]]
        return int(live.max()) if live.size else -1

    def allowed(self, filters) -> np.ndarray | None:  # noqa: ANN001 - rag.records.Filters
        """`rag.store.filters.mask` over the view's columns, dead rows excluded."""
        n = self._size
        columns = {
            "doc_id": self._cols.doc_id[:n],
            "source": self._cols.source[:n],
            "published_num": self._published,
        }
        got = mask(filters, columns)
        return None if got is None else got & self._alive[:n]

    def position(self, chunk_id: str) -> int | None:
        pos = self._cols.pos.get(chunk_id)
        return pos if pos is not None and pos < self._size and self._alive[pos] else None

    def doc_freq(self, term: str) -> int:
        rows, _ = self._live(self._db.conn(), term)
        return len(rows)

    def _live(self, conn, term: str) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
        """(positions, tf) of a term's postings on live rows of this view."""
        rows, tf = self._db.postings(conn, term)
        pos = rows - 1  # rowid -> position
        keep = pos < self._size
        pos, tf = pos[keep], tf[keep]
        keep = self._alive[pos]
        return pos[keep], tf[keep]

    def _postings(self, terms: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        conn = self._db.conn()
        conn.execute("BEGIN")  # one snapshot for all terms
        try:
            return {t: self._live(conn, t) for t in terms}
        finally:
            conn.execute("COMMIT")

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 (bm25s's Lucene variant: k1 1.5, b 0.75) of every row for the query tokens,
        a repeated token counting again, as bm25s does."""
        scores = np.zeros(self._size, dtype=np.float32)
        if not self._n or not query_tokens:
            return scores
        counts = Counter(query_tokens)
        n = self._n
        for term, (rows, tf) in self._postings(list(counts)).items():
            if not rows.size:
                continue
            df = len(rows)
            idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
            norm = K1 * ((1 - B) + B * self._cols.dl[rows] / self._avgdl)
            scores[rows] += np.float32(counts[term] * idf) * tf / (norm + tf)
        return scores

    def top(
        self, query_tokens: list[str], n: int, allowed: np.ndarray | None = None
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(top ids, their scores, all scores by position), like `Bm25Index.top`."""
        return top_scored(self._cols.ids, self.scores(query_tokens), n, allowed)


def top_scored(
    ids: list[str], all_scores: np.ndarray, n: int, allowed: np.ndarray | None
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The `n` best positive scores among the allowed positions, best first (ties in position
    order), as (ids, scores, all scores): both lexical indexes rank the same way."""
    if all_scores.size == 0:
        return [], all_scores, all_scores
    masked = all_scores if allowed is None else np.where(allowed, all_scores, -1.0)
    n = min(n, masked.size)
    idx = np.argpartition(-masked, n - 1)[:n]
    idx = idx[np.argsort(-masked[idx], kind="stable")]
    idx = idx[masked[idx] > 0]
    return [ids[i] for i in idx], masked[idx], all_scores
