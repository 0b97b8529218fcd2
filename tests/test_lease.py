"""The ingest lease: one writer per store, across threads, processes and a Chroma server.

Tests taking `any_settings` run against the embedded store and against a real `chroma run`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from newsdata import write_corpus

from ingest import Ingestor, delete_document
from rag.settings import Settings
from rag.store import open_store
from rag.store.lease import LEASE_PREFIX, LeaseHeldError, LeaseLostError, store_lease

ROOT = Path(__file__).resolve().parents[1]
slow = pytest.mark.slow


def lease_for(settings: Settings, command: str = "test writer", expiry: float = 60.0):  # noqa: ANN201
    return store_lease(open_store(settings), expiry=expiry, command=command)


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "NEWSRAG_STORE_DIR": str(settings.store_dir),
        "NEWSRAG_CORPUS_DIR": str(settings.corpus_dir),
        "NEWSRAG_COLLECTION": settings.collection,
        **extra,
    }
    if settings.chroma_url:
        env["NEWSRAG_CHROMA_URL"] = settings.chroma_url
    return env


def test_second_writer_is_refused_with_the_holder_named(any_settings: Settings) -> None:
    first = lease_for(any_settings, "newsrag ingest corpus").acquire()
    try:
        second = lease_for(any_settings, "web chat: upload")
        t0 = time.monotonic()
        with pytest.raises(LeaseHeldError) as err:
            second.acquire(wait=0)
        assert time.monotonic() - t0 < 5
        message = str(err.value)
        assert "\n" not in message
        assert f"host {socket.gethostname()}" in message and f"pid {os.getpid()}" in message
        assert "`newsrag ingest corpus`" in message and "expires at" in message
        assert "--wait" in message
    finally:
        first.release()
    second.acquire(wait=0)  # free again once released
    second.release()
    assert not any(
        i.startswith(LEASE_PREFIX) for i in open_store(any_settings).manifest.get()["ids"]
    )


def test_manifest_listings_skip_the_lease_record(settings: Settings, fake_embedder) -> None:
    write_corpus(settings.corpus_dir, ["harbour-bridge.md", "chess-final.md"])
    ing = Ingestor(settings, embedder=fake_embedder)
    ing.run()
    with lease_for(settings):
        store = ing.store
        assert set(store.documents()) == {"harbour-bridge.md", "chess-final.md"}
        assert not store.pending() and len(store.list_documents()) == 2
        assert store.repair() == 0
        assert any(i.startswith(LEASE_PREFIX) for i in store.manifest.get()["ids"])


def test_renewed_while_held_and_taken_over_once_expired(settings: Settings) -> None:
    holder = lease_for(settings, expiry=1.5).acquire()
    time.sleep(2.5)  # past one expiry: only renewal keeps it
    with pytest.raises(LeaseHeldError):
        lease_for(settings).acquire(wait=0)
    holder.check()
    # The holder hangs: renewal stops, the record stays (as after SIGSTOP or a hung thread).
    holder._stop.set()
    holder._renewer.join()
    t0 = time.monotonic()
    taker = lease_for(settings).acquire(wait=10)
    handover = time.monotonic() - t0
    try:
        assert handover <= 1.5 + 0.5 + 0.5
        with pytest.raises(LeaseLostError):
            holder.check()  # it must not write any more
    finally:
        taker.release()
        holder._me = None


def test_many_renewals_never_mistake_our_own_record_for_a_rival(settings: Settings) -> None:
    """Chroma returns floats with a last digit changed now and then; a holder must still
    recognize its own record (times are stored as integer milliseconds)."""
    lease = lease_for(settings, expiry=0.3).acquire()
    try:
        time.sleep(5)  # about 50 renewals
        lease.check()
    finally:
        lease.release()


def test_ingest_holds_the_lease_through_a_rebuild(settings: Settings, fake_embedder) -> None:
    """--rebuild drops the manifest collection: the lease record must be back at once."""
    write_corpus(settings.corpus_dir, ["harbour-bridge.md", "chess-final.md"])
    ing = Ingestor(settings, embedder=fake_embedder)
    ing.run()
    refused: list[str] = []

    def during(done: int, total: int, what: str) -> None:
        try:
            lease_for(settings, "intruder").acquire(wait=0).release()
        except LeaseHeldError as exc:
            refused.append(str(exc))

    summary = ing.run(rebuild=True, progress=during, command="rebuilder")
    assert summary.added == 2 and refused and "`rebuilder`" in refused[0]
    lease_for(settings).acquire().release()  # released at the end


def test_delete_refused_while_another_writer_runs_changes_nothing(
    settings: Settings, fake_embedder
) -> None:
    write_corpus(settings.corpus_dir, ["harbour-bridge.md"])
    Ingestor(settings, embedder=fake_embedder).run()
    with lease_for(settings, "newsrag fetch"), pytest.raises(LeaseHeldError, match="newsrag fetch"):
        delete_document(settings, "harbour-bridge.md")
    assert (settings.corpus_dir / "harbour-bridge.md").exists()
    assert "harbour-bridge.md" in open_store(settings).documents()
    assert delete_document(settings, "harbour-bridge.md").startswith("deleted")


def test_web_chat_shows_the_same_message(settings: Settings, fake_embedder) -> None:
    import gradio as gr

    from ui.handlers import Handlers

    write_corpus(settings.corpus_dir, ["harbour-bridge.md"])
    Ingestor(settings, embedder=fake_embedder).run()
    handlers = Handlers(settings, None)
    with lease_for(settings, "newsrag ingest") as held:
        expected = str(LeaseHeldError(held.holders()[0]))
        for call in (
            lambda: handlers.reingest(progress=lambda *a, **k: None),
            lambda: handlers.delete("harbour-bridge.md"),
        ):
            with pytest.raises(gr.Error) as err:
                call()
            assert err.value.message == expected
    assert (settings.corpus_dir / "harbour-bridge.md").exists()


# ----- several processes -----------------------------------------------------------------------
CONTENDER = r"""
import json, os, sys, time
from rag.store.lease import LeaseHeldError, store_lease
from rag.settings import Settings
from rag.store import open_store

