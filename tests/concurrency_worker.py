"""The three processes of tests/test_concurrency.py: `writer`, `readers` and `intruder`.

All three use the fast fake embedder of conftest.py (the test is about the write protocol and
the lease under load, not about ranking; the real model runs in tests/test_server_mode.py and
tests/test_lease.py). Settings come from NEWSRAG_* variables. Each role appends JSON lines to
its log file and stops when the `stop` file appears (the writer stops after its cycles).

    python concurrency_worker.py writer LOG CYCLES SEED
    python concurrency_worker.py readers LOG STOP THREADS
    python concurrency_worker.py intruder LOG STOP
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import FakeEmbedder  # noqa: E402

from ingest import Ingestor  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402
from rag.records import Filters  # noqa: E402
from rag.settings import Settings  # noqa: E402

TOPICS = ["harbour", "bridge", "wheat", "chess", "battery", "museum", "river", "school"]
POOL = [f"d{i:02}" for i in range(30)]


def article(doc: str, rev: int, rng: random.Random) -> str:
    """A tiny article of 2-4 chunks (about 30 words each at chunk_size 32): a half-written one
    would be visible as missing chunks."""
    topic = TOPICS[int(doc[1:]) % len(TOPICS)]
    paragraphs = []
    for p in range(rng.randint(2, 4)):
        words = " ".join(f"{topic}{(p * 7 + k) % 13}" for k in range(20))
        paragraphs.append(f"Part {p} of story {doc} revision {rev} on the {topic}. {words}.")
    return f"---\ntitle: Story {doc} about the {topic}\nsource: S{int(doc[1:]) % 3}\n---\n\n" + (
        "\n\n".join(paragraphs)
    )


class Log:
    def __init__(self, path: str) -> None:
        self._f = open(path, "a")  # noqa: SIM115 - open for the life of the process
        self._lock = threading.Lock()

    def __call__(self, **rec: Any) -> None:
        with self._lock:
            self._f.write(json.dumps({"t": time.time(), **rec}) + "\n")
            self._f.flush()


def write_file(path: Path, text: str) -> None:
    """Atomic: the intruder may read the corpus at any moment."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def log_flips(store: Any, log: Log) -> None:
    """Log each commit (the manifest upsert that makes new versions visible) just before it."""
    real_call = store._call

    def logged_call(coll, method, args, kwargs):  # noqa: ANN001, ANN202
        if coll is store.manifest and method == "upsert":
            flips = [
                (m["doc_id"], m["sha256"])
                for m in kwargs.get("metadatas") or []
                if m.get("sha256") and m.get("pending") == m.get("sha256")
            ]
            if flips:
                log(event="flip", versions=flips)
        return real_call(coll, method, args, kwargs)

    store._call = logged_call


def writer(log_path: str, cycles: int, seed: int) -> None:
    log = Log(log_path)
    settings = Settings()
    corpus = settings.corpus_dir
    rng = random.Random(seed)
    ing = Ingestor(settings, embedder=FakeEmbedder())
    store = ing.store
    log_flips(store, log)
    rev = 0
    for cycle in range(cycles):
        present = sorted(p.stem for p in corpus.glob("d*.md"))
        ops = []
        for _ in range(rng.randint(1, 3)):
            rev += 1
            absent = [d for d in POOL if d not in present]
            op = rng.choice(["edit", "edit", "add", "delete"])
            if op == "delete" and len(present) > 10:
                doc = rng.choice(present)
                (corpus / f"{doc}.md").unlink()
                present.remove(doc)
            elif op == "add" and absent:
                doc = rng.choice(absent)
                write_file(corpus / f"{doc}.md", article(doc, rev, rng))
                present.append(doc)
            else:
                doc = rng.choice(present)
                write_file(corpus / f"{doc}.md", article(doc, rev, rng))
            ops.append((op, doc))
        t0 = time.time()
        summary = ing.run(wait=120, command="concurrency writer")
        expected = {d.doc_id: d.sha256 for d in _corpus_articles(settings)}
        got = {d: i.sha256 for d, i in store.documents().items()}
        log(
            event="cycle",
            cycle=cycle,
            ops=ops,
            seconds=time.time() - t0,
            summary=summary.line(),
            lost=sorted(set(expected) - set(got)),
            extra=sorted(set(got) - set(expected)),
            stale=sorted(d for d in expected if d in got and got[d] != expected[d]),
        )
    log(event="done")


def _corpus_articles(settings: Settings) -> list:  # noqa: ANN001
    from ingest.loaders import discover, load_file

    files, _ = discover(settings.corpus_dir)
    return [
        a
        for f in files
        for a in load_file(f, settings.corpus_dir, max_bytes=settings.max_file_bytes).articles
    ]


