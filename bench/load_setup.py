"""The stores and processes `bench/load.py` drives: the SQuAD corpus written as a JSONL dump,
the embedded store built once, its copy on a `chroma run` server, and `newsrag serve` started on a
free loopback port. Split out so the load generator itself reads in one screen."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("SQUAD_DIR", ROOT.parent / "shared" / "data" / "squad-dev"))
BIN = Path(sys.executable).parent
COLLECTION = "articles"  # the default, as `newsrag ingest` would build it


# ----- the store --------------------------------------------------------------------------------
def write_corpus(bench: Path) -> Path:
    """The SQuAD passages as one JSONL article dump ({id, title, text} per line)."""
    corpus = bench / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    target = corpus / "squad-passages.jsonl"
    src = DATA / "passages.jsonl"
    if not target.exists() or target.stat().st_size != src.stat().st_size:
        shutil.copyfile(src, target)
    return corpus


def embedded_settings(bench: Path):  # noqa: ANN201 - rag.settings.Settings
    from rag.settings import Settings

    return Settings(
        corpus_dir=bench / "corpus", store_dir=bench / "embedded", collection=COLLECTION
    )


def build_embedded(bench: Path) -> None:
    from ingest import ingest_corpus

    write_corpus(bench)
    t = time.perf_counter()
    summary = ingest_corpus(embedded_settings(bench))
    print(f"embedded store: {summary.line()} in {time.perf_counter() - t:.0f}s", flush=True)
    if summary.failed:
        raise SystemExit(f"ingest failed: {summary.failures[:3]}")
    backfill_sentence_counts(bench)


def backfill_sentence_counts(bench: Path) -> None:
    """Chunks written before chunk metadata carried "sentences" (the count that lets a query
    fetch a chunk's sentence vectors by id) get it here, as a fresh ingest would write it."""
    from collections import Counter

    from rag.store import PAGE, Store

    store = Store(embedded_settings(bench))
    first = store.chunks.get(limit=1, include=["metadatas"])
    if not first["ids"] or "sentences" in first["metadatas"][0]:
        return
    counts: Counter[str] = Counter()
    offset = 0
    while True:
        got = store.sentences.get(include=["metadatas"], limit=PAGE, offset=offset)
        counts.update(m["chunk_id"] for m in got["metadatas"])
        if len(got["ids"]) < PAGE:
            break
        offset += PAGE
    ids = [h.chunk_id for h in store.iter_chunks()]
    for lo in range(0, len(ids), PAGE):
        part = ids[lo : lo + PAGE]
        store.chunks.update(ids=part, metadatas=[{"sentences": counts.get(c, 0)} for c in part])
    store.bump_generation()
    print(f"backfilled sentence counts of {len(ids)} chunks", flush=True)


def copy_to_server(bench: Path, url: str) -> None:
    """Make the server's collections an exact copy of the embedded store's (if not already)."""
    from tqdm import tqdm

    from rag.store import PAGE, Store, make_client

    src_settings = embedded_settings(bench)
    dst_settings = src_settings.model_copy(update={"chroma_url": url})
    src = Store(src_settings)
    dst = Store(dst_settings, make_client(dst_settings))
    if dst.generation() and dst.generation() == src.generation() and dst.count() == src.count():
        return
    dst.reset()
    pairs = [(src.chunks, dst.chunks), (src.sentences, dst.sentences), (src.manifest, dst.manifest)]
    total = sum(a.count() for a, _ in pairs)
    with tqdm(total=total, desc="copying the store to the server", unit="rec", disable=None) as bar:
        for a, b in pairs:
            offset = 0
            while True:
                include = ["embeddings", "metadatas", "documents"]
                got = a.get(include=include, limit=PAGE, offset=offset)
                if not len(got["ids"]):
                    break
                b.upsert(
                    ids=got["ids"],
                    embeddings=got["embeddings"],
                    metadatas=got["metadatas"],
                    documents=got["documents"] if any(got["documents"] or []) else None,
                )
                bar.update(len(got["ids"]))
                offset += PAGE


# ----- processes --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float, proc: subprocess.Popen, what: str) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with code {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{what} not ready after {timeout:.0f}s")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=20)


def start_chroma(bench: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(bench / "chroma.log", "ab")
    proc = subprocess.Popen(
        [
            str(BIN / "chroma"),
            "run",
            "--path",
            str(bench / "chroma-data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/api/v2/heartbeat", 120, proc, "chroma run")
    return proc, url


def start_app(
    bench: Path, mode: str, chroma_url: str | None, extra_env: dict[str, str]
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "NEWSRAG_STORE_DIR": str(bench / ("embedded" if mode == "embedded" else "server-app")),
        "NEWSRAG_CORPUS_DIR": str(bench / "corpus"),
        "NEWSRAG_COLLECTION": COLLECTION,
        **extra_env,
    }
    env.pop("NEWSRAG_CHROMA_URL", None)
    if chroma_url:
        env["NEWSRAG_CHROMA_URL"] = chroma_url
    log = open(bench / f"serve-{mode}.log", "ab")
    proc = subprocess.Popen(
        [str(BIN / "newsrag"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=str(bench),
    )
    url = f"http://127.0.0.1:{port}/"
    wait_http(f"{url}config", 300, proc, "newsrag serve")
    return proc, url
