"""Ingest benchmark on SQuAD's 2,067 passages written out as one Markdown article each.

Prints, from one run:
- end-to-end ingest rate (chunks/s) and, on the same texts with the same batch size, the raw
  `model.encode` rate; the ratio pipeline/raw says how much of ingest is the model;
- a no-op re-ingest (nothing changed) time;
- a one-article edit: how many chunks were re-embedded;
- optionally (--quantize) the same with int8 dynamic quantization, and its effect on retrieval.

Usage: .venv/bin/python bench/ingest.py [--limit N] [--quantize] [--questions N]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluation.squad import find_squad, read_jsonl  # noqa: E402
from ingest import Ingestor  # noqa: E402
from ingest.chunking import Chunker  # noqa: E402
from ingest.loaders import discover, load_file  # noqa: E402
from ingest.runner import embedding_texts  # noqa: E402
from rag.embedding import SentenceTransformerEmbedder  # noqa: E402
from rag.settings import Settings  # noqa: E402


def write_articles(passages: list[dict], corpus: Path) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    for p in passages:
        name = p["id"].replace("#", "_").replace("/", "_")
        title = json.dumps(p["title"].replace("_", " "))
        (corpus / f"{name}.md").write_text(f"---\ntitle: {title}\n---\n\n{p['text']}\n")


def raw_encode_rate(embedder: SentenceTransformerEmbedder, texts: list[str]) -> float:
    t0 = time.perf_counter()
    embedder.encode(texts)
    return len(texts) / (time.perf_counter() - t0)


def run(settings: Settings, embedder: SentenceTransformerEmbedder, label: str) -> dict:
    corpus = settings.corpus_dir
    ingestor = Ingestor(settings, embedder=embedder)
    t0 = time.perf_counter()
    first = ingestor.run()
    full_s = time.perf_counter() - t0
    chunks = first.chunks_written

    # The raw model over exactly what ingest embedded (chunks with titles, unique sentences).
    chunker = Chunker(embedder.count_tokens, settings.chunk_size, settings.chunk_overlap)
    texts: list[str] = []
    for f in discover(corpus)[0]:
        for art in load_file(f, corpus, max_bytes=settings.max_file_bytes).articles:
            texts.extend(embedding_texts([chunker.split(art)])[0])
    raw_rate = raw_encode_rate(embedder, texts)
    pipe_rate = len(texts) / full_s

    t0 = time.perf_counter()
    noop = ingestor.run()
    noop_s = time.perf_counter() - t0

    victim = sorted(corpus.glob("*.md"))[len(texts) % 7]
    victim.write_text(victim.read_text() + "\nAn added closing sentence for the benchmark.\n")
    t0 = time.perf_counter()
    edit = ingestor.run()
    edit_s = time.perf_counter() - t0
    return {
        "label": label,
        "articles": first.added,
        "chunks": chunks,
        "texts_embedded": len(texts),
        "ingest_s": round(full_s, 1),
        "pipeline_chunks_per_s": round(chunks / full_s, 1),
        "pipeline_texts_per_s": round(pipe_rate, 1),
        "raw_encode_texts_per_s": round(raw_rate, 1),
        "ratio_pipeline_over_raw": round(pipe_rate / raw_rate, 3),
        "noop_reingest_s": round(noop_s, 2),
        "noop_unchanged": noop.unchanged,
        "one_edit_updated": edit.updated,
        "one_edit_chunks_reembedded": edit.chunks_written,
        "one_edit_s": round(edit_s, 2),
    }


def retrieval_quality(settings: Settings, data: Path, n: int) -> dict:
    """MRR@10 / R@1 / R@5 on the first n questions against this store."""
    from evaluation.squad import evaluate
    from rag.pipeline import Pipeline

    qs = read_jsonl(data / "questions.jsonl")[:n]
    questions = [
        {
            "question": q["question"],
            "answers": q["answers"],
            "gold_doc_id": q["gold_passage_id"].replace("#", "_").replace("/", "_") + ".md",
        }
        for q in qs
    ]
    m = evaluate(Pipeline(settings), questions, progress=False)
    return {k: m[k] for k in ("mrr_at_10", "recall_at_1", "recall_at_5", "containment")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path)
    ap.add_argument("--limit", type=int, help="only the first N passages")
    ap.add_argument("--quantize", action="store_true", help="also measure int8 quantization")
    ap.add_argument("--questions", type=int, default=1000, help="questions for quality check")
    ap.add_argument("--keep", type=Path, help="keep the work dir here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    data = find_squad(args.data)
    passages = read_jsonl(data / "passages.jsonl")[: args.limit or None]
    work = args.keep or Path(tempfile.mkdtemp(prefix="newsrag-bench-"))
    results = []
    variants = [("fp32", False)] + ([("int8", True)] if args.quantize else [])
    try:
        for label, quantize in variants:
            base = work / label
            shutil.rmtree(base, ignore_errors=True)
            write_articles(passages, base / "corpus")
            settings = Settings(
                corpus_dir=base / "corpus", store_dir=base / "store", embed_quantize=quantize
            )
            embedder = SentenceTransformerEmbedder(
                settings.embed_model, batch_size=settings.embed_batch_size, quantize=quantize
            )
            result = run(settings, embedder, label)
            if args.questions:
                from rag import pipeline

                key = (settings.embed_model, settings.embed_batch_size, quantize)
                pipeline._embedders[key] = embedder
                result.update(retrieval_quality(settings, data, args.questions))
            results.append(result)
            print(json.dumps(result))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if len(results) == 2:
        a, b = results
        print(
            f"int8 vs fp32: ingest speed-up x{a['ingest_s'] / b['ingest_s']:.2f}, "
            f"raw encode speed-up x{b['raw_encode_texts_per_s'] / a['raw_encode_texts_per_s']:.2f}"
        )


if __name__ == "__main__":
    main()
