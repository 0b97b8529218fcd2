"""How the store's costs grow with the corpus: stores of N chunks, each measured the same way.

For each size, a fresh store (real embedded Chroma + the lexical index, in a temp folder) is
filled with news-like articles: sentences of the RealTimeQA clone's search results (or
SQuAD's passages when no clone is found) recombined at random, ~7 sentences a chunk, 4 chunks
an article, each chunk and sentence with its own vector. The vectors are **random unit
vectors** (the encoder would take hours here and is not what is measured); the output says so.
Reported per size:

- `build_s_per_1k_chunks`: `Store.write_articles` time (Chroma + lexical index) per 1,000
  chunks, the encoder excluded;
- `answerable_after_write_s`: from the writer's commit of one new article until a process
  that was already serving finds it on both sides (lexical top 10 for a word only it holds,
  dense top 10 for its vector); with, from the same run, `full_rebuild_s`: what every serving
  process paid per write before (a bm25s index rebuilt from every chunk in Chroma);
- `query_p50_ms` / `query_p95_ms`: `HybridRetriever.retrieve` (dense + lexical + fetch +
  scoring; the question's embedding excluded: a fixed random vector), and from the same run
  `baseline_p50_ms`, one bare Chroma query of top_k;
- `rss_mb` (this process: writer and serving side together), `disk_mb` (the store folder).

Usage: .venv/bin/python bench/scale.py [--sizes 10000,100000] [--questions 200] [--json]
With --json the last line is `{"sizes": {"10000": {...}, ...}}`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.records import Article, Chunk, Query  # noqa: E402
from rag.retrieval import HybridRetriever  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.store import (  # noqa: E402
    ArticleWrite,
    Bm25Index,
    SentenceRecord,
    Store,
    StoreConfig,
    bm25_manager,
    chunk_id_for,
    make_client,
)
from rag.text import bm25_text, tokenize  # noqa: E402

DIM = 384
SENTENCES_PER_CHUNK = 7
CHUNKS_PER_ARTICLE = 4
SOURCES = ["Reuters", "AP", "BBC", "CNN", "USA Today"]
_SPLIT = re.compile(r"(?<=[.!?])\s+")


def news_sentences(repo: Path, limit: int = 200_000) -> tuple[list[str], str]:
    """Sentences of the clone's search-result texts (read at run time, never stored)."""
    out: list[str] = []
    for path in sorted((repo / "past").glob("*/*_gcs.jsonl")) if repo.is_dir() else []:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            for res in rec.get("search_result") or []:
                for s in _SPLIT.split(str(res.get("text") or "")):
                    s = " ".join(s.split())
                    if 40 <= len(s) <= 300:
                        out.append(s)
        if len(out) >= limit:
            break
    if len(out) > 1000:
        return out, f"RealTimeQA search results ({repo})"
    squad = ROOT.parent / "shared" / "data" / "squad-dev" / "passages.jsonl"
    for line in squad.read_text(encoding="utf-8").splitlines():
        out.extend(s for s in _SPLIT.split(json.loads(line)["text"]) if len(s) >= 40)
    return out, "SQuAD dev passages"


class FixedVector:
    """The question's embedding, excluded from the timings: one random unit vector."""

    name = "random-vectors"
    dim = DIM

    def __init__(self, rng: np.random.Generator) -> None:
        self.vec = unit(rng, 1)

    def encode(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        return np.repeat(self.vec, len(texts), axis=0)


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def make_article(
    i: int, sents: list[str], rng: np.random.Generator, extra: str = "", per_chunk: int = 7
) -> ArticleWrite:
    """An article of CHUNKS_PER_ARTICLE chunks of SENTENCES_PER_CHUNK random sentences; the
    first `per_chunk` sentences of each chunk get a sentence record and vector."""
    picks = [
        sents[j] for j in rng.integers(0, len(sents), SENTENCES_PER_CHUNK * CHUNKS_PER_ARTICLE)
    ]
    if extra:
        picks[0] = extra
    text = " ".join(picks)
    day = dt.date(2023, 1, 1) + dt.timedelta(days=int(rng.integers(0, 700)))
    doc_id = f"scale/{i:07d}.txt"
    art = Article(
        doc_id=doc_id,
        title=" ".join(picks[0].split()[:8]),
        text=text,
        source=SOURCES[i % len(SOURCES)],
        published=day,
    )
    chunks: list[Chunk] = []
    sentences: list[SentenceRecord] = []
    pos = 0
    spans = []
    for s in picks:
        spans.append((pos, pos + len(s)))
        pos += len(s) + 1
    for c in range(CHUNKS_PER_ARTICLE):
        part = spans[c * SENTENCES_PER_CHUNK : (c + 1) * SENTENCES_PER_CHUNK]
        cid = chunk_id_for(doc_id, art.sha256, c)
        start, end = part[0][0], part[-1][1]
        chunks.append(
            Chunk(
                chunk_id=cid, doc_id=doc_id, ordinal=c, text=text[start:end], start=start, end=end
            )
        )
        for k, (s, e) in enumerate(part[:per_chunk]):
            sentences.append(SentenceRecord(cid, k, s, e, " ".join(tokenize(text[s:e]))))
    return ArticleWrite(art, chunks, unit(rng, len(chunks)), sentences, unit(rng, len(sentences)))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def disk_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 1)


