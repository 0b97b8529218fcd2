"""What `news_scoring.py` reads and caches: store snapshots (chunks, sentences, vectors), the
questions (RealTimeQA periods, SQuAD dev), and per-question candidate pools with their features.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.text import bm25_tokenize

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("NEWSRAG_EXP_CACHE", "/work/data/newsrag-exp"))
REPO = Path(os.environ.get("REALTIMEQA_REPO", "/work/data/realtimeqa"))
SQUAD = Path(os.environ.get("SQUAD_DIR", ROOT.parent / "shared" / "data" / "squad-dev"))
SQUAD_DEV_TITLES = 10
POOL = 40  # dense top-N and BM25 top-N, as Settings.candidates
log = logging.getLogger("news_scoring")


@dataclass
class Snapshot:
    """A store's visible chunks and sentences as arrays (what retrieval reads)."""

    ids: list[str]
    doc_ids: list[str]
    texts: list[str]
    titles: list[str]
    ordinals: np.ndarray
    published: np.ndarray
    chunk_vec: np.ndarray
    sent_range: np.ndarray  # (chunks, 2) into the sentence arrays
    sent_texts: list[str]
    sent_tokens: list[tuple[str, ...]]
    sent_vec: np.ndarray


def snapshot(store_dir: Path, collection: str, name: str) -> Snapshot:
    path = CACHE / f"{name}.snapshot.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    from rag.settings import Settings
    from rag.store import open_store

    store = open_store(Settings(store_dir=store_dir, collection=collection))
    committed = {d.doc_id: d.sha256 for d in store.documents().values()}
    rows = []
    offset = 0
    while True:
        got = store.chunks.get(
            include=["metadatas", "documents", "embeddings"], limit=2000, offset=offset
        )
        for cid, m, doc, vec in zip(
            got["ids"], got["metadatas"], got["documents"], got["embeddings"], strict=True
        ):
            if committed.get(m["doc_id"]) == m.get("sha"):
                rows.append((cid, m, doc, np.asarray(vec, np.float32)))
        if len(got["ids"]) < 2000:
            break
        offset += 2000
    rows.sort(key=lambda r: (r[1]["doc_id"], int(r[0].rsplit(":", 1)[1])))
    counts = {cid: int(m.get("sentences", 0)) for cid, m, _, _ in rows}
    sent_texts, sent_tokens, sent_vecs, ranges = [], [], [], []
    for i in range(0, len(rows), 500):
        block = rows[i : i + 500]
        recs = store.sentence_records([r[0] for r in block], counts=counts)
        for cid, m, doc, _ in block:
            a = len(sent_texts)
            start = int(m.get("start", 0))
            for rec, vec in recs.get(cid, []):
                sent_texts.append(doc[rec.start - start : rec.end - start])
                sent_tokens.append(tuple((rec.tokens or "").split()))
                sent_vecs.append(vec)
            ranges.append((a, len(sent_texts)))
    snap = Snapshot(
        ids=[r[0] for r in rows],
        doc_ids=[r[1]["doc_id"] for r in rows],
        texts=[r[2] for r in rows],
        titles=[str(r[1].get("title", "")) for r in rows],
        ordinals=np.array([int(r[0].rsplit(":", 1)[1]) for r in rows]),
        published=np.array([int(r[1].get("published_num", -1)) for r in rows]),
        chunk_vec=np.stack([r[3] for r in rows]),
        sent_range=np.array(ranges),
        sent_texts=sent_texts,
        sent_tokens=sent_tokens,
        sent_vec=np.stack(sent_vecs) if sent_vecs else np.zeros((0, 384), np.float32),
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(snap))
    log.info("%s: %d chunks, %d sentences", name, len(snap.ids), len(sent_texts))
    return snap


# ----- lexical indexes ----------------------------------------------------------------------


def _tok(texts: list[str]) -> list[list[str]]:
    return bm25_tokenize(texts)  # the production BM25 analysis, not a copy of it


class Lexical:
    """A bm25s index over given texts; `scores(question)` for every text."""

    def __init__(self, texts: list[str], k1: float = 1.5, b: float = 0.75) -> None:
        import bm25s

        self.r = bm25s.BM25(k1=k1, b=b)
        self.r.index(_tok(texts), show_progress=False)
        self.vocab = self.r.vocab_dict
        self.n = len(texts)

    def scores(self, question: str) -> np.ndarray:
        toks = [t for t in _tok([question])[0] if t in self.vocab]
        if not toks:
            return np.zeros(self.n, np.float32)
        return np.asarray(self.r.get_scores(toks), np.float32)


BM25_VARIANTS = {
    "title+chunk": lambda s: [
        f"{t}\n{x}" if t else x for t, x in zip(s.titles, s.texts, strict=False)
    ],
    "chunk": lambda s: list(s.texts),
    "title-first-chunk": lambda s: [
        f"{t}\n{x}" if t and o == 0 else x
        for t, x, o in zip(s.titles, s.texts, s.ordinals, strict=False)
    ],
}
EXTRA = ("ordinal", "bm25_chunk", "bm25_first", "doc_bm25", "doc_dense")


# ----- questions and features ---------------------------------------------------------------


