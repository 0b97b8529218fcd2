"""Server mode: the same code against a real `chroma run`, several processes, faults, threads.

Tests taking `any_settings` run twice, against the embedded store and against the session's
Chroma server (see tests/chroma_server.py); the others need a server of their own (they stop
it) or several processes, and carry the `server` and `slow` marks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from chroma_server import ChromaServer, free_port, server_settings
from newsdata import ARTICLES, write_corpus

import rag.embedding
import rag.pipeline
from ingest import Ingestor
from ingest.loaders import discover, load_file
from rag.models import Filters
from rag.pipeline import Pipeline
from rag.settings import Settings
from rag.store import (
    STORE_KEY,
    Store,
    StoreError,
    StoreUnavailableError,
    chunk_id_for,
    make_client,
    open_store,
)

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
server = pytest.mark.server
slow = pytest.mark.slow

# A longer version of one article: several chunks, so "all of its chunks or none" means something.
LONG_BATTERY = (
    ARTICLES["battery-plant.md"]
    + "\n"
    + "\n\n".join(
        [
            "The first production line will make cells for the city bus operator Dunmore Transit, "
            "which has ordered 240 electric buses for delivery between 2027 and 2030. A second line, "
            "planned for 2028, will make larger cells for grid storage containers that utilities "
            "install next to solar and wind farms to smooth their output over the day.",
            "Voltreon said sodium-ion cells store less energy per kilogram than lithium-ion cells "
            "but cost about a third less to make, because sodium is abundant and the cells need no "
            "cobalt or nickel. They also keep more of their capacity in freezing weather, which "
            "matters for buses that run through northern winters and stand outside overnight.",
            "The regional development agency will contribute 95 million euros towards the cost of "
            "the site, including a new rail siding and a water treatment plant. The company will "
            "pay for the rest of the 1.1 billion euro investment from its own funds and a loan from "
            "a group of four banks led by the Northern Investment Bank.",
            "Trade unions said they had signed an agreement with Voltreon covering wages, training "
            "and working hours for the first five years. About 300 of the jobs will be apprentice "
            "places, filled in partnership with the technical college in Dunmore, which is building "
            "a new workshop for battery assembly and testing.",
            "Residents of the villages near the former airfield asked for a bypass so that lorries "
            "delivering raw materials do not drive through their streets. The council said a "
            "planning application for the road would be published in the spring and that heavy "
            "traffic would use the rail siding wherever possible.",
        ]
    )
)
BRIDGE_V2 = ARTICLES["harbour-bridge.md"].replace("84 million pounds", "91 million pounds")

QUESTIONS = [
    "How much will the harbour bridge cost?",
    "Who won the national chess championship?",
    "How many jobs will the gigafactory create?",
    "Where was the stolen manuscript found?",
    "How much less wheat was harvested in the Vell valley?",
]


# ----- helpers ---------------------------------------------------------------------------------
def check_consistent(store: Store) -> dict[str, str]:
    """Every stored chunk and sentence belongs to the committed version of its article, every
    committed chunk is there, once; nothing is pending. Returns doc_id -> committed sha."""
    docs = store.documents()
    assert not store.pending()
    chunk_ids = [h.chunk_id for h in store.iter_chunks()]
    assert len(chunk_ids) == len(set(chunk_ids)), "duplicate chunks"
    want = {
        chunk_id_for(doc_id, info.sha256, i)
        for doc_id, info in docs.items()
        for i in range(info.chunks)
    }
    assert set(chunk_ids) == want, {
        "orphans": sorted(set(chunk_ids) - want),
        "missing": sorted(want - set(chunk_ids)),
    }
    sentence_ids = store.sentences.get(include=[])["ids"]
    assert {sid.rsplit("/s", 1)[0] for sid in sentence_ids} == want
    return {d: i.sha256 for d, i in docs.items()}


def expected_shas(settings: Settings) -> dict[str, str]:
    """doc_id -> sha256 of every article in the corpus folder."""
    files, _ = discover(settings.corpus_dir)
    return {
        a.doc_id: a.sha256
        for f in files
        for a in load_file(f, settings.corpus_dir, max_bytes=settings.max_file_bytes).articles
    }


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "NEWSRAG_STORE_DIR": str(settings.store_dir),
        "NEWSRAG_CORPUS_DIR": str(settings.corpus_dir),
        "NEWSRAG_COLLECTION": settings.collection,
        "PYTHONPATH": str(ROOT),
        **extra,
    }
    if settings.chroma_url:
        env["NEWSRAG_CHROMA_URL"] = settings.chroma_url
    return env


def wait_for(predicate, timeout: float, what: str, step: float = 0.2):  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# ----- store / ingest / query behaviours, embedded and server ----------------------------------
class TestBothStores:
    def test_ingest_update_delete_and_answer(self, any_settings: Settings, fake_embedder) -> None:
        write_corpus(any_settings.corpus_dir)
        ing = Ingestor(any_settings, embedder=fake_embedder)
        assert ing.run().added == 5
        assert check_consistent(ing.store) == expected_shas(any_settings)
        (any_settings.corpus_dir / "harbour-bridge.md").write_text(BRIDGE_V2)
        (any_settings.corpus_dir / "chess-final.md").unlink()
        s = ing.run()
        assert (s.added, s.updated, s.removed, s.unchanged) == (0, 1, 1, 3)
        assert check_consistent(ing.store) == expected_shas(any_settings)

        pipe = Pipeline(any_settings, embedder=fake_embedder)
        answer = pipe.answer("How much will the harbour bridge cost?")
        assert answer.citations and answer.citations[0].doc_id == "harbour-bridge.md"
        assert "91 million" in answer.text
        only = pipe.answer("bridge", filters=Filters(sources=["Farm Weekly"]))
        assert {c.source for c in only.citations} <= {"Farm Weekly"}

    @pytest.mark.parametrize("crash_at", ["before_commit", "after_commit"])
    def test_interrupted_write_is_invisible_and_repaired(
        self, any_settings: Settings, fake_embedder, crash_at: str
    ) -> None:
        """A writer dying after the new chunks are stored but before the manifest commit (the
        new version stays invisible), or after the commit but before the old version is
        deleted (no orphans left behind): the next run leaves exactly the corpus."""
        write_corpus(any_settings.corpus_dir)
        ing = Ingestor(any_settings, embedder=fake_embedder)
        ing.run()
        store = ing.store
        old_sha = store.documents()["harbour-bridge.md"].sha256
        (any_settings.corpus_dir / "harbour-bridge.md").write_text(BRIDGE_V2)
        real_call = store._call

        def crash(coll, method, args, kwargs):  # noqa: ANN001, ANN202
            meta = (kwargs.get("metadatas") or [{}])[0]
            is_commit = (
                coll is store.manifest
                and method == "upsert"
                and meta.get("sha256")
                and meta.get("pending") == meta.get("sha256")
            )
            if is_commit and crash_at == "before_commit":
                raise KeyboardInterrupt("simulated kill")
            out = real_call(coll, method, args, kwargs)
            if is_commit:
                raise KeyboardInterrupt("simulated kill")
            return out

        store._call = crash  # type: ignore[method-assign]
        try:
            with pytest.raises(KeyboardInterrupt):
                ing.run()
        finally:
            del store._call
        assert "harbour-bridge.md" in store.pending()
        visible = store.committed_sha(["harbour-bridge.md"])["harbour-bridge.md"]
        new_sha = expected_shas(any_settings)["harbour-bridge.md"]
        assert visible == (old_sha if crash_at == "before_commit" else new_sha)
        s = ing.run()
        assert s.updated == (1 if crash_at == "before_commit" else 0)
        assert check_consistent(store) == expected_shas(any_settings)

    def test_rebuild_by_another_client_is_picked_up(
        self, any_settings: Settings, fake_embedder
    ) -> None:
        """Another process running `ingest --rebuild` drops and recreates the collections; a
        long-lived reader (an app copy) keeps working on the new ones without a restart."""
        write_corpus(any_settings.corpus_dir)
        Ingestor(any_settings, embedder=fake_embedder).run()
        reader = Pipeline(any_settings, store=open_store(any_settings), embedder=fake_embedder)
        assert reader.answer("Who won the chess championship?").citations
        other = Store(any_settings, make_client(any_settings))  # as another process would
        (any_settings.corpus_dir / "chess-final.md").unlink()
        Ingestor(any_settings, store=other, embedder=fake_embedder).run(rebuild=True)
        assert "chess-final.md" not in reader.store.documents()
        assert reader.store.count() == other.count()
        answer = reader.answer("Who won the chess championship?")
        assert all(c.doc_id != "chess-final.md" for c in answer.citations)


@slow
class TestThreads:
    def test_query_from_many_threads(
        self, any_settings: Settings, real_embedder, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """8 threads x 5 questions on one process: the same answers as one thread, no errors,
        and the model loaded once however many threads ask for it first."""
        from rag import query
        from rag.pipeline import get_pipeline

        write_corpus(any_settings.corpus_dir)
        Ingestor(any_settings, embedder=real_embedder).run()

        loads = []
        real_cls = rag.embedding.SentenceTransformerEmbedder

        class Counting(real_cls):  # type: ignore[misc, valid-type]
            def __init__(self, *a, **kw) -> None:  # noqa: ANN002, ANN003
                loads.append(1)
                super().__init__(*a, **kw)

        monkeypatch.setattr(rag.pipeline, "_embedders", {})
        monkeypatch.setattr(rag.embedding, "SentenceTransformerEmbedder", Counting)

        results: dict[tuple[int, str], tuple[str, list[str]]] = {}
        errors: list[BaseException] = []
        start = threading.Barrier(8)

        def worker(t: int) -> None:
            try:
                start.wait(timeout=60)
                for i in range(5):
                    q = QUESTIONS[(t + i) % len(QUESTIONS)]
                    a = query(q, settings=any_settings)
                    results[(t, q)] = (a.text, [c.chunk_id for c in a.citations])
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=300)
        assert not any(th.is_alive() for th in threads)
        assert not errors, errors
        assert len(loads) == 1 and len(rag.pipeline._embedders) == 1
        pipe = get_pipeline(any_settings)
        sequential = {}
        for q in QUESTIONS:
            a = pipe.answer(q)
            sequential[q] = (a.text, [c.chunk_id for c in a.citations])
        assert len(results) == 40
        for (_, q), got in results.items():
            assert got == sequential[q], q
        assert "84 million" in sequential[QUESTIONS[0]][0]


# ----- server only ----------------------------------------------------------------------------
@server
@slow
class TestServerClient:
    def test_client_sends_token_and_bounds_requests(
        self, settings: Settings, chroma_server: ChromaServer
    ) -> None:
        s = server_settings(settings, chroma_server, chroma_token="s3cret", chroma_timeout=3.5)
        client = make_client(s)
        session = client._server._session
        assert session.headers["Authorization"] == "Bearer s3cret"
        assert session.headers["X-Chroma-Token"] == "s3cret"
        assert session.timeout.read == 3.5 and session.timeout.connect == 3.5
        assert Store(s, client).count() == 0

    def test_unreachable_server_is_a_clear_error_and_exit_code_3(self, settings: Settings) -> None:
        s = settings.model_copy(
            update={"chroma_url": f"http://127.0.0.1:{free_port()}", "chroma_timeout": 2}
        )
        t = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="^store unavailable: "):
            open_store(s)
        assert time.monotonic() - t < 2 + 1
        proc = subprocess.run(
            [str(BIN / "newsrag"), "ask", "anything"],
            env=env_for(s),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 3, proc.stderr
        assert "newsrag: store unavailable:" in proc.stderr

    def test_cli_ingest_and_ask_against_server(
        self, settings: Settings, chroma_server: ChromaServer
    ) -> None:
        s = server_settings(settings, chroma_server)
        write_corpus(s.corpus_dir)
        env = env_for(s)
        ing = subprocess.run(
            [str(BIN / "newsrag"), "ingest", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert ing.returncode == 0, ing.stderr
        assert json.loads(ing.stdout.strip().splitlines()[-1])["added"] == 5
        ask = subprocess.run(
            [str(BIN / "newsrag"), "ask", "--json", QUESTIONS[0]],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert ask.returncode == 0, ask.stderr
        answer = json.loads(ask.stdout)
        assert answer["citations"][0]["doc_id"] == "harbour-bridge.md"
        # Nothing was written next to the app but the BM25 cache: the data is in the server.
        assert not (s.store_dir / "chroma").exists()


@server
@slow
class TestFaults:
    @pytest.fixture
    def own_server(self, tmp_path: Path):  # noqa: ANN201
        srv = ChromaServer(tmp_path / "chroma-own").start()
        yield srv
        srv.stop()

    def test_query_fails_fast_and_recovers(
        self, settings: Settings, own_server: ChromaServer, fake_embedder
    ) -> None:
        timeout = 2.0
        margin = 3.0  # the question's embedding and BM25 on a busy 2-core machine
        s = server_settings(settings, own_server, chroma_timeout=timeout)
        write_corpus(s.corpus_dir)
        Ingestor(s, embedder=fake_embedder).run()
        pipe = Pipeline(s, embedder=fake_embedder)
        assert pipe.answer(QUESTIONS[0]).citations

        def fails_fast(label: str) -> None:
            t = time.monotonic()
            with pytest.raises(StoreUnavailableError, match="^store unavailable: ") as info:
                pipe.answer(QUESTIONS[1])
            took = time.monotonic() - t
            assert took < timeout + margin, f"{label}: {took:.1f}s ({info.value})"

        def recovers() -> None:
            def ok() -> bool:
                try:
                    return bool(pipe.answer(QUESTIONS[1]).citations)
                except StoreUnavailableError:
                    return False

            wait_for(ok, 30, "queries to succeed again", step=0.5)

        # Hung server: the kernel accepts connections, nobody answers.
        own_server.pause()
        try:
            fails_fast("paused")
            fails_fast("paused, again")
        finally:
            own_server.resume()
        recovers()
        # Crashed server, then started again on the same port and data.
        own_server.kill()
        fails_fast("killed")
        own_server.start()
        recovers()
        assert pipe.answer(QUESTIONS[0]).citations[0].doc_id == "harbour-bridge.md"

    def test_ingest_cut_by_server_loss_resumes_cleanly(
        self, settings: Settings, own_server: ChromaServer, fake_embedder
    ) -> None:
        s = server_settings(settings, own_server, chroma_timeout=3)
        write_corpus(s.corpus_dir, ["harbour-bridge.md", "wheat-harvest.md"])
        ing = Ingestor(s, embedder=fake_embedder)
        ing.run()
        write_corpus(s.corpus_dir)
        (s.corpus_dir / "harbour-bridge.md").write_text(BRIDGE_V2)
        (s.corpus_dir / "battery-plant.md").write_text(LONG_BATTERY)
        store = ing.store
        real_call = store._call
        writes = {"n": 0}

        def lose_server(coll, method, args, kwargs):  # noqa: ANN001, ANN202
            out = real_call(coll, method, args, kwargs)
            if coll is store.sentences and method == "upsert":
                writes["n"] += 1
                if writes["n"] == 1:  # the batch's chunks stored, its manifest not committed
                    own_server.kill()
            return out

        store._call = lose_server  # type: ignore[method-assign]
        try:
            with pytest.raises(StoreUnavailableError):
                ing.run()
        finally:
            del store._call
        own_server.start()
        assert store.pending()  # the cut article is pending, its chunks invisible
        summary = ing.run()
        assert summary.failed == 0
        assert check_consistent(store) == expected_shas(s)
        assert len(store.documents()) == 5


# ----- two app processes against one server ---------------------------------------------------
ANSWERER = r"""
import json, sys, time
from pathlib import Path
from rag.models import Filters
from rag.pipeline import get_pipeline
from rag.settings import Settings

