"""The Chroma-backed store: chunks, sentence vectors and the manifest, kept consistent.

Everything lives in Chroma (three collections) so that the same code works embedded and against
a Chroma server shared by several processes:

- ``<name>``: one record per chunk (vector, text, metadata incl. the article's sha256);
- ``<name>-sentences``: one record per sentence of a chunk (vector, span offsets), the evidence
  the ranker and the extractive answerer score;
- ``<name>-manifest``: one record per article (committed sha256, chunk count, display
  metadata, and a ``pending`` marker while it is being written) plus a ``__store__`` record
  holding the model, dimension, chunking parameters and a generation token.

Visibility rule: a chunk is visible only if its sha256 equals the committed sha256 of its
article in the manifest. Writing an article is therefore: mark pending, add the new chunks
(invisible), flip the manifest entry (new chunks visible, old ones hidden in the same single
upsert), delete the old chunks, clear pending. A process killed at any point leaves a store in
which readers see exactly one version of every article, and the next ingest finishes the job.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.models import Article, Chunk, DocumentInfo, Filters
from rag.settings import Settings

log = logging.getLogger(__name__)

STORE_KEY = "__store__"
DOC_PREFIX = "doc:"
PAGE = 2000


class StoreError(RuntimeError):
    """The store cannot be used as asked (message is meant for the user)."""


class StoreMismatchError(StoreError):
    pass


class StoreUnavailableError(StoreError):
    pass


@dataclass(frozen=True)
class StoreConfig:
    """What must match between a store and the code writing to or reading from it."""

    model: str
    dim: int
    chunk_size: int
    chunk_overlap: int

    def as_metadata(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "dim": self.dim,
            "chunk_size": self.chunk_size,
            "chunk_overlap": self.chunk_overlap,
        }


@dataclass
class SentenceRecord:
    chunk_id: str
    index: int  # ordinal of the sentence within its chunk
    start: int  # offsets in the article text
    end: int
    tokens: str | None = None  # `rag.scoring.tokenize` output, space-joined (saves query time)


@dataclass
class ArticleWrite:
    """One article's new version, embedded and ready to be written."""

    article: Article
    chunks: list[Chunk]
    chunk_vectors: np.ndarray
    sentences: list[SentenceRecord]
    sentence_vectors: np.ndarray


@dataclass
class ChunkHit:
    chunk_id: str
    doc_id: str
    text: str
    metadata: dict[str, Any]
    score: float = 0.0
    vector: np.ndarray | None = None  # the chunk's embedding, when it was asked for


def published_number(date: dt.date | None) -> int:
    """YYYYMMDD as an int so Chroma can range-filter dates; -1 when unknown."""
    return int(date.strftime("%Y%m%d")) if date else -1


def embedded_store_missing(settings: Settings) -> bool:
    """True when an embedded store was never created here. Read-only commands check this
    first: opening Chroma on a wrong path would leave an empty store behind."""
    return (
        not settings.chroma_url and not (settings.store_dir / "chroma" / "chroma.sqlite3").exists()
    )


def make_client(settings: Settings) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        return _http_client(settings, chroma_settings)
    settings.store_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(
        path=str(settings.store_dir / "chroma"), settings=chroma_settings
    )


def _http_client(settings: Settings, chroma_settings: Any) -> Any:
    """A `chromadb.HttpClient` whose every request is bounded by `settings.chroma_timeout`.

    chromadb 1.5 builds its httpx session with `timeout=None` and offers no setting for it, so
    the timeout is set on the session after construction; construction itself (three requests)
    runs in a daemon thread bounded by the same timeout, so a hung server cannot hang startup.
    The optional token is sent both ways Chroma's token auth reads it (`Authorization: Bearer`
    and `X-Chroma-Token`, the header Chroma Cloud uses).
    """
    from urllib.parse import urlparse

    import chromadb
    import httpx

    url = urlparse(settings.chroma_url or "")
    headers: dict[str, str] = {}
    if settings.chroma_token:
        headers["Authorization"] = f"Bearer {settings.chroma_token}"
        headers["X-Chroma-Token"] = settings.chroma_token
    result: dict[str, Any] = {}

    def connect() -> None:
        try:
            result["client"] = chromadb.HttpClient(
                host=url.hostname or "127.0.0.1",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                headers=headers,
                settings=chroma_settings,
            )
        except BaseException as exc:  # noqa: BLE001 - reported to the caller below
            result["error"] = exc

    worker = threading.Thread(target=connect, name="chroma-connect", daemon=True)
    worker.start()
    worker.join(settings.chroma_timeout)
    if worker.is_alive():
        raise StoreUnavailableError(
            f"store unavailable: Chroma at {settings.chroma_url} did not answer within "
            f"{settings.chroma_timeout:g}s"
        )
    if "error" in result:
        exc = result["error"]
        if type(exc).__name__ in ("ChromaAuthError", "AuthorizationError"):
            raise StoreError(
                f"Chroma at {settings.chroma_url} refused the credentials (NEWSRAG_CHROMA_TOKEN): "
                f"{exc}"
            ) from None
        raise StoreUnavailableError(
            f"store unavailable: cannot reach Chroma at {settings.chroma_url} ({_describe(exc)})"
        ) from None
    client = result["client"]
    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(settings.chroma_timeout)
    else:  # pragma: no cover - chromadb internals changed
        log.warning("cannot set a request timeout on the Chroma client; requests may hang")
    return client


