"""The lexical index on disk: BM25 postings in a SQLite file that is updated in place.

Why SQLite and our own postings table rather than FTS5's `bm25()`: FTS5 scores with k1 = 1.2
and a clamped idf, so its ranking is not the one the fusion weights were fitted on; a postings
table scored in numpy gives bm25s's exact Lucene BM25 (k1 = 1.5, b = 0.75) over the tokens of
`rag.text.bm25_tokenize`, and SQLite (standard library) is safe across processes: the ingest
writer, the chat server and a CLI run can all open the file at once (WAL mode).

Why in place: writing or deleting an article touches only that article's rows, in one
transaction, so the cost follows the article, not the corpus; the file survives restarts.
Postings are stored as one packed block (row ids int32, term frequencies uint16) per term and
write batch, so a question reads one SQLite row per term and batch and scores with numpy; a
row per posting measured 700x slower than bm25s in memory (bench/experiments/lexical_engines.py
--synthetic). A deletion only drops the chunk's row and logs it in `deleted`: its postings stay
in their blocks, masked by every reader, until `compact` rewrites the blocks (run by the writer
every COMPACT_EVERY write batches, O(corpus) then, never on the question path). Every reader
catches up from the file: chunks get increasing row ids (AUTOINCREMENT) and deletions are
logged, so a serving process reads only the rows added or removed since it last looked
(`rag.store.lexview`).

The file mirrors Chroma, the source of truth: `docs` records which version (sha256) of each
article is indexed and `meta.generation` the store generation the file is known to match.
A writer that sees the file in step before its write stamps the new generation; anything else
(a writer on another machine against a Chroma server, a file from before this version, a
crash) is repaired by `reconcile`, which compares the manifest with `docs` and re-indexes only
the articles that differ.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag import text

log = logging.getLogger(__name__)

# Bumped when the file layout changes: an older file is emptied and rebuilt from Chroma.
LAYOUT_VERSION = "2"
# The writer merges postings blocks after this many write batches (each adds a block per term).
COMPACT_EVERY = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs (doc_id TEXT PRIMARY KEY, sha TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    chunk_id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL,
    source TEXT NOT NULL,
    published_num INTEGER NOT NULL,
    dl INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks (doc_id);
CREATE TABLE IF NOT EXISTS postings (
    term TEXT NOT NULL, batch INTEGER NOT NULL, rows BLOB NOT NULL, tfs BLOB NOT NULL,
    PRIMARY KEY (term, batch)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deleted (seq INTEGER PRIMARY KEY AUTOINCREMENT, chunk INTEGER NOT NULL);
"""


@dataclass
class LexicalChunk:
    """One chunk as the lexical side sees it (the text is title + chunk text, `bm25_text`)."""

    chunk_id: str
    text: str
    source: str = ""
    published_num: int = -1