out, stop = open(sys.argv[1], "a"), Path(sys.argv[2])
budget, new_doc = float(sys.argv[3]), sys.argv[4]
questions = json.loads(sys.argv[5])
pipe = get_pipeline(Settings())
def log(rec):
    out.write(json.dumps(rec) + "\n"); out.flush()
log({"event": "ready", "t": time.time()})
deadline, i = time.time() + budget, 0
while time.time() < deadline and not stop.exists():
    q = questions[i % len(questions)]; i += 1
    t0 = time.time()
    try:
        r = pipe.retrieve(q, top_k=8)
        a = pipe.answerer.answer(q, r)
        all_new = pipe.retrieve("Voltreon gigafactory Dunmore", top_k=20,
                                filters=Filters(doc_ids=[new_doc]))
        log({"q": q, "t0": t0, "t1": time.time(),
             "passages": [p.hit.chunk_id for p in r.passages],
             "cited": [c.chunk_id for c in a.citations],
             "new_doc_chunks": sorted(p.hit.chunk_id for p in all_new.passages)})
    except Exception as exc:
        log({"q": q, "t0": t0, "t1": time.time(), "error": repr(exc)})
log({"event": "stopped", "t": time.time()})
"""

INGESTER = r"""
import json, sys, time
import rag.store as st
from ingest import ingest_corpus
from rag.settings import Settings