@dataclass
class Question:
    text: str
    as_of: int  # YYYYMMDD, or 0 for no date restriction
    answer: str = ""  # news: the gold answer string
    gold_doc: str = ""  # SQuAD: the gold passage's doc id


def news_questions(date_from: str, date_to: str) -> tuple[list[Question], object]:
    from evaluation.realtimeqa import load_realtimeqa

    data = load_realtimeqa(REPO, dt.date.fromisoformat(date_from), dt.date.fromisoformat(date_to))
    qs = [Question(q.question, int(q.date.strftime("%Y%m%d")), q.answer) for q in data.answerable()]
    return qs, data


def squad_questions() -> tuple[list[Question], np.ndarray]:
    rows = [json.loads(x) for x in open(SQUAD / "questions.jsonl")]
    titles = list(dict.fromkeys(json.loads(x)["title"] for x in open(SQUAD / "passages.jsonl")))
    dev = np.array([r["title"] in titles[:SQUAD_DEV_TITLES] for r in rows])
    qs = [
        Question(r["question"], 0, gold_doc=f"squad-passages.jsonl#{r['gold_passage_id']}")
        for r in rows
    ]
    return qs, dev


def _qvecs(name: str, qs: list[Question]) -> np.ndarray:
    path = CACHE / f"{name}.qvec.npy"
    if path.exists():
        arr = np.load(path)
        if len(arr) == len(qs):
            return arr
    from rag.pipeline import shared_embedder as get_embedder
    from rag.settings import Settings

    arr = get_embedder(Settings()).encode([q.text for q in qs])
    np.save(path, arr)
    return arr


@dataclass
class QFeatures:
    idx: np.ndarray  # chunk indices of the pool
    base: np.ndarray  # (C, 5) rag.scoring.FEATURES
    extra: np.ndarray  # (C, len(EXTRA))
    label: np.ndarray  # (C,) the chunk holds the answer / is the gold passage
    pool_bm25: np.ndarray  # the BM25 (title+chunk) ranking's top 10 chunk indices
    pool_dense: np.ndarray


def features(name: str, snap: Snapshot, qs: list[Question], pool: int = POOL) -> list[QFeatures]:
    path = CACHE / f"{name}.features-{pool}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    from tqdm import tqdm

    from evaluation.realtimeqa import contains
    from rag import scoring

    qv = _qvecs(name, qs)
    lex = {k: Lexical(f(snap)) for k, f in BM25_VARIANTS.items()}
    docs = list(dict.fromkeys(snap.doc_ids))
    doc_of = np.array([docs.index(d) for d in snap.doc_ids]) if len(docs) < 5000 else None
    if doc_of is None:
        pos = {d: i for i, d in enumerate(docs)}
        doc_of = np.array([pos[d] for d in snap.doc_ids])
    doc_text = [""] * len(docs)
    for i, d in enumerate(doc_of):
        doc_text[d] = doc_text[d] or snap.titles[i]
        doc_text[d] += "\n" + snap.texts[i]
    doc_lex = Lexical(doc_text)
    out = []
    for qi, q in enumerate(tqdm(qs, desc=name, mininterval=5)):
        ok = (
            np.ones(len(snap.ids), bool)
            if not q.as_of
            else ((snap.published >= 0) & (snap.published <= q.as_of))
        )
        bm = np.where(ok, lex["title+chunk"].scores(q.text), -1.0)
        de = np.where(ok, snap.chunk_vec @ qv[qi], -2.0)
        top_b = np.argsort(-bm, kind="stable")[:pool]
        top_b = top_b[bm[top_b] > 0]
        top_d = np.argsort(-de, kind="stable")[:pool]
        idx = np.union1d(top_b, top_d)
        cands = []
        for i in idx:
            a, b = snap.sent_range[i]
            cands.append(
                scoring.Candidate(
                    chunk_id=snap.ids[i],
                    bm25=float(max(bm[i], 0)),
                    dense=float(de[i]),
                    sentence_cos=snap.sent_vec[a:b] @ qv[qi],
                    sentence_texts=snap.sent_texts[a:b],
                    title=snap.titles[i],
                    sentence_tokens=list(snap.sent_tokens[a:b]),
                )
            )
        base = scoring.candidate_features(cands, scoring.question_terms(q.text))
        d_bm = doc_lex.scores(q.text)
        dd = {}
        for i in idx:  # the best chunk cosine of each article in the pool
            dd[doc_of[i]] = max(dd.get(doc_of[i], -1.0), float(de[i]))
        extra = np.stack(
            [
                snap.ordinals[idx].astype(float),
                lex["chunk"].scores(q.text)[idx],
                lex["title-first-chunk"].scores(q.text)[idx],
                d_bm[doc_of[idx]],
                np.array([dd[doc_of[i]] for i in idx]),
            ],
            axis=1,
        )
        if q.answer:
            label = np.array([contains(snap.texts[i], q.answer) for i in idx])
        else:
            label = np.array([snap.doc_ids[i] == q.gold_doc for i in idx])
        out.append(QFeatures(idx, base, extra, label, top_b[:10], top_d[:10]))
    path.write_bytes(pickle.dumps(out))
    return out
