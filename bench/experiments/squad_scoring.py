"""How the scoring constants of `rag/scoring.py` were chosen (issue 3), on SQuAD v1.1 dev.

Loads the 2,067 passages and 10,570 questions of ../shared/data/squad-dev/, computes once and
caches under /tmp/newsrag-exp/ (as .npy): MiniLM vectors of every passage (title + "\\n" + text),
of every sentence (`sentence_spans`), of every question, and BM25 scores (bm25s, English stop
words, snowball stemmer) of every question against every passage. Then evaluates, over all
questions, BM25 alone, dense alone, RRF and the z-score fusion of `rag.scoring`, reports
MRR@10, R@1/5/10, answer containment and abstention on a dev split (questions of the first 10
titles, the only ones used for tuning), on the rest, and on all.

    .venv/bin/python bench/experiments/squad_scoring.py [--cache-only] [--tune]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from tqdm import tqdm

DATA = Path(os.environ.get("SQUAD_DIR", "/work/shared/data/squad-dev"))
CACHE = Path(os.environ.get("NEWSRAG_EXP_CACHE", "/tmp/newsrag-exp"))
ROOT = Path(__file__).resolve().parents[2]
DEV_TITLES = 10

log = logging.getLogger("squad_scoring")


def load() -> tuple[list[dict], list[dict]]:
    passages = [json.loads(line) for line in open(DATA / "passages.jsonl")]
    questions = [json.loads(line) for line in open(DATA / "questions.jsonl")]
    return passages, questions


def sentences_of(passages: list[dict]) -> tuple[list[str], np.ndarray]:
    """All sentence texts, and for each the index of its passage."""
    path = CACHE / "sentences.json"
    if path.exists():
        d = json.loads(path.read_text())
        return d["texts"], np.asarray(d["owner"], dtype=np.int64)
    from rag.sentences import sentence_spans

    texts, owner = [], []
    for i, p in enumerate(tqdm(passages, desc="sentences")):
        for s, e in sentence_spans(p["text"]):
            texts.append(p["text"][s:e])
            owner.append(i)
    path.write_text(json.dumps({"texts": texts, "owner": owner}))
    return texts, np.asarray(owner, dtype=np.int64)


def _cached(name: str, fn) -> np.ndarray:
    path = CACHE / f"{name}.npy"
    if path.exists():
        return np.load(path)
    t = time.perf_counter()
    arr = fn()
    np.save(path, arr)
    log.info("%s: %s in %.0fs", name, arr.shape, time.perf_counter() - t)
    return arr


def _embedder():
    from rag.embedding import get_embedder
    from rag.settings import Settings

    return get_embedder(Settings())


def vectors(passages, questions, sent_texts, owner, *, extra: bool = False) -> dict[str, np.ndarray]:
    out = {}
    emb = None

    def enc(texts):
        nonlocal emb
        emb = emb or _embedder()
        return emb.encode(texts, show_progress=True)

    out["q"] = _cached("q_vec", lambda: enc([q["question"] for q in questions]))
    out["chunk"] = _cached("chunk_vec", lambda: enc([p["title"] + "\n" + p["text"] for p in passages]))
    out["sent"] = _cached("sent_vec", lambda: enc(sent_texts))
    if extra:
        out["sent_t"] = _cached(
            "sent_title_vec", lambda: enc([passages[o]["title"] + "\n" + s for s, o in zip(sent_texts, owner)])
        )
        out["chunk_nt"] = _cached("chunk_notitle_vec", lambda: enc([p["text"] for p in passages]))
    return out


def bm25_scores(passages, questions, *, with_title: bool = True) -> np.ndarray:
    """(questions x passages) float32 BM25 scores."""
    import bm25s
    import Stemmer

    def fn():
        stemmer = Stemmer.Stemmer("english")
        corpus = [(p["title"] + "\n" if with_title else "") + p["text"] for p in passages]
        retr = bm25s.BM25()
        retr.index(bm25s.tokenize(corpus, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
        out = np.zeros((len(questions), len(passages)), dtype=np.float32)
        qtok = bm25s.tokenize([q["question"] for q in questions], stopwords="en", stemmer=stemmer,
                              return_ids=False, show_progress=False)
        for i, toks in enumerate(tqdm(qtok, desc="bm25")):
            if toks:
                out[i] = retr.get_scores(toks)
        return out

    return _cached("bm25" if with_title else "bm25_notitle", fn)


# ------------------------------------------------------------------------------------------
# Evaluation


class Pool:
    """Everything per passage that a store would hold: sentences, their tokens, vectors."""

    def __init__(self, passages, sent_texts, owner, chunk_vec, sent_vec):
        from rag import scoring

        self.passages = passages
        self.ids = [p["id"] for p in passages]
        self.sent_texts = sent_texts
        starts = np.searchsorted(owner, np.arange(len(passages)))
        ends = np.searchsorted(owner, np.arange(len(passages)), side="right")
        self.sent_range = list(zip(starts.tolist(), ends.tolist()))
        self.chunk_vec = chunk_vec
        self.sent_vec = sent_vec
        tok_path = CACHE / "sent_tokens.json"
        if tok_path.exists():
            toks = json.loads(tok_path.read_text())
        else:
            toks = [scoring.tokenize(s) for s in tqdm(sent_texts, desc="tokenize")]
            tok_path.write_text(json.dumps(toks))
        self.sent_tokens = [frozenset(t) for t in toks]
        doc_tokens = [scoring.tokenize(p["title"] + "\n" + p["text"]) for p in passages]
        self.idf = scoring.bm25_idf(scoring.doc_frequencies(doc_tokens), len(passages))

    def candidate(self, pid: int, qv: np.ndarray, bm25: float, dense: float, sent_vec=None):
        from rag.scoring import Candidate

        a, b = self.sent_range[pid]
        sv = self.sent_vec if sent_vec is None else sent_vec
        return Candidate(
            chunk_id=self.ids[pid],
            bm25=float(bm25),
            dense=float(dense),
            sentence_cos=sv[a:b] @ qv,
            sentence_texts=self.sent_texts[a:b],
            sentence_tokens=self.sent_tokens[a:b],
            payload=pid,
        )


def pool_ids(bm25_row: np.ndarray, dense_row: np.ndarray, n: int) -> np.ndarray:
    top_b = np.argpartition(-bm25_row, n)[:n]
    top_b = top_b[bm25_row[top_b] > 0]
    top_d = np.argpartition(-dense_row, n)[:n]
    return np.union1d(top_b, top_d)


def build(pool: Pool, questions, q_vec, bm25, dense, *, n: int, sent_vec=None, desc="features"):
    """Per question: candidate passage ids, raw features, and the candidate objects' overlaps."""
    from rag import scoring

    out = []
    for qi, q in enumerate(tqdm(questions, desc=desc, mininterval=2)):
        ids = pool_ids(bm25[qi], dense[qi], n)
        cands = [pool.candidate(p, q_vec[qi], bm25[qi, p], dense[qi, p], sent_vec) for p in ids]
        terms = scoring.question_terms(q["question"])
        feats = scoring.candidate_features(cands, terms, idf=pool.idf)
        out.append((ids, feats))
    return out


