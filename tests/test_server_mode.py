"""Server mode: the same code against a real `chroma run`, several processes, faults, threads.

Tests taking `any_settings` run twice, against the embedded store and against the session's
Chroma server (see tests/chroma_server.py); the others need a server of their own (they stop
it) and carry the `server` and `slow` marks. Several processes answering while another writes:
tests/test_processes.py.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest
from chroma_server import ChromaServer, server_settings
from newsdata import write_corpus
from server_support import (
    BIN,
    BRIDGE_V2,
    LONG_BATTERY,
    QUESTIONS,
    check_consistent,
    env_for,
    expected_shas,
    wait_for,
)
from support import free_port

import rag.embedding
import rag.pipeline
from ingest import Ingestor
from rag.pipeline import Pipeline
from rag.records import Filters
from rag.settings import Settings
from rag.store import (
    STORE_KEY,
    Store,
    StoreError,
    StoreUnavailableError,
    make_client,
    open_store,
)

server = pytest.mark.server
slow = pytest.mark.slow


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


def test_store_key_constant_is_not_a_doc() -> None:
    assert not STORE_KEY.startswith("doc:")
    assert issubclass(StoreUnavailableError, StoreError)