def readers(log_path: str, stop_path: str, threads: int) -> None:
    log = Log(log_path)
    pipe = Pipeline(Settings(), embedder=FakeEmbedder())
    store = pipe.store
    stop = Path(stop_path)
    log(event="ready")

    def complete(doc: str, sha: str) -> str:
        """'ok' if the committed version `sha` of `doc` has all its chunks and sentences,
        'raced' if `doc` moved on since (inconclusive), else 'violation'."""
        got = store.manifest.get(ids=[f"doc:{doc}"], include=["metadatas"])
        if not got["ids"] or got["metadatas"][0].get("sha256") != sha:
            return "raced"
        n = int(got["metadatas"][0]["chunks"])
        ids = [f"{doc}#{sha[:12]}:{i}" for i in range(n)]
        hits = store.get_chunks(ids)
        counts = {h.chunk_id: int(h.metadata.get("sentences", 0)) for h in hits}
        sentences = store.sentence_records(ids, counts=counts) if len(hits) == n else {}
        whole = len(hits) == n and all(len(sentences.get(c, [])) == counts[c] for c in ids)
        if whole:
            return "ok"
        again = store.manifest.get(ids=[f"doc:{doc}"], include=["metadatas"])
        if again["ids"] and again["metadatas"][0].get("sha256") == sha:
            return "violation"  # committed throughout, yet chunks or sentences are missing
        return "raced"

    def loop(k: int) -> None:
        rng = random.Random(k)
        n = 0
        while not stop.exists():
            n += 1
            topic = rng.choice(TOPICS)
            question = f"What happened to the {topic} in part {rng.randint(0, 3)}?"
            filters = Filters(sources=[f"S{rng.randint(0, 2)}"]) if n % 4 == 0 else None
            t0 = time.time()
            try:
                if n % 3 == 0:
                    answer = pipe.answer(question, filters=filters)
                    seen = [(c.doc_id, c.chunk_id) for c in answer.citations]
                    cited = list(dict.fromkeys(c for _, c in seen))  # two citations, one chunk
                    hits = {h.chunk_id: h for h in store.get_chunks(cited)}
                    versions = [(d, hits[c].metadata["sha"]) for d, c in seen if c in hits]
                else:
                    r = pipe.retrieve(question, filters=filters, top_k=8)
                    versions = [(p.hit.doc_id, p.hit.metadata["sha"]) for p in r.passages]
            except Exception as exc:  # noqa: BLE001 - recorded; the test fails on any
                log(event="error", error=repr(exc), where=traceback.format_exc()[-1500:])
                continue
            t1 = time.time()
            by_doc: dict[str, set[str]] = {}
            for doc, sha in versions:
                by_doc.setdefault(doc, set()).add(sha)
            mixed = sorted(d for d, s in by_doc.items() if len(s) > 1)
            verdicts = {f"{d}@{s}": complete(d, s) for d, shas in by_doc.items() for s in shas}
            log(event="read", t0=t0, t1=t1, mixed=mixed, verdicts=verdicts)

    pool = [threading.Thread(target=loop, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    log(event="stopped")


def intruder(log_path: str, stop_path: str) -> None:
    """A second writer using the real command line (`newsrag ingest`, its exit codes), with
    the fake embedder put in place of the model."""
    import ingest
    from ui import cli

    log = Log(log_path)
    fake = FakeEmbedder()

    def fake_ingest_corpus(settings, path=None, **kw):  # noqa: ANN001, ANN003, ANN202
        ing = Ingestor(settings, embedder=fake)
        if not hasattr(ing.store, "_flips_logged"):  # one shared store per process
            log_flips(ing.store, log)
            ing.store._flips_logged = True
        return ing.run(path, command="intruder", **kw)

    ingest.ingest_corpus = fake_ingest_corpus
    stop = Path(stop_path)
    rng = random.Random(os.getpid())
    n = 0
    while not stop.exists():
        n += 1
        wait = ["--wait", "20"] if n % 5 == 0 else []
        t0 = time.time()
        code = cli.main(["ingest", "--json", *wait])
        log(event="attempt", code=code, waited=bool(wait), seconds=time.time() - t0)
        time.sleep(rng.uniform(0.2, 0.8))
    log(event="stopped")


if __name__ == "__main__":
    role = sys.argv[1]
    if role == "writer":
        writer(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif role == "readers":
        readers(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif role == "intruder":
        intruder(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(f"unknown role {role}")