events, hold = open(sys.argv[1], "a"), float(sys.argv[2])
def log(rec):
    events.write(json.dumps(rec) + "\n"); events.flush()
real_call = st.Store._call
def slow_call(self, coll, method, args, kwargs):
    meta = (kwargs.get("metadatas") or [{}])[0]
    commit = coll is self.manifest and method == "upsert" and meta.get("sha256") and meta.get(
        "pending") == meta.get("sha256")
    if commit:
        log({"event": "commit_start", "doc_id": meta["doc_id"], "sha": meta["sha256"],
             "chunks": meta["chunks"], "t": time.time()})
    out = real_call(self, coll, method, args, kwargs)
    if coll is self.sentences and method == "upsert":
        log({"event": "chunks_written", "doc_id": meta["doc_id"], "sha": meta["sha"],
             "t": time.time()})
        time.sleep(hold)  # the half-written window readers must not see into
    return out
st.Store._call = slow_call
s = ingest_corpus(Settings())
log({"event": "done", "t": time.time(), "summary": s.model_dump()})
"""


@server
@slow
def test_two_app_processes_share_one_server(
    settings: Settings, chroma_server: ChromaServer, real_embedder, tmp_path: Path
) -> None:
    """One process ingests (a new article and an update, each held half-written for a few
    seconds) while another answers in a loop: the answering one never sees a version before
    its manifest commit, sees every chunk of the new article once the ingest is over, and
    nothing else."""
    s = server_settings(settings, chroma_server)
    write_corpus(s.corpus_dir, [n for n in ARTICLES if n != "battery-plant.md"])
    Ingestor(s, embedder=real_embedder).run()
    store = open_store(s)
    old_bridge = store.documents()["harbour-bridge.md"].sha256
    (s.corpus_dir / "battery-plant.md").write_text(LONG_BATTERY)
    (s.corpus_dir / "harbour-bridge.md").write_text(BRIDGE_V2)

    answers, events, stop = tmp_path / "answers.jsonl", tmp_path / "events.jsonl", tmp_path / "stop"
    questions = ["How many jobs will the battery gigafactory create?", QUESTIONS[0]]
    env = env_for(s, OMP_NUM_THREADS="1")
    py = str(BIN / "python")
    answerer = subprocess.Popen(
        [
            py,
            "-c",
            ANSWERER,
            str(answers),
            str(stop),
            "400",
            "battery-plant.md",
            json.dumps(questions),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "answerer.err", "w"),
    )
    ingester = None
    try:

        def read(path: Path) -> list[dict]:
            if not path.exists():
                return []
            return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]

        wait_for(
            lambda: any(r.get("event") == "ready" for r in read(answers)),
            240,
            "the answering process to load",
        )
        ingester = subprocess.Popen(
            [py, "-c", INGESTER, str(events), "4"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(tmp_path / "ingester.err", "w"),
        )
        assert ingester.wait(timeout=600) == 0, (tmp_path / "ingester.err").read_text()[-3000:]
        done = next(e for e in read(events) if e["event"] == "done")
        assert done["summary"]["added"] == 1 and done["summary"]["updated"] == 1

        def seen_after_done() -> bool:
            recs = [r for r in read(answers) if r.get("t0", 0) > done["t"] + 2.5]
            return sum(1 for r in recs if "error" not in r) >= 4

        wait_for(seen_after_done, 120, "answers after the ingest")
    finally:
        stop.touch()
        answerer.wait(timeout=120)
        if ingester is not None and ingester.poll() is None:
            ingester.kill()

    evs = read(events)
    recs = [r for r in read(answers) if "q" in r]
    assert not [r for r in recs if "error" in r], [r for r in recs if "error" in r][:3]
    final = check_consistent(store)
    docs = store.documents()
    new_sha, bridge_sha = final["battery-plant.md"], final["harbour-bridge.md"]
    assert bridge_sha != old_bridge
    final_new_chunks = sorted(
        chunk_id_for("battery-plant.md", new_sha, i) for i in range(docs["battery-plant.md"].chunks)
    )
    assert len(final_new_chunks) >= 3
    commit_start = {(e["doc_id"], e["sha"]): e["t"] for e in evs if e["event"] == "commit_start"}
    written = {(e["doc_id"], e["sha"]): e["t"] for e in evs if e["event"] == "chunks_written"}
    # The versions this run wrote, by the 12-hex prefix chunk ids carry.
    versions = {(d, sha[:12]): (d, sha) for d, sha in commit_start}
    allowed = {(d, sha[:12]) for d, sha in final.items()} | {("harbour-bridge.md", old_bridge[:12])}
    in_window = 0
    for r in recs:
        seen = set(r["passages"]) | set(r["cited"]) | set(r["new_doc_chunks"])
        for cid in seen:
            doc_id, rest = cid.split("#", 1)
            key = (doc_id, rest.split(":")[0])
            assert key in allowed, (r, cid)  # never a version that was not committed at all
            if key in versions:
                # Read by a query that ended before its commit began: it was half-written.
                assert r["t1"] >= commit_start[versions[key]], (r, cid)
        # The new article is all or nothing: no chunk of it, or exactly its final chunks.
        assert r["new_doc_chunks"] in ([], final_new_chunks), r
        for v in versions.values():
            if written[v] < r["t0"] and r["t1"] < commit_start[v]:
                in_window += 1
    assert in_window >= 1, "no query ran inside a half-written window; the test proved nothing"
    late = [r for r in recs if r["t0"] > done["t"] + 2.5]
    assert late and all(r["new_doc_chunks"] == final_new_chunks for r in late)
    late_new = [r for r in late if r["q"] == questions[0]]
    assert late_new and all(
        any(c.startswith(f"battery-plant.md#{new_sha[:12]}:") for c in r["cited"]) for r in late_new
    )
    old_bridge_prefix = f"harbour-bridge.md#{old_bridge[:12]}:"
    assert all(not c.startswith(old_bridge_prefix) for r in late for c in r["passages"])


def test_store_key_constant_is_not_a_doc() -> None:
    assert not STORE_KEY.startswith("doc:")
    assert issubclass(StoreUnavailableError, StoreError)