def measure(size: int, sents: list[str], questions: int, root: Path, per_chunk: int) -> dict:
    from tqdm import tqdm

    rng = np.random.default_rng(size)
    settings = Settings(
        store_dir=root / f"store-{size}", corpus_dir=root / "corpus", collection="scale"
    )
    store = Store(settings, make_client(settings))
    store.ensure_config(StoreConfig("random-vectors", DIM, 200, 30))
    n_articles = size // CHUNKS_PER_ARTICLE
    build = 0.0
    batch = 50
    with tqdm(total=n_articles * CHUNKS_PER_ARTICLE, desc=f"build {size}", unit="chunk") as bar:
        for lo in range(0, n_articles, batch):
            writes = [
                make_article(i, sents, rng, per_chunk=per_chunk)
                for i in range(lo, min(lo + batch, n_articles))
            ]
            t = time.perf_counter()
            store.write_articles(writes)
            build += time.perf_counter() - t
            bar.update(sum(len(w.chunks) for w in writes))
    chunks = n_articles * CHUNKS_PER_ARTICLE

    # A serving process: its retriever is warm before the write lands.
    embedder = FixedVector(rng)
    retriever = HybridRetriever(settings, store, embedder, bm25_manager(settings, store))  # type: ignore[arg-type]
    qs = [" ".join(sents[j].split()[:10]) for j in rng.integers(0, len(sents), questions)]
    for q in qs[:10]:
        retriever.retrieve(Query(question=q))
    times = []
    stages: dict[str, list[float]] = {}
    for q in tqdm(qs, desc=f"query {size}", unit="q"):
        t = time.perf_counter()
        got = retriever.retrieve(Query(question=q))
        times.append((time.perf_counter() - t) * 1000)
        for k, v in got.timings.items():
            stages.setdefault(k, []).append(v)
    base = []
    for _ in qs:
        t = time.perf_counter()
        store.dense_search(embedder.vec[0], settings.top_k)
        base.append((time.perf_counter() - t) * 1000)

    word = f"zqxv{size}"
    new = make_article(
        n_articles + 1, sents, rng, f"The {word} committee met on Monday.", per_chunk
    )
    t0 = time.perf_counter()
    store.write_articles([new])
    committed = time.perf_counter()
    target = {c.chunk_id for c in new.chunks}
    lexical_at = dense_at = None
    while time.perf_counter() - committed < 60 and (lexical_at is None or dense_at is None):
        if lexical_at is None and target & set(retriever.bm25.current().top(tokenize(word), 10)[0]):
            lexical_at = time.perf_counter()
        if dense_at is None and target & {
            h.chunk_id for h in store.dense_search(new.chunk_vectors[0], 10)
        }:
            dense_at = time.perf_counter()
    found = max(lexical_at or np.inf, dense_at or np.inf)

    t = time.perf_counter()  # the old way: every serving process rebuilt bm25s from Chroma
    committed_sha = {d.doc_id: d.sha256 for d in store.documents().values()}
    Bm25Index.build(
        (h.chunk_id, bm25_text(h.metadata.get("title", ""), h.text), h.metadata)
        for h in store.iter_chunks()
        if committed_sha.get(h.doc_id) == h.metadata.get("sha")
    )
    rebuild = time.perf_counter() - t
    q50 = float(np.percentile(times, 50))
    return {
        "chunks": chunks,
        "vectors": "random",
        "sentence_vectors_per_chunk": per_chunk,
        "build_s_per_1k_chunks": round(build / chunks * 1000, 3),
        "write_one_article_s": round(committed - t0, 3),
        "answerable_after_write_s": round(found - committed, 4),
        "lexical_after_write_s": round((lexical_at or np.inf) - committed, 4),
        "dense_after_write_s": round((dense_at or np.inf) - committed, 4),
        "full_rebuild_s": round(rebuild, 3),
        "query_p50_ms": round(q50, 1),
        "query_p95_ms": round(float(np.percentile(times, 95)), 1),
        "baseline_p50_ms": round(float(np.percentile(base, 50)), 1),
        "ratio_p50_over_baseline": round(q50 / float(np.percentile(base, 50)), 2),
        "stages_p50_ms": {k: round(float(np.median(v)), 2) for k, v in stages.items()},
        "rss_mb": rss_mb(),
        "disk_mb": disk_mb(settings.store_dir),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--news-repo", type=Path, default=Path("/work/realtimeqa"))
    ap.add_argument("--keep", type=Path, help="build the stores here and keep them")
    ap.add_argument(
        "--sentence-vectors",
        type=int,
        default=SENTENCES_PER_CHUNK,
        help="sentence vectors stored per chunk (fewer builds faster; queries fetch them by id)",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sents, origin = news_sentences(args.news_repo)
    print(
        f"text: {len(sents)} sentences of {origin}; vectors: random unit vectors", file=sys.stderr
    )
    root = args.keep or Path(tempfile.mkdtemp(prefix="newsrag-scale-"))
    results: dict[str, dict] = {}
    try:
        for size in [int(s) for s in args.sizes.split(",") if s]:
            results[str(size)] = measure(size, sents, args.questions, root, args.sentence_vectors)
            print(f"{size}: {json.dumps(results[str(size)])}", file=sys.stderr)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    sizes = sorted(results, key=int)
    if len(sizes) > 1:
        lo, hi = results[sizes[0]], results[sizes[-1]]
        growth = hi["query_p50_ms"] / lo["query_p50_ms"]
        print(f"query p50 at {sizes[-1]} / at {sizes[0]}: {growth:.2f}", file=sys.stderr)
    if args.json:
        print(json.dumps({"sizes": results, "text": origin}))
    else:
        print(json.dumps({"sizes": results, "text": origin}, indent=2))


if __name__ == "__main__":
    main()
