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

import logging
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np

from rag import text
from rag.records import DocumentInfo
from rag.settings import Settings
from rag.store.chroma import make_client, read_marker
from rag.store.lexical import LexicalChunk, LexicalDb, lexical_path, reconcile
from rag.store.reads import StoreReads
from rag.store.schema import (
    DOC_PREFIX,
    LEASE_PREFIX,
    PAGE,
    STORE_KEY,
    ArticleWrite,
    StoreConfig,
    StoreError,
    StoreMismatchError,
    doc_info,
    manifest_metadata,
    records_of,
)

log = logging.getLogger(__name__)


def open_store(settings: Settings) -> Store:
    """A new `Store` on its own client. Long-lived processes share one through
    `rag.pipeline.shared_store` (the composition root keeps the process-wide instances)."""
    return Store(settings, make_client(settings))


_HOW = {"separate": "one sentence at a time", "pooled": "from their chunk's encoder pass"}


class Store(StoreReads):
    """Access to one newsrag store. Thread-safe for readers; writers serialize on a lock."""

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        super().__init__(settings, client if client is not None else make_client(settings))
        self._write_lock = threading.Lock()
        # the lexical index, written here alongside every Chroma write (rag/store/lexical.py)
        self.lexical = LexicalDb(lexical_path(settings))

    # ----- configuration -------------------------------------------------------------------
    def config(self) -> StoreConfig | None:
        got = self.manifest.get(ids=[STORE_KEY], include=["metadatas"])
        if not got["ids"]:
            return None
        return StoreConfig.from_metadata(got["metadatas"][0])

    def ensure_config(self, wanted: StoreConfig) -> None:
        """Refuse to mix models or chunkings in one store."""
        have = self.config()
        if have is None:
            self._put_store_record(wanted, new_generation=True)
            return
        if have != wanted:
            diffs = have.differences(wanted)
            raise StoreMismatchError(
                f"the store at {self.location} was built with other settings ("
                + "; ".join(diffs)
                + "). Re-ingest everything with `newsrag ingest --rebuild`, or point "
                "NEWSRAG_STORE_DIR / NEWSRAG_COLLECTION at another store."
            )

    def check_readable(
        self, embedder_name: str, dim: int, sentence_vectors: str = "separate"
    ) -> None:
        have = self.config()
        if have is None:
            raise StoreError(f"no store at {self.location} yet: run `newsrag ingest` first")
        if have.model != embedder_name or have.dim != dim:
            raise StoreMismatchError(
                f"the store at {self.location} was built with model {have.model!r} "
                f"(dim {have.dim}) but queries would use {embedder_name!r} (dim {dim}); "
                "run `newsrag ingest --rebuild` or set NEWSRAG_EMBED_MODEL to match"
            )
        if have.tokenizer != text.TOKENIZER_VERSION:
            raise StoreMismatchError(
                f"the store at {self.location} was built with tokenizer version "
                f"{have.tokenizer!r} but this newsrag uses {text.TOKENIZER_VERSION!r}; "
                "run `newsrag ingest --rebuild`"
            )
        if have.sentence_vectors != sentence_vectors:
            made, makes = (_HOW.get(h, h) for h in (have.sentence_vectors, sentence_vectors))
            raise StoreMismatchError(
                f"the store at {self.location} holds sentence vectors made {made} but this "
                f"newsrag makes them {makes}; run `newsrag ingest --rebuild`"
            )

    def generation(self) -> str:
        got = self.manifest.get(ids=[STORE_KEY], include=["metadatas"])
        return str(got["metadatas"][0].get("generation", "")) if got["ids"] else ""

    def _put_store_record(self, cfg: StoreConfig, *, new_generation: bool) -> None:
        meta = cfg.as_metadata()
        meta["generation"] = uuid.uuid4().hex if new_generation else self.generation()
        self.manifest.upsert(ids=[STORE_KEY], embeddings=[[1.0]], metadatas=[meta])

    def bump_generation(self) -> str:
        """A new generation token (returned; "" when there is no store record)."""
        cfg = self.config()
        if cfg is None:
            return ""
        self._put_store_record(cfg, new_generation=True)
        return self.generation()

    def _lexical_write(
        self,
        articles: list[tuple[str, str, list[LexicalChunk]]],
        removed: list[str],
        stamp: tuple[str, str],
    ) -> None:
        """Update the lexical index after a committed Chroma write. A failure here is logged,
        not raised: the write is done, and readers repair the file from the manifest."""
        import sqlite3

        try:
            self.lexical.replace(articles, removed, stamp=stamp)
            self.lexical.maybe_compact()  # every COMPACT_EVERY batches: O(corpus), rare
        except (sqlite3.Error, OSError) as exc:
            log.warning(
                "lexical index %s not updated (%s); readers will reconcile", self.lexical.path, exc
            )

    # ----- manifest --------------------------------------------------------------------------
    def documents(self) -> dict[str, DocumentInfo]:
        """Committed articles by doc_id."""
        out: dict[str, DocumentInfo] = {}
        for rid, meta in self._iter_manifest():
            if rid.startswith(DOC_PREFIX) and meta.get("sha256"):
                info = doc_info(rid, meta)
                out[info.doc_id] = info
        return out

    def list_documents(self) -> list[DocumentInfo]:
        docs = list(self.documents().values())
        docs.sort(key=lambda d: (d.published or "", d.title), reverse=True)
        return docs

    def sources(self) -> list[str]:
        return sorted({d.source for d in self.documents().values() if d.source})

    def committed_sha(self, doc_ids: list[str]) -> dict[str, str]:
        """Current sha256 of each article (absent: not visible).

        Every question asks this of its ~40 candidates' articles (2.7 ms a round trip on the
        SQuAD store). Embedded, the answers are remembered for as long as the store's change
        marker keeps its token: every write renews it, so a remembered answer is never older
        than the last write this process could see. The token is read before Chroma, so an
        answer read during a write is at worst newer than its token, and is dropped at the
        write's renewal. On a Chroma server (no marker) every call is one round trip."""
        if not doc_ids:
            return {}
        wanted = list(dict.fromkeys(doc_ids))
        token = read_marker(self._marker) if self._marker is not None else None
        known: dict[str, str] = {}
        if token:
            held = self.__dict__.get("_committed")
            if held is None or held[0] != token:
                held = (token, {})
                self.__dict__["_committed"] = held
            known = held[1]
        missing = [d for d in wanted if d not in known]
        if missing:
            got = self.manifest.get(ids=[DOC_PREFIX + d for d in missing], include=["metadatas"])
            fresh = dict.fromkeys(missing, "")
            for rid, m in zip(got["ids"], got["metadatas"], strict=True):
                fresh[rid[len(DOC_PREFIX) :]] = str(m.get("sha256", "") or "")
            known.update(fresh)
            if not token:
                return {d: sha for d, sha in fresh.items() if sha}
        return {d: known[d] for d in wanted if known.get(d)}

    def _iter_manifest(self) -> Iterator[tuple[str, dict[str, Any]]]:
        offset = 0
        while True:
            got = self.manifest.get(include=["metadatas"], limit=PAGE, offset=offset)
            if not got["ids"]:
                return
            for rid, meta in zip(got["ids"], got["metadatas"], strict=True):
                if not rid.startswith(LEASE_PREFIX):  # the ingest lease is not an entry
                    yield rid, meta
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
            before = self.generation()
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

            chunks, sents = records_of(writes, shas)
            chunk_ids, chunk_vecs, chunk_docs, chunk_metas = chunks
            sent_ids, sent_vecs, sent_metas = sents
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
                manifest_metadata(w.article, sha, len(w.chunks))
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
            after = uuid.uuid4().hex
            if cfg is not None:
                ids.append(STORE_KEY)
                metas.append({**cfg.as_metadata(), "generation": after})
            self.manifest.upsert(ids=ids, embeddings=[[1.0]] * len(ids), metadatas=metas)
            lexical: dict[str, tuple[str, str, list[LexicalChunk]]] = {
                w.article.doc_id: (w.article.doc_id, sha, [])
                for w, sha in zip(writes, shas, strict=True)
            }
            for cid, doc, m in zip(chunk_ids, chunk_docs, chunk_metas, strict=True):
                lexical[m["doc_id"]][2].append(
                    LexicalChunk(
                        cid,
                        text.bm25_text(str(m.get("title", "")), doc),
                        str(m.get("source", "") or ""),
                        int(m.get("published_num", -1)),
                    )
                )
            self._lexical_write(list(lexical.values()), [], (before, after if cfg else before))

    def delete_article(self, doc_id: str) -> None:
        rid = DOC_PREFIX + doc_id
        with self._write_lock:
            before = self.generation()
            got = self.manifest.get(ids=[rid], include=["metadatas"])
            if got["ids"]:
                meta = dict(got["metadatas"][0])
                meta["sha256"] = ""  # hide at once
                meta["pending"] = "delete"
                self.manifest.upsert(ids=[rid], embeddings=[[1.0]], metadatas=[meta])
            self._delete_records(doc_id, keep_sha=None)
            self.manifest.delete(ids=[rid])
            after = self.bump_generation()
            self._lexical_write([], [doc_id], (before, after))

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
            reconcile(self.lexical, self, self.bump_generation())
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
            self.lexical.clear()
            self.evidence.clear()
            self.renew_marker()
        self.__init__(self.settings, self.client)  # type: ignore[misc]

    def _delete_records(self, doc_id: str, *, keep_sha: str | None) -> None:
        where: dict[str, Any] = {"doc_id": doc_id}
        if keep_sha is not None:
            where = {"$and": [{"doc_id": doc_id}, {"sha": {"$ne": keep_sha}}]}
        self.chunks.delete(where=where)
        self.sentences.delete(where=where)
