"""What the embedded store's cross-process design costs (rag/store/chroma.py): a change-marker
check before every Chroma call, and reloading the client after another process wrote.

Builds a throwaway store of N random 384-dim chunks in a temporary folder and prints the
median latency of a 40-nearest query with and without the marker check (the baseline, same
run), and of "another process wrote" (the marker renewed) followed by the same query.

Usage: PYTHONPATH=. .venv/bin/python bench/reopen.py [--chunks N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rag.settings import Settings
from rag.store.chroma import ChromaCollections, make_client, renew_marker


def median_ms(fn: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=5000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        s = Settings(store_dir=root / "store", corpus_dir=root / "corpus", collection="bench")
        store = ChromaCollections(s, make_client(s))
        rng = np.random.default_rng(0)
        for lo in range(0, args.chunks, 1000):
            ids = [f"c{i}" for i in range(lo, min(lo + 1000, args.chunks))]
            store.chunks.upsert(
                ids=ids,
                embeddings=rng.normal(size=(len(ids), 384)).astype(np.float32),
                documents=["x"] * len(ids),
                metadatas=[{"doc_id": i} for i in ids],
            )
        q = rng.normal(size=384).tolist()

        def query() -> object:
            return store.chunks.query(query_embeddings=[q], n_results=40)

        for _ in range(5):
            query()
        checked = median_ms(query, 50)
        marker, store._marker = store._marker, None
        baseline = median_ms(query, 50)
        store._marker = marker
        assert marker is not None

        def after_foreign_write() -> object:
            renew_marker(marker)
            return query()

        reopened = median_ms(after_foreign_write, 10)
    print(
        f"{args.chunks} chunks: query {checked:.2f} ms with the marker check, "
        f"{baseline:.2f} ms without (baseline, same run); after another process wrote "
        f"(reopen + query) {reopened:.1f} ms"
    )


if __name__ == "__main__":
    main()