class LexicalDb:
    """The SQLite file. One connection per thread; every write is one IMMEDIATE transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._ready = False
        self._init_lock = threading.Lock()

    # ----- connections -------------------------------------------------------------------------
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._init_lock:
                if not self._ready:
                    self._init_schema(conn)
                    self._ready = True
        return conn

    def _init_schema(self, conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("BEGIN IMMEDIATE")
        try:
            have = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            wanted = {"layout": LAYOUT_VERSION, "tokenizer": text.TOKENIZER_VERSION}
            stale = any(have.get(k) != v for k, v in wanted.items())
            if stale:  # another layout or tokenizer: new tables, rebuilt from Chroma
                if have:
                    log.info("lexical index at %s is of another version: rebuilding", self.path)
                for table in ("docs", "chunks", "postings", "deleted"):
                    conn.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in _SCHEMA.split(";"):  # idempotent; DDL is transactional in SQLite
                if statement.strip():
                    conn.execute(statement)
            if stale:
                self._clear(conn)
                conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(wanted.items()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ----- reads -------------------------------------------------------------------------------
    def meta(self, key: str) -> str:
        row = self.conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else ""

    def generation(self) -> str:
        """The store generation this file is known to match ("" when not known)."""
        return self.meta("generation")

    def docs(self) -> dict[str, str]:
        return dict(self.conn().execute("SELECT doc_id, sha FROM docs").fetchall())

    # ----- writes ------------------------------------------------------------------------------
    def replace(
        self,
        articles: Iterable[tuple[str, str, list[LexicalChunk]]],
        removed: Iterable[str] = (),
        *,
        stamp: tuple[str, str] | None = None,
    ) -> None:
        """Index (doc_id, sha, chunks) for each article (dropping its previous chunks) and drop
        the `removed` articles, in one transaction. `stamp` = (generation before, after): the
        file takes the new generation only if it was at the one before, else it stays marked
        stale for `reconcile`. An article already indexed at that sha is skipped, so a reader
        reconciling and a writer writing the same article at once do no harm."""
        prepared = []
        for doc_id, sha, chunks in articles:
            tokens = text.bm25_tokenize([c.text for c in chunks]) if chunks else []
            prepared.append((doc_id, sha, chunks, tokens))
        removed = list(removed)
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            have: dict[str, str] = {}
            ids = [p[0] for p in prepared]
            for lo in range(0, len(ids), 500):
                part = ids[lo : lo + 500]
                marks = ",".join("?" * len(part))
                have.update(
                    conn.execute(
                        f"SELECT doc_id, sha FROM docs WHERE doc_id IN ({marks})",
                        part,
                    ).fetchall()
                )
            block: dict[str, tuple[list[int], list[int]]] = {}
            for doc_id, sha, chunks, tokens in prepared:
                if have.get(doc_id) == sha:
                    continue
                self._drop_doc(conn, doc_id)
                for chunk, toks in zip(chunks, tokens, strict=True):
                    cur = conn.execute(
                        "INSERT INTO chunks (chunk_id, doc_id, source, published_num, dl)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (
                            chunk.chunk_id,
                            doc_id,
                            chunk.source or "",
                            int(chunk.published_num),
                            len(toks),
                        ),
                    )
                    rowid = int(cur.lastrowid or 0)
                    for t, n in Counter(toks).items():
                        rows, tfs = block.setdefault(t, ([], []))
                        rows.append(rowid)
                        tfs.append(min(n, 65535))
                conn.execute("INSERT OR REPLACE INTO docs VALUES (?, ?)", (doc_id, sha))
            if block:
                row = conn.execute("SELECT value FROM meta WHERE key = 'batches'").fetchone()
                batch = int(row[0]) + 1 if row else 1
                self._set(conn, "batches", str(batch))
                conn.executemany(
                    "INSERT INTO postings VALUES (?, ?, ?, ?)",
                    [
                        (t, batch, _pack(rows, np.int32), _pack(tfs, np.uint16))
                        for t, (rows, tfs) in block.items()
                    ],
                )
            for doc_id in removed:
                self._drop_doc(conn, doc_id)
                conn.execute("DELETE FROM docs WHERE doc_id = ?", (doc_id,))
            if stamp is not None:
                before, after = stamp
                row = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
                if (row[0] if row else "") == before:
                    self._set(conn, "generation", after)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def set_generation(self, generation: str, *, expect: str | None = None) -> bool:
        """Mark the file as matching `generation` (only if it is at `expect`, when given)."""
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            ok = expect is None or self.meta("generation") == expect
            if ok:
                self._set(conn, "generation", generation)
            conn.execute("COMMIT")
            return ok
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def clear(self) -> None:
        """Empty the index (a store reset): readers see a new epoch and reload."""
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._clear(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _set(conn: sqlite3.Connection, key: str, value: str) -> None:
        conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def _clear(self, conn: sqlite3.Connection) -> None:
        for table in ("docs", "chunks", "postings", "deleted"):
            conn.execute(f"DELETE FROM {table}")
        self._set(conn, "batches", "0")
        self._set(conn, "generation", "")
        self._set(conn, "epoch", uuid.uuid4().hex)

    @staticmethod
    def _drop_doc(conn: sqlite3.Connection, doc_id: str) -> None:
        for (rowid,) in conn.execute(
            "SELECT rowid FROM chunks WHERE doc_id = ?", (doc_id,)
        ).fetchall():  # postings stay in their blocks, masked by readers until `compact`
            conn.execute("DELETE FROM chunks WHERE rowid = ?", (rowid,))
            conn.execute("INSERT INTO deleted (chunk) VALUES (?)", (rowid,))

    def postings(self, conn: sqlite3.Connection, term: str) -> tuple[np.ndarray, np.ndarray]:
        """(row ids int64, term frequencies float32) of a term, dead rows included."""
        got = conn.execute("SELECT rows, tfs FROM postings WHERE term = ?", (term,)).fetchall()
        if not got:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        rows = np.concatenate([np.frombuffer(r, dtype=np.int32) for r, _ in got])
        tfs = np.concatenate([np.frombuffer(t, dtype=np.uint16) for _, t in got])
        return rows.astype(np.int64), tfs.astype(np.float32)

    def maybe_compact(self) -> bool:
        """Compact when COMPACT_EVERY batches were written since the last compaction."""
        done = int(self.meta("compacted_at") or 0)
        if int(self.meta("batches") or 0) - done < COMPACT_EVERY:
            return False
        self.compact()
        return True

    def compact(self) -> None:
        """Rewrite every term's blocks as one, without the rows of deleted chunks. O(corpus),
        in one write transaction (readers go on reading the previous state meanwhile)."""
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            alive_ids = np.array(
                [r for (r,) in conn.execute("SELECT rowid FROM chunks")], dtype=np.int64
            )
            alive = np.zeros(int(alive_ids.max(initial=0)) + 1, dtype=bool)
            alive[alive_ids] = True
            batch = int(self.meta("batches") or 0) + 1
            terms = [t for (t,) in conn.execute("SELECT DISTINCT term FROM postings")]
            for t in terms:
                rows, tfs = self.postings(conn, t)
                keep = (rows < alive.size) & alive[np.minimum(rows, alive.size - 1)]
                conn.execute("DELETE FROM postings WHERE term = ?", (t,))
                if keep.any():
                    conn.execute(
                        "INSERT INTO postings VALUES (?, ?, ?, ?)",
                        (t, batch, _pack(rows[keep], np.int32), _pack(tfs[keep], np.uint16)),
                    )
            self._set(conn, "batches", str(batch))
            self._set(conn, "compacted_at", str(batch))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        log.info("lexical index compacted: %d terms", len(terms))


def _pack(values: list[int] | np.ndarray, dtype: type) -> bytes:
    return np.asarray(values, dtype=dtype).tobytes()


def reconcile(db: LexicalDb, store, generation: str, batch: int = 200) -> int:  # noqa: ANN001
    """Bring the file in step with the store's manifest: re-index the articles whose committed
    version differs from the indexed one, drop those no longer committed, then stamp
    `generation` (read by the caller *before* the manifest, so a write landing meanwhile
    leaves the file stale rather than wrongly current). Returns the number of articles
    changed. Cost: one manifest read plus the differing articles' chunks."""
    import time

    t0 = time.perf_counter()
    committed = {d.doc_id: d.sha256 for d in store.documents().values()}
    have = db.docs()
    changed = [d for d, sha in committed.items() if have.get(d) != sha]
    removed = [d for d in have if d not in committed]
    if len(changed) > batch:
        log.info("indexing %d articles for the lexical side (%s)", len(changed), db.path)
    for lo in range(0, max(len(changed), 1), batch):
        part = changed[lo : lo + batch]
        by_doc: dict[str, list[LexicalChunk]] = {d: [] for d in part}
        for hit in store.chunks_of(part) if part else []:
            if committed.get(hit.doc_id) != hit.metadata.get("sha"):
                continue
            m = hit.metadata
            by_doc[hit.doc_id].append(
                LexicalChunk(
                    hit.chunk_id,
                    text.bm25_text(str(m.get("title", "")), hit.text),
                    str(m.get("source", "") or ""),
                    int(m.get("published_num", -1)),
                )
            )
        db.replace(
            [(d, committed[d], chunks) for d, chunks in by_doc.items()],
            removed if lo == 0 else (),
        )
        if len(changed) > batch:
            log.info("lexical index: %d/%d articles", min(lo + batch, len(changed)), len(changed))
    db.set_generation(generation)
    if changed or removed:
        log.info(
            "lexical index reconciled with the store: %d re-indexed, %d dropped in %.2fs",
            len(changed),
            len(removed),
            time.perf_counter() - t0,
        )
    return len(changed) + len(removed)


def lexical_path(settings) -> Path:  # noqa: ANN001 - rag.settings.Settings
    """Where a store's lexical index lives: in the store folder, beside Chroma's files."""
    return Path(settings.store_dir) / "bm25" / settings.collection / "lexical.sqlite3"