def _failure_kind(exc: BaseException) -> str | None:
    """How a failed Chroma call failed: 'timeout' and 'down' mean the server is unavailable,
    'stale' is a pooled connection the server closed (worth one retry), 'gone' a collection
    dropped (and maybe recreated) behind our back, None anything else."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "down"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return "stale"
    if isinstance(exc, httpx.TransportError):
        return "down"
    if isinstance(exc, ValueError) and "could not connect to a chroma server" in str(exc).lower():
        return "down"
    if type(exc).__name__ == "NotFoundError" and "does not exist" in str(exc):
        return "gone"
    return None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Collection:
    """A Chroma collection handle as the `Store` uses it: a lost or hung server surfaces as
    `StoreUnavailableError` (one retry on a stale pooled connection), and a collection that
    another process dropped and recreated (`ingest --rebuild`) is looked up again once."""

    def __init__(self, store: Store, handle: Any) -> None:
        self._store = store
        self.handle = handle

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.handle, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._store._call(self, name, args, kwargs)

        return call


_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def shared_client(settings: Settings) -> Any:
    """One Chroma client per store location and process: embedded Chroma must not be opened
    twice on one path within a process, and a server client pools its connections."""
    key = settings.chroma_url or str(settings.store_dir.resolve())
    with _clients_lock:
        if key not in _clients:
            _clients[key] = make_client(settings)
        return _clients[key]


_stores: dict[str, Store] = {}


def open_store(settings: Settings) -> Store:
    """The process-wide `Store` for a location and collection.

    Sharing one instance matters: a `--rebuild` drops and recreates the collections, and every
    user of the store in the process must see the new ones.
    """
    key = f"{settings.chroma_url or settings.store_dir.resolve()}|{settings.collection}"
    with _clients_lock:
        store = _stores.get(key)
    if store is None:
        store = Store(settings, shared_client(settings))
        with _clients_lock:
            store = _stores.setdefault(key, store)
    return store


def _where(filters: Filters | None, extra: dict[str, Any] | None = None) -> dict | None:
    clauses: list[dict[str, Any]] = []
    if filters is not None:
        if filters.sources:
            clauses.append({"source": {"$in": list(filters.sources)}})
        if filters.doc_ids:
            clauses.append({"doc_id": {"$in": list(filters.doc_ids)}})
        if filters.since:
            clauses.append({"published_num": {"$gte": published_number(filters.since)}})
        if filters.until:
            clauses.append({"published_num": {"$lte": published_number(filters.until)}})
        if filters.since and not filters.until:
            pass
    if extra:
        clauses.append(extra)
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class Store:
    """Access to one newsrag store. Thread-safe for readers; writers serialize on a lock."""

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        self.settings = settings
        self.client = client if client is not None else shared_client(settings)
        chunks, sentences, manifest = self._open_collections()
        self.chunks = _Collection(self, chunks)
        self.sentences = _Collection(self, sentences)
        self.manifest = _Collection(self, manifest)
        self._write_lock = threading.Lock()

    def _open_collections(self) -> tuple[Any, Any, Any]:
        name = self.settings.collection
        try:
            return (
                self.client.get_or_create_collection(
                    name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
                ),
                self.client.get_or_create_collection(
                    f"{name}-sentences",
                    embedding_function=None,
                    configuration={"hnsw": {"space": "cosine"}},
                ),
                self.client.get_or_create_collection(f"{name}-manifest", embedding_function=None),
            )
        except StoreError:
            raise
        except Exception as exc:
            raise StoreUnavailableError(f"store unavailable: {_describe(exc)}") from None

    def _call(self, coll: _Collection, method: str, args: tuple, kwargs: dict) -> Any:
        """Every Chroma call of the store goes through here (see `_Collection`)."""
        retried = reopened = False
        while True:
            handle = coll.handle
            try:
                return getattr(handle, method)(*args, **kwargs)
            except Exception as exc:
                kind = _failure_kind(exc)
                if kind == "gone" and not reopened:
                    reopened = True
                    self._reopen()
                    continue
                if kind == "stale" and not retried:
                    retried = True
                    continue
                if kind in ("timeout", "down", "stale"):
                    raise StoreUnavailableError(
                        f"store unavailable: {self.location}: {_describe(exc)}"
                    ) from None
                raise

    def _reopen(self) -> None:
        log.info("store collections were recreated elsewhere; reopening them")
        chunks, sentences, manifest = self._open_collections()
        self.chunks.handle, self.sentences.handle = chunks, sentences
        self.manifest.handle = manifest

    # ----- configuration -------------------------------------------------------------------
    def config(self) -> StoreConfig | None:
        got = self.manifest.get(ids=[STORE_KEY], include=["metadatas"])
        if not got["ids"]:
            return None
        m = got["metadatas"][0]
        return StoreConfig(m["model"], int(m["dim"]), int(m["chunk_size"]), int(m["chunk_overlap"]))

    def ensure_config(self, wanted: StoreConfig) -> None:
        """Refuse to mix models or chunkings in one store."""
        have = self.config()
        if have is None:
            self._put_store_record(wanted, new_generation=True)
            return
        if have != wanted:
            diffs = [
                f"{k}: store has {getattr(have, k)!r}, settings ask {getattr(wanted, k)!r}"
                for k in ("model", "dim", "chunk_size", "chunk_overlap")
                if getattr(have, k) != getattr(wanted, k)
            ]
            raise StoreMismatchError(
                f"the store at {self.location} was built with other settings ("
                + "; ".join(diffs)
                + "). Re-ingest everything with `newsrag ingest --rebuild`, or point "
                "NEWSRAG_STORE_DIR / NEWSRAG_COLLECTION at another store."
            )

    def check_readable(self, embedder_name: str, dim: int) -> None:
        have = self.config()
        if have is None:
            raise StoreError(f"no store at {self.location} yet: run `newsrag ingest` first")
        if have.model != embedder_name or have.dim != dim:
            raise StoreMismatchError(
                f"the store at {self.location} was built with model {have.model!r} "
                f"(dim {have.dim}) but queries would use {embedder_name!r} (dim {dim}); "
                "run `newsrag ingest --rebuild` or set NEWSRAG_EMBED_MODEL to match"
            )

    @property
    def location(self) -> str:
        if self.settings.chroma_url:
            return f"{self.settings.chroma_url} (collection {self.settings.collection})"
        return str(self.settings.store_dir)

    def generation(self) -> str:
        got = self.manifest.get(ids=[STORE_KEY], include=["metadatas"])
        return str(got["metadatas"][0].get("generation", "")) if got["ids"] else ""

    def _put_store_record(self, cfg: StoreConfig, *, new_generation: bool) -> None:
        meta = cfg.as_metadata()
        meta["generation"] = uuid.uuid4().hex if new_generation else self.generation()
        self.manifest.upsert(ids=[STORE_KEY], embeddings=[[1.0]], metadatas=[meta])

    def bump_generation(self) -> None:
        cfg = self.config()
        if cfg is not None:
            self._put_store_record(cfg, new_generation=True)

    # ----- manifest --------------------------------------------------------------------------
    def documents(self) -> dict[str, DocumentInfo]:
        """Committed articles by doc_id."""
        out: dict[str, DocumentInfo] = {}
        for rid, meta in self._iter_manifest():
            if rid.startswith(DOC_PREFIX) and meta.get("sha256"):
                info = _doc_info(rid, meta)
                out[info.doc_id] = info
        return out

    def list_documents(self) -> list[DocumentInfo]:
        docs = list(self.documents().values())
        docs.sort(key=lambda d: (d.published or "", d.title), reverse=True)
        return docs

    def sources(self) -> list[str]:
        return sorted({d.source for d in self.documents().values() if d.source})

    def committed_sha(self, doc_ids: list[str]) -> dict[str, str]:
        """Current sha256 of each article (absent: not visible). One round trip."""
        if not doc_ids:
            return {}
        got = self.manifest.get(
            ids=[DOC_PREFIX + d for d in dict.fromkeys(doc_ids)], include=["metadatas"]
        )
        return {
            rid[len(DOC_PREFIX) :]: str(m.get("sha256", ""))
            for rid, m in zip(got["ids"], got["metadatas"], strict=True)
            if m.get("sha256")
        }

    def _iter_manifest(self) -> Iterator[tuple[str, dict[str, Any]]]:
        offset = 0
        while True:
            got = self.manifest.get(include=["metadatas"], limit=PAGE, offset=offset)
            if not got["ids"]:
                return
            yield from zip(got["ids"], got["metadatas"], strict=True)
            if len(got["ids"]) < PAGE:
                return
            offset += PAGE

    def pending(self) -> dict[str, dict[str, Any]]:
        return {
            rid[len(DOC_PREFIX) :]: meta
            for rid, meta in self._iter_manifest()
            if rid.startswith(DOC_PREFIX) and meta.get("pending")
        }

    # ----- writing -----------------------------------------------------------------------------
    def write_article(
        self,
        article: Article,
        chunks: list[Chunk],
        chunk_vectors: np.ndarray,
        sentences: list[SentenceRecord],
        sentence_vectors: np.ndarray,
    ) -> None:
        """Replace one article's chunks atomically as far as readers can tell."""
        self.write_articles(
            [ArticleWrite(article, chunks, chunk_vectors, sentences, sentence_vectors)]
        )

    def write_articles(self, writes: list[ArticleWrite]) -> None:
        """Replace several articles' chunks, each atomically as far as readers can tell.

        The protocol of one article (pending → add → flip → delete old → clear) is run for
        the whole batch at once, one Chroma call per step instead of one per step and article:
        per-article calls, each a database commit, cost more than the embedding itself.
        """
        if not writes:
            return
        rids = [DOC_PREFIX + w.article.doc_id for w in writes]
        shas = [w.article.sha256 for w in writes]
        with self._write_lock:
            old = self.manifest.get(ids=rids, include=["metadatas"])
            old_meta = dict(zip(old["ids"], old["metadatas"], strict=True))
            self.manifest.upsert(
                ids=rids,
                embeddings=[[1.0]] * len(rids),
                metadatas=[
                    {**(old_meta.get(rid) or {"sha256": ""}), "pending": sha}
                    for rid, sha in zip(rids, shas, strict=True)
                ],
            )

            chunk_ids: list[str] = []
            chunk_vecs: list[np.ndarray] = []
            chunk_docs: list[str] = []
            chunk_metas: list[dict[str, Any]] = []
            sent_ids: list[str] = []
            sent_vecs: list[np.ndarray] = []
            sent_metas: list[dict[str, Any]] = []
            for w, sha in zip(writes, shas, strict=True):
                base = _chunk_base_metadata(w.article, sha)
                per_chunk = Counter(s.chunk_id for s in w.sentences)
                for c, vec in zip(w.chunks, w.chunk_vectors, strict=True):
                    chunk_ids.append(c.chunk_id)
                    chunk_vecs.append(vec)
                    chunk_docs.append(c.text)
                    chunk_metas.append(
                        {
                            **base,
                            "ordinal": c.ordinal,
                            "start": c.start,
                            "end": c.end,
                            "sentences": per_chunk.get(c.chunk_id, 0),
                        }
                    )
                for sr, vec in zip(w.sentences, w.sentence_vectors, strict=True):
                    sent_ids.append(f"{sr.chunk_id}/s{sr.index}")
                    sent_vecs.append(vec)
                    sent_metas.append(
                        {
                            "chunk_id": sr.chunk_id,
                            "doc_id": w.article.doc_id,
                            "sha": sha,
                            "index": sr.index,
                            "start": sr.start,
                            "end": sr.end,
                            "tokens": sr.tokens or "",
                        }
                    )
            for lo in range(0, len(chunk_ids), PAGE):
                self.chunks.upsert(
                    ids=chunk_ids[lo : lo + PAGE],
                    embeddings=np.stack(chunk_vecs[lo : lo + PAGE]),
                    documents=chunk_docs[lo : lo + PAGE],
                    metadatas=chunk_metas[lo : lo + PAGE],
                )
            for lo in range(0, len(sent_ids), PAGE):
                self.sentences.upsert(
                    ids=sent_ids[lo : lo + PAGE],
                    embeddings=np.stack(sent_vecs[lo : lo + PAGE]),
                    metadatas=sent_metas[lo : lo + PAGE],
                )

            committed = [
                _manifest_metadata(w.article, sha, len(w.chunks))
                for w, sha in zip(writes, shas, strict=True)
            ]
            # The flip keeps `pending` until the old version is deleted, so a run killed in
            # between leaves the old chunks to `repair`, never as unlisted orphans; clearing it
            # and bumping the generation is one write, so a kill cannot skip the bump either.
            self.manifest.upsert(
                ids=rids,
                embeddings=[[1.0]] * len(rids),
                metadatas=[{**m, "pending": sha} for m, sha in zip(committed, shas, strict=True)],
            )
            for rid, w, sha in zip(rids, writes, shas, strict=True):
                if (old_meta.get(rid) or {}).get("sha256") or (old_meta.get(rid) or {}).get(
                    "pending"
                ):  # an older version (or an interrupted write) may have left records
                    self._delete_records(w.article.doc_id, keep_sha=sha)
            ids, metas = list(rids), list(committed)
            cfg = self.config()
            if cfg is not None:
                ids.append(STORE_KEY)
                metas.append({**cfg.as_metadata(), "generation": uuid.uuid4().hex})
            self.manifest.upsert(ids=ids, embeddings=[[1.0]] * len(ids), metadatas=metas)

    def delete_article(self, doc_id: str) -> None:
        rid = DOC_PREFIX + doc_id
        with self._write_lock:
            got = self.manifest.get(ids=[rid], include=["metadatas"])
            if got["ids"]:
                meta = dict(got["metadatas"][0])
                meta["sha256"] = ""  # hide at once
                meta["pending"] = "delete"
                self.manifest.upsert(ids=[rid], embeddings=[[1.0]], metadatas=[meta])
            self._delete_records(doc_id, keep_sha=None)
            self.manifest.delete(ids=[rid])
            self.bump_generation()

    def repair(self) -> int:
        """Finish what an interrupted run left: drop chunks of any version not committed."""
        fixed = 0
        for doc_id, meta in self.pending().items():
            with self._write_lock:
                committed = str(meta.get("sha256", ""))
                rid = DOC_PREFIX + doc_id
                if committed:
                    self._delete_records(doc_id, keep_sha=committed)
                    # An upsert merges metadata keys: clear the marker, don't drop the key.
                    clean = {**meta, "pending": ""}
                    self.manifest.upsert(ids=[rid], embeddings=[[1.0]], metadatas=[clean])
                else:
                    self._delete_records(doc_id, keep_sha=None)
                    self.manifest.delete(ids=[rid])
            fixed += 1
        if fixed:
            log.info("repaired %d article(s) left half-written by an interrupted ingest", fixed)
            self.bump_generation()
        return fixed

    def reset(self) -> None:
        """Drop everything (for --rebuild)."""
        with self._write_lock:
            name = self.settings.collection
            for coll in (name, f"{name}-sentences", f"{name}-manifest"):
                try:
                    self.client.delete_collection(coll)
                except Exception:  # noqa: BLE001 - absent collection
                    pass
        self.__init__(self.settings, self.client)  # type: ignore[misc]

    def _delete_records(self, doc_id: str, *, keep_sha: str | None) -> None:
        where: dict[str, Any] = {"doc_id": doc_id}
        if keep_sha is not None:
            where = {"$and": [{"doc_id": doc_id}, {"sha": {"$ne": keep_sha}}]}
        self.chunks.delete(where=where)
        self.sentences.delete(where=where)

    # ----- reading -----------------------------------------------------------------------------
    def count(self) -> int:
        return self.chunks.count()

    def dense_search(
        self, vector: np.ndarray, n: int, filters: Filters | None = None
    ) -> list[ChunkHit]:
        # No count() first: Chroma returns fewer than n (or none) by itself, and a round trip
        # per question is worth saving under load.
        got = self.chunks.query(
            query_embeddings=[vector.tolist()],
            n_results=n,
            where=_where(filters),
            include=["distances", "metadatas", "documents", "embeddings"],
        )
        return [
            ChunkHit(cid, m["doc_id"], doc, m, 1.0 - float(dist), np.asarray(vec, np.float32))
            for cid, m, doc, dist, vec in zip(
                got["ids"][0],
                got["metadatas"][0],
                got["documents"][0],
                got["distances"][0],
                got["embeddings"][0],
                strict=True,
            )
        ]

    def get_chunks(self, chunk_ids: list[str], *, with_vectors: bool = False) -> list[ChunkHit]:
        if not chunk_ids:
            return []
        include = ["metadatas", "documents"] + (["embeddings"] if with_vectors else [])
        got = self.chunks.get(ids=chunk_ids, include=include)
        by_id = {
            cid: ChunkHit(cid, m["doc_id"], doc, m)
            for cid, m, doc in zip(got["ids"], got["metadatas"], got["documents"], strict=True)
        }
        if with_vectors:
            for cid, vec in zip(got["ids"], got["embeddings"], strict=True):
                by_id[cid].vector = np.asarray(vec, dtype=np.float32)
        return [by_id[c] for c in chunk_ids if c in by_id]

    def sentence_records(
        self, chunk_ids: list[str], counts: dict[str, int] | None = None
    ) -> dict[str, list[tuple[SentenceRecord, np.ndarray]]]:
        """Sentences (with vectors) of each chunk, in order. One round trip.

        `counts` (chunk_id -> number of sentences, the chunk's "sentences" metadata) lets the
        records be fetched by id, about 2-3x cheaper than a metadata filter; chunks written
        before that field existed fall back to the filter."""
        if not chunk_ids:
            return {}
        if counts is not None and all(c in counts for c in chunk_ids):
            ids = [f"{c}/s{i}" for c in dict.fromkeys(chunk_ids) for i in range(int(counts[c]))]
            if not ids:
                return {}
            got = self.sentences.get(ids=ids, include=["metadatas", "embeddings"])
        else:
            got = self.sentences.get(
                where={"chunk_id": {"$in": list(chunk_ids)}}, include=["metadatas", "embeddings"]
            )
        out: dict[str, list[tuple[SentenceRecord, np.ndarray]]] = {}
        for m, vec in zip(got["metadatas"], got["embeddings"], strict=True):
            rec = SentenceRecord(
                m["chunk_id"], int(m["index"]), int(m["start"]), int(m["end"]), m.get("tokens")
            )
            out.setdefault(rec.chunk_id, []).append((rec, np.asarray(vec, dtype=np.float32)))
        for recs in out.values():
            recs.sort(key=lambda r: r[0].index)
        return out

    def iter_chunks(self) -> Iterator[ChunkHit]:
        """All chunk records (for rebuilding BM25), visible or not: callers filter."""
        offset = 0
        while True:
            got = self.chunks.get(include=["metadatas", "documents"], limit=PAGE, offset=offset)
            if not got["ids"]:
                return
            for cid, m, doc in zip(got["ids"], got["metadatas"], got["documents"], strict=True):
                yield ChunkHit(cid, m["doc_id"], doc, m)
            if len(got["ids"]) < PAGE:
                return
            offset += PAGE