out, rounds, start = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
store = open_store(Settings())
time.sleep(max(0.0, start - time.time()))
with open(out, "a") as f:
    for i in range(rounds):
        lease = store_lease(store, expiry=10, command=f"contender {os.getpid()}")
        lease.acquire(wait=60)
        f.write(json.dumps({"pid": os.getpid(), "t": time.time(), "e": "in"}) + "\n"); f.flush()
        time.sleep(0.15)
        f.write(json.dumps({"pid": os.getpid(), "t": time.time(), "e": "out"}) + "\n"); f.flush()
        lease.release()
"""


def test_processes_take_turns_and_never_overlap(any_settings: Settings, tmp_path: Path) -> None:
    open_store(any_settings)  # create the collections before the race
    log = tmp_path / "turns.jsonl"
    n, rounds = 4, 4
    start = time.time() + 8  # all start contending at the same instant
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONTENDER, str(log), str(rounds), str(start)],
            env=env_for(any_settings),
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
    events = [json.loads(x) for x in log.read_text().splitlines()]
    events.sort(key=lambda e: e["t"])
    assert len(events) == 2 * n * rounds
    inside = None
    for e in events:  # strictly alternating in/out of one holder at a time
        if e["e"] == "in":
            assert inside is None, f"two holders at once: {inside} and {e['pid']}"
            inside = e["pid"]
        else:
            assert inside == e["pid"]
            inside = None


HOLDER = r"""
import sys, time
from rag.store.lease import store_lease
from rag.settings import Settings
from rag.store import open_store

s = Settings()
lease = store_lease(open_store(s), expiry=s.lease_expiry, command="doomed writer").acquire()
print("held", flush=True)
time.sleep(600)
"""

EXPIRY = 3.0


def test_sigkilled_holder_is_replaced_within_expiry_plus_one_renewal(
    any_settings: Settings, record_property
) -> None:
    open_store(any_settings)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER],
        env=env_for(any_settings, NEWSRAG_LEASE_EXPIRY=str(EXPIRY)),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        time.sleep(EXPIRY * 1.2)  # the holder has renewed at least once, and still holds
        with pytest.raises(LeaseHeldError, match="doomed writer"):
            lease_for(any_settings).acquire(wait=0)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        killed = time.monotonic()
        lease = lease_for(any_settings).acquire(wait=30)
        handover = time.monotonic() - killed
        lease.release()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    record_property("handover_seconds", round(handover, 2))
    sys.stderr.write(f"lease handover after SIGKILL: {handover:.2f}s\n")
    assert handover <= EXPIRY + EXPIRY / 3, handover


@slow
def test_cli_exit_code_4_then_wait(settings: Settings) -> None:
    write_corpus(settings.corpus_dir, ["harbour-bridge.md"])
    cmd = [sys.executable, "-m", "ui.cli", "ingest"]
    with lease_for(settings, "newsrag fetch --feed x"):
        out = subprocess.run(
            cmd, env=env_for(settings), capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 4, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and f"pid {os.getpid()}" in lines[0]
        assert "`newsrag fetch --feed x`" in lines[0] and "expires at" in lines[0]
        waiter = subprocess.Popen(
            [*cmd, "--wait", "60"], env=env_for(settings), stdout=subprocess.PIPE, text=True
        )
        time.sleep(3)
        assert waiter.poll() is None  # still waiting for us
    stdout, _ = waiter.communicate(timeout=300)
    assert waiter.returncode == 0 and "added 1" in stdout


def test_writer_that_lost_its_lease_stops_before_its_next_batch(
    settings: Settings, fake_embedder
) -> None:
    """A writer whose record vanished (it stalled past expiry and another writer swept it)
    notices at its next renewal and writes no further batch; the next run completes the job."""
    s = settings.model_copy(update={"lease_expiry": 1.5, "embed_batch_size": 1})
    for i in range(30):
        (s.corpus_dir / f"a{i:02}.txt").write_text(
            " ".join(f"Story {i} sentence {j} about the harbour." for j in range(6))
        )
    ing = Ingestor(s, embedder=fake_embedder)
    batches: list[int] = []

    def sweep_our_record(done: int, total: int, what: str) -> None:
        batches.append(done)
        if len(batches) == 1:
            store = ing.store
            ids = [i for i in store.manifest.get()["ids"] if i.startswith(LEASE_PREFIX)]
            store.manifest.delete(ids=ids)
            time.sleep(1.5 / 3 + 0.5)  # one renewal: it finds the record gone

    with pytest.raises(LeaseLostError):
        ing.run(progress=sweep_our_record)
    assert len(batches) == 1 and batches[0] < 30
    done = len(ing.store.documents())
    assert done == batches[0]  # nothing written after the loss
    summary = Ingestor(s, embedder=fake_embedder).run()
    assert summary.added == 30 - done and len(ing.store.documents()) == 30