def pad(feat_list, gold):
    """(Q, C, F) features, (Q, C) validity mask, (Q,) gold column or -1."""
    c = max(len(ids) for ids, _ in feat_list)
    f = feat_list[0][1].shape[1]
    X = np.zeros((len(feat_list), c, f))
    M = np.zeros((len(feat_list), c), dtype=bool)
    G = np.full(len(feat_list), -1)
    for i, ((ids, feats), g) in enumerate(zip(feat_list, gold)):
        X[i, : len(ids)] = feats
        M[i, : len(ids)] = True
        hit = np.nonzero(ids == g)[0]
        if hit.size:
            G[i] = hit[0]
    return X, M, G


def znorm(X, M, method="zscore"):
    cnt = M.sum(1, keepdims=True)[..., None]
    m = M[..., None]
    if method == "minmax":
        lo = np.where(m, X, np.inf).min(1, keepdims=True)
        hi = np.where(m, X, -np.inf).max(1, keepdims=True)
        return np.where(m, (X - lo) / np.maximum(hi - lo, 1e-6), 0)
    mu = (X * m).sum(1, keepdims=True) / cnt
    sd = np.sqrt((((X - mu) * m) ** 2).sum(1, keepdims=True) / cnt)
    return np.where(m, (X - mu) / np.maximum(sd, 1e-6), 0)


def gold_rank(S, M, G):
    """1-based rank of the gold column per question (inf when not in the pool)."""
    S = np.where(M, S, -np.inf)
    gs = S[np.arange(len(G)), np.maximum(G, 0)]
    r = (S > gs[:, None]).sum(1) + 1.0
    return np.where(G >= 0, r, np.inf)


def full_rank(scores: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Rank of gold among all passages for a (Q, P) score matrix (single-signal baselines)."""
    gs = scores[np.arange(len(gold)), gold]
    return (scores > gs[:, None]).sum(1) + 1.0


def metrics(r: np.ndarray) -> dict[str, float]:
    return {
        "mrr@10": float(np.where(r <= 10, 1.0 / r, 0).mean()),
        "r@1": float((r <= 1).mean()),
        "r@5": float((r <= 5).mean()),
        "r@10": float((r <= 10).mean()),
    }


def table(rows: dict[str, dict[str, np.ndarray]], splits: dict[str, np.ndarray]) -> str:
    lines = []
    head = f"{'method':34s}" + "".join(f"| {s:^27s}" for s in splits)
    lines += [head, f"{'':34s}" + "| mrr@10  r@1   r@5   r@10  " * len(splits)]
    for name, r in rows.items():
        cells = []
        for mask in splits.values():
            m = metrics(r[mask])
            cells.append(f"| {m['mrr@10']:.3f} {m['r@1']:.3f} {m['r@5']:.3f} {m['r@10']:.3f} ")
        lines.append(f"{name:34s}" + "".join(cells))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache-only", action="store_true")
    ap.add_argument("--extra", action="store_true", help="also title+sentence and untitled chunk vectors")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    CACHE.mkdir(parents=True, exist_ok=True)
    passages, questions = load()
    sent_texts, owner = sentences_of(passages)
    log.info("%d passages, %d sentences, %d questions", len(passages), len(sent_texts), len(questions))
    bm25_scores(passages, questions)
    bm25_scores(passages, questions, with_title=False)
    vectors(passages, questions, sent_texts, owner, extra=args.extra)
    if args.cache_only:
        return


if __name__ == "__main__":
    main()
