"""Ingest benchmark on SQuAD's 2,067 passages written out as one Markdown article each.

Prints, from one run, for each way of making the vectors:
- `separate` (the baseline: before issue 22 every sentence was encoded again on its own, in
  float32) and `pooled` (today's default: sentence vectors pooled from the chunk's forward pass,
  in bfloat16 where the CPU has it natively, `Settings.embed_bf16`), and with --quantize
  `pooled-int8` (int8 dynamic quantization as well);
- end-to-end ingest rate (chunks/s), and on exactly the texts the variant encodes, with the same
  batch size, the raw `model.encode` rate (pipeline/raw: how much of ingest is the model);
- a no-op re-ingest (nothing changed) time and a one-article edit;
- retrieval quality on --questions SQuAD questions spread over all titles (MRR@10, R@1, R@5);
- the speed-up of each variant over `separate`, measured in the same run.

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
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluation.squad import find_squad, read_jsonl  # noqa: E402
from ingest import Ingestor  # noqa: E402
from ingest.chunking import Chunker  # noqa: E402
from ingest.encoding import chunk_embedding_text, embedding_texts  # noqa: E402
from ingest.loaders import discover, load_file  # noqa: E402
from rag.embedding import SEPARATE, SentenceTransformerEmbedder  # noqa: E402
from rag.settings import Settings  # noqa: E402


def passage_file(passage_id: str) -> str:
    return passage_id.replace("#", "_").replace("/", "_") + ".md"


def write_articles(passages: list[dict], corpus: Path) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    for p in passages:
        title = json.dumps(p["title"].replace("_", " "))
        (corpus / passage_file(p["id"])).write_text(f"---\ntitle: {title}\n---\n\n{p['text']}\n")


class SeparateSentences:
    """The real model, encoding each sentence on its own (no `encode_with_spans`): how ingest
    worked before issue 22, the baseline of this benchmark."""

    sentence_vectors = SEPARATE

    def __init__(self, model: SentenceTransformerEmbedder) -> None:
        self.model = model
        self.name, self.dim, self.max_tokens = model.name, model.dim, model.max_tokens

    def encode(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        return self.model.encode(texts)

    def count_tokens(self, text: str) -> int:
        return self.model.count_tokens(text)


def raw_encode_rate(embedder: Any, texts: list[str]) -> float:
    t0 = time.perf_counter()
    embedder.encode(texts)
    return len(texts) / (time.perf_counter() - t0)


def run(settings: Settings, embedder: Any, label: str) -> dict:
    corpus = settings.corpus_dir
    ingestor = Ingestor(settings, embedder=embedder)
    t0 = time.perf_counter()
    first = ingestor.run()
    full_s = time.perf_counter() - t0
    chunks = first.chunks_written

    # The raw model over exactly what ingest embedded: chunks with titles, and when sentences
    # are encoded on their own, the unique sentences too.
    chunker = Chunker(embedder.count_tokens, settings.chunk_size, settings.chunk_overlap)
    texts: list[str] = []
    separate = isinstance(embedder, SeparateSentences)
    for f in discover(corpus)[0]:
        for art in load_file(f, corpus, max_bytes=settings.max_file_bytes).articles:
            ca = chunker.split(art)
            if separate:
                texts.extend(embedding_texts([ca])[0])
            else:
                texts.extend(chunk_embedding_text(art.title, c.text) for c in ca.chunks)
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


def retrieval_quality(settings: Settings, embedder: Any, data: Path, n: int) -> dict:
    """MRR@10 / R@1 / R@5 on n questions spread over every title against this store, and the
    same on the check half of titles."""
    from evaluation.squad import evaluate, load_squad_questions
    from rag.pipeline import Pipeline

    questions = [
        {**q, "gold_doc_id": passage_file(q["gold_doc_id"].split("#", 1)[1])}
        for q in load_squad_questions(data, n)
    ]
    m = evaluate(Pipeline(settings, embedder=embedder), questions, progress=False)
    keys = ("mrr_at_10", "recall_at_1", "recall_at_5", "containment")
    return {k: m[k] for k in keys} | {"check": {k: m["check_half"][k] for k in keys}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path)
    ap.add_argument("--limit", type=int, help="only the first N passages")
    ap.add_argument("--quantize", action="store_true", help="also measure pooled + int8")
    ap.add_argument("--questions", type=int, default=1000, help="questions for quality check")
    ap.add_argument("--keep", type=Path, help="keep the work dir here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    data = find_squad(args.data)
    passages = read_jsonl(data / "passages.jsonl")[: args.limit or None]
    work = args.keep or Path(tempfile.mkdtemp(prefix="newsrag-bench-"))
    results = []
    variants = [("separate", False), ("pooled", False)]
    variants += [("pooled-int8", True)] if args.quantize else []
    fp32 = SentenceTransformerEmbedder(
        Settings().embed_model, batch_size=Settings().embed_batch_size
    )
    try:
        for label, quantize in variants:
            base = work / label
            shutil.rmtree(base, ignore_errors=True)
            write_articles(passages, base / "corpus")
            settings = Settings(
                corpus_dir=base / "corpus", store_dir=base / "store", embed_quantize=quantize
            )
            embedder: Any = (
                SentenceTransformerEmbedder(
                    settings.embed_model, batch_size=settings.embed_batch_size, quantize=True
                )
                if quantize
                else fp32
            )
            if label == "separate":
                embedder = SeparateSentences(fp32)
            result = run(settings, embedder, label)
            if args.questions:
                result.update(retrieval_quality(settings, embedder, data, args.questions))
            results.append(result)
            print(json.dumps(result), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    base_result = results[0]
    for r in results[1:]:
        line = (
            f"{r['label']} vs separate (same run): ingest chunks/s x"
            f"{r['pipeline_chunks_per_s'] / base_result['pipeline_chunks_per_s']:.2f}"
        )
        if "mrr_at_10" in r:
            line += (
                f", MRR@10 {r['mrr_at_10']:.4f} vs {base_result['mrr_at_10']:.4f}"
                f" ({r['mrr_at_10'] - base_result['mrr_at_10']:+.4f}),"
                f" R@5 {r['recall_at_5'] - base_result['recall_at_5']:+.4f}"
            )
        print(line)


if __name__ == "__main__":
    main()
