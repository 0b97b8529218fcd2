"""The data, caches, candidate pools and metrics shared by `squad_scoring.py` (split out so
each file stays readable; see that script's docstring for what was measured)."""

import json
import logging
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("SQUAD_DIR", ROOT.parent / "shared" / "data" / "squad-dev"))
CACHE = Path(os.environ.get("NEWSRAG_EXP_CACHE", "/tmp/newsrag-exp"))
DEV_TITLES = 10  # the fusion weights were tuned on the questions of these titles only
ABSTAIN_TITLES = 24  # the abstention model was fitted on these (half of the 48)
UNANSWERABLE = ROOT / "evaluation" / "data" / "unanswerable.jsonl"
HELDOUT = ROOT / "evaluation" / "data" / "unanswerable-heldout.jsonl"

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
    from rag.embedding import load_embedder
    from rag.settings import Settings

    return load_embedder(Settings())


def vectors(
    passages, questions, sent_texts, owner, *, extra: bool = False
) -> dict[str, np.ndarray]:
    out = {}
    emb = None

    def enc(texts):
        nonlocal emb
        emb = emb or _embedder()
        return emb.encode(texts, show_progress=True)

    out["q"] = _cached("q_vec", lambda: enc([q["question"] for q in questions]))
    out["chunk"] = _cached(
        "chunk_vec", lambda: enc([p["title"] + "\n" + p["text"] for p in passages])
    )
    out["sent"] = _cached("sent_vec", lambda: enc(sent_texts))
    if extra:
        out["sent_t"] = _cached(
            "sent_title_vec",
            lambda: enc(
                [passages[o]["title"] + "\n" + s for s, o in zip(sent_texts, owner, strict=True)]
            ),
        )
        out["chunk_nt"] = _cached("chunk_notitle_vec", lambda: enc([p["text"] for p in passages]))
    return out


def bm25_scores(passages, questions, *, with_title: bool = True) -> np.ndarray:
    """(questions x passages) float32 BM25 scores."""
    import bm25s

    from rag.text import bm25_tokenize

    def fn():
        corpus = [(p["title"] + "\n" if with_title else "") + p["text"] for p in passages]
        retr = bm25s.BM25()
        retr.index(bm25_tokenize(corpus), show_progress=False)
        out = np.zeros((len(questions), len(passages)), dtype=np.float32)
        qtok = bm25_tokenize([q["question"] for q in questions])
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
        self.sent_range = list(zip(starts.tolist(), ends.tolist(), strict=True))
        self.chunk_vec = chunk_vec
        self.sent_vec = sent_vec
        tok_path = CACHE / "sent_tokens.json"
        if tok_path.exists():
            toks = json.loads(tok_path.read_text())
        else:
            toks = [scoring.tokenize(s) for s in tqdm(sent_texts, desc="tokenize")]
            tok_path.write_text(json.dumps(toks))
        self.sent_tokens = [tuple(t) for t in toks]
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


def pad(feat_list, gold):
    """(Q, C, F) features, (Q, C) validity mask, (Q,) gold column or -1."""
    c = max(len(ids) for ids, _ in feat_list)
    f = feat_list[0][1].shape[1]
    X = np.zeros((len(feat_list), c, f))
    M = np.zeros((len(feat_list), c), dtype=bool)
    G = np.full(len(feat_list), -1)
    for i, ((ids, feats), g) in enumerate(zip(feat_list, gold, strict=True)):
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


def table(rows: dict[str, np.ndarray], splits: dict[str, np.ndarray]) -> str:
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


def contains(text: str, answers: list[str]) -> bool:
    low = text.lower()
    return any(a.lower() in low for a in answers)


def run_question(pool: Pool, question: str, qv, bm25_row, dense_row, n, weights, method="zscore"):
    """What the query pipeline will do for one question, minus the store look-ups."""
    from rag import scoring

    ids = pool_ids(bm25_row, dense_row, n)
    cands = [pool.candidate(p, qv, bm25_row[p], dense_row[p]) for p in ids]
    for c, p in zip(cands, ids, strict=True):
        c.title = pool.passages[p]["title"]
    terms = scoring.question_terms(question)
    t0 = time.perf_counter()
    ranked = scoring.fuse(cands, terms, weights=weights, method=method)
    t1 = time.perf_counter()
    return ids, cands, terms, ranked, (t1 - t0) * 1000


def coord_ascent(objective, names, start, fixed=("bm25",), grid=(0, 0.25, 0.5, 0.75, 1, 1.5, 2, 3)):
    """Coordinate ascent over a few global weights (bm25 fixed at 1 as the scale)."""
    w = dict(start)
    best = objective(w)
    for _ in range(3):
        improved = False
        for n in names:
            if n in fixed:
                continue
            for v in grid:
                w2 = {**w, n: v}
                o = objective(w2)
                if o > best + 1e-5:
                    best, w, improved = o, w2, True
        if not improved:
            break
    return w, best
