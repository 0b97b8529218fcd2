"""Which engine for the lexical side: ranking quality and latency of three, same chunks, same run.

- `bm25s`: today's in-memory bm25s index (`rag.store.Bm25Index`), rebuilt on every write;
- `sqlite-postings`: our postings table in SQLite scored in numpy (`rag.store.lexview`),
  updated in place;
- `fts5`: SQLite FTS5 over the same stemmed tokens, ranked by its `bm25()` (k1 1.2, clamped idf).

SQuAD v1.1 dev passages are chunked exactly as the real store (MiniLM's tokenizer counts) but
the vectors are random (only the lexical side is measured), then every question is asked of
each engine: passage MRR@10 / R@5 of its top 40, its p50 latency, and how often its top 10
equals bm25s's.

With `--synthetic 10000,100000` it measures latency at scale instead, with no Chroma: chunks of
7 random sentences of the RealTimeQA clone's search results, each engine's top 40 for 200
questions (10 words of a random sentence), and the cost of one new article: written in place
and caught up by a view (sqlite-postings) against rebuilding the index (bm25s).

Usage: .venv/bin/python bench/experiments/lexical_engines.py [--limit N] [--store-dir DIR]
       .venv/bin/python bench/experiments/lexical_engines.py --synthetic 10000,100000
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from evaluation.metrics import RankMetrics, read_jsonl  # noqa: E402
from evaluation.squad import find_squad, gold_doc_id, prepare_squad_store, squad_settings  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.store import Bm25Index, bm25_manager, open_store  # noqa: E402
from rag.text import bm25_text, bm25_tokenize, tokenize  # noqa: E402


class RandomVectors:
    """The real tokenizer (so chunks are the real store's) with random unit vectors."""

    def __init__(self, real) -> None:  # noqa: ANN001
        self._real = real
        self.name = "random-vectors"
        self.dim = real.dim
        self.max_tokens = getattr(real, "max_tokens", 256)
        self._rng = np.random.default_rng(0)

    def encode(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        v = self._rng.normal(size=(len(texts), self.dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def count_tokens(self, text: str) -> int:
        return self._real.count_tokens(text)


def fts_index(texts: list[str]) -> sqlite3.Connection:
    fts = sqlite3.connect(":memory:")
    fts.execute("CREATE VIRTUAL TABLE f USING fts5(body, tokenize = \"unicode61 tokenchars '_'\")")
    fts.executemany(
        "INSERT INTO f (rowid, body) VALUES (?, ?)",
        [(i + 1, " ".join(toks)) for i, toks in enumerate(bm25_tokenize(texts))],
    )
    return fts


def fts_top(fts: sqlite3.Connection, tokens: list[str], n: int) -> list[int]:
    if not tokens:
        return []
    q = " OR ".join('"' + t.replace('"', "") + '"' for t in dict.fromkeys(tokens))
    rows = fts.execute(
        "SELECT rowid FROM f WHERE f MATCH ? ORDER BY bm25(f) LIMIT ?", (q, n)
    ).fetchall()
    return [r for (r,) in rows]


def synthetic(sizes: list[int], root: Path, fts5_max: int = 10_000) -> dict:
    """Latency of the three engines at scale, and the cost of one new article."""
    import tempfile

    from rag.store.bm25 import Bm25Manager
    from rag.store.lexical import LexicalChunk, LexicalDb

    sys.path.insert(0, str(ROOT / "bench"))
    from scale import news_sentences

    sents, origin = news_sentences(Path("/work/realtimeqa"))
    rng = np.random.default_rng(0)
    questions = [" ".join(sents[j].split()[:10]) for j in rng.integers(0, len(sents), 200)]
    out: dict = {"text": origin, "sizes": {}}

    class NoStore:  # the file is the whole truth here: no Chroma to reconcile with
        def generation(self) -> str:
            return ""

    for size in sizes:
        texts = [" ".join(sents[j] for j in rng.integers(0, len(sents), 7)) for _ in range(size)]
        res: dict = {}
        t = time.perf_counter()
        ref = Bm25Index.build((f"c{i}", x, {}) for i, x in enumerate(texts))
        res["bm25s_build_s"] = round(time.perf_counter() - t, 2)
        fts = None
        if size <= fts5_max:
            t = time.perf_counter()
            fts = fts_index(texts)
            res["fts5_build_s"] = round(time.perf_counter() - t, 2)
        folder = Path(tempfile.mkdtemp(prefix=f"lex{size}-", dir=root))
        db = LexicalDb(folder / "lexical.sqlite3")
        t = time.perf_counter()
        for lo in range(0, size, 400):  # articles of 4 chunks, 100 per transaction
            db.replace(
                (
                    (f"a{a}", "v1", [LexicalChunk(f"c{i}", texts[i]) for i in range(a, a + 4)])
                    for a in range(lo, min(lo + 400, size), 4)
                ),
            )
        res["sqlite_postings_build_s"] = round(time.perf_counter() - t, 2)
        manager = Bm25Manager(NoStore(), folder, 3600.0)
        view = manager.current()
        engines = {
            "bm25s": lambda toks, ref=ref: ref.top(toks, 40)[0],
            "sqlite-postings": lambda toks, m=manager: m.current().top(toks, 40)[0],
        }
        if fts is not None:
            engines["fts5"] = lambda toks, fts=fts: fts_top(fts, toks, 40)
        for name, fn in engines.items():
            times = []
            for q in questions:
                toks = tokenize(q)
                t = time.perf_counter()
                fn(toks)
                times.append((time.perf_counter() - t) * 1000)
            res[f"{name}_p50_ms"] = round(float(np.percentile(times, 50)), 2)
            res[f"{name}_p95_ms"] = round(float(np.percentile(times, 95)), 2)
        new = [LexicalChunk(f"new{i}", f"The zqxv committee met. {texts[i]}") for i in range(4)]
        t = time.perf_counter()
        db.replace([("new-article", "v1", new)])
        written = time.perf_counter()
        while "new0" not in set(manager.current().top(tokenize("zqxv"), 10)[0]):
            pass
        res["sqlite_postings_write_one_article_s"] = round(written - t, 4)
        res["sqlite_postings_catch_up_s"] = round(time.perf_counter() - written, 4)
        # what every serving process paid per write before: a rebuild (= bm25s_build_s)
        res["catch_up_over_bm25s_rebuild"] = round(
            res["sqlite_postings_catch_up_s"] / res["bm25s_build_s"], 6
        )
        res["sqlite_file_mb"] = round(sum(f.stat().st_size for f in folder.iterdir()) / 2**20, 1)
        del view
        out["sizes"][str(size)] = res
        print(f"{size}: {json.dumps(res)}", file=sys.stderr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=0, help="questions (0: all)")
    ap.add_argument("--store-dir", type=Path, default=Path("/tmp/newsrag-lexical-squad"))
    ap.add_argument("--synthetic", help="sizes (chunks) for the latency-at-scale mode")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.synthetic:
        sizes = [int(x) for x in args.synthetic.split(",")]
        print(json.dumps(synthetic(sizes, Path("/tmp")), indent=2))
        return
    from rag.pipeline import shared_embedder

    data = find_squad(None)
    settings = squad_settings(Settings(), args.store_dir)
    prepare_squad_store(settings, data, embedder=RandomVectors(shared_embedder(Settings())))
    store = open_store(settings)
    committed = {d.doc_id: d.sha256 for d in store.documents().values()}
    chunks = [h for h in store.iter_chunks() if committed.get(h.doc_id) == h.metadata.get("sha")]
    texts = [bm25_text(str(h.metadata.get("title", "")), h.text) for h in chunks]
    doc_of = {h.chunk_id: h.doc_id for h in chunks}

    t = time.perf_counter()
    ref = Bm25Index.build((h.chunk_id, x, h.metadata) for h, x in zip(chunks, texts, strict=True))
    build = {"bm25s": time.perf_counter() - t}
    view = bm25_manager(settings, store).current()
    fts = sqlite3.connect(":memory:")
    t = time.perf_counter()
    fts.execute("CREATE VIRTUAL TABLE f USING fts5(body, tokenize = \"unicode61 tokenchars '_'\")")
    fts.executemany(
        "INSERT INTO f (rowid, body) VALUES (?, ?)",
        [(i + 1, " ".join(toks)) for i, toks in enumerate(bm25_tokenize(texts))],
    )
    build["fts5"] = time.perf_counter() - t

    def run_fts(tokens: list[str], n: int) -> list[str]:
        if not tokens:
            return []
        q = " OR ".join('"' + t.replace('"', "") + '"' for t in dict.fromkeys(tokens))
        rows = fts.execute(
            "SELECT rowid FROM f WHERE f MATCH ? ORDER BY bm25(f) LIMIT ?", (q, n)
        ).fetchall()
        return [chunks[r - 1].chunk_id for (r,) in rows]

    engines = {
        "bm25s": lambda toks: ref.top(toks, 40)[0],
        "sqlite-postings": lambda toks: view.top(toks, 40)[0],
        "fts5": lambda toks: run_fts(toks, 40),
    }
    questions = list(read_jsonl(data / "questions.jsonl"))
    if args.limit:
        questions = questions[:: max(1, len(questions) // args.limit)][: args.limit]
    metrics = {k: RankMetrics() for k in engines}
    times: dict[str, list[float]] = {k: [] for k in engines}
    same_top10 = {k: 0 for k in engines}
    for q in questions:
        toks = tokenize(q["question"])
        gold = gold_doc_id(q["gold_passage_id"])
        lists = {}
        for name, fn in engines.items():
            t = time.perf_counter()
            lists[name] = fn(toks)
            times[name].append((time.perf_counter() - t) * 1000)
            metrics[name].add([doc_of[c] for c in lists[name]], gold)
        for name in engines:
            same_top10[name] += lists[name][:10] == lists["bm25s"][:10]
    out = {
        "chunks": len(chunks),
        "questions": len(questions),
        "vectors": "random (lexical side only)",
        "engines": {
            name: {
                **metrics[name].summary(),
                "p50_ms": round(float(np.percentile(times[name], 50)), 3),
                "p95_ms": round(float(np.percentile(times[name], 95)), 3),
                "top10_identical_to_bm25s": round(same_top10[name] / len(questions), 4),
                **({"build_s": round(build[name], 2)} if name in build else {}),
            }
            for name in engines
        },
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