def chunk_id_for(doc_id: str, sha: str, ordinal: int) -> str:
    """doc_id + content version + ordinal: a new version never overwrites the old in place,
    which is what lets readers switch versions in one manifest write."""
    return f"{doc_id}#{sha[:12]}:{ordinal}"


def _chunk_base_metadata(article: Article, sha: str) -> dict[str, Any]:
    return {
        "doc_id": article.doc_id,
        "sha": sha,
        "title": article.title,
        "source": article.source,
        "url": article.url,
        "author": article.author,
        "published": article.published.isoformat() if article.published else "",
        "published_num": published_number(article.published),
        "path": article.path,
    }


def _manifest_metadata(article: Article, sha: str, n_chunks: int) -> dict[str, Any]:
    return {
        "doc_id": article.doc_id,
        "sha256": sha,
        "chunks": n_chunks,
        "title": article.title,
        "source": article.source,
        "url": article.url,
        "published": article.published.isoformat() if article.published else "",
        "path": article.path,
        "pending": "",
    }


def _doc_info(rid: str, meta: dict[str, Any]) -> DocumentInfo:
    return DocumentInfo(
        doc_id=str(meta.get("doc_id") or rid[len(DOC_PREFIX) :]),
        sha256=str(meta.get("sha256", "")),
        chunks=int(meta.get("chunks", 0)),
        title=str(meta.get("title", "")),
        source=str(meta.get("source", "")),
        url=str(meta.get("url", "")),
        published=str(meta.get("published", "")),
        path=str(meta.get("path", "")),
    )
