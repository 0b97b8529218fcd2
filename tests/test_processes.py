"""Several processes on one store: a chat process answers in a loop while another process
writes, on the embedded store and on a Chroma server.

An embedded Chroma client keeps its vector index in memory and never sees another process's
writes; newsrag reopens it when the store's change marker moves (rag/store/chroma.py). These
tests prove it with real processes, the real model and a real `newsrag ingest`.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from chroma_server import ChromaServer, server_settings
from newsdata import ARTICLES, write_corpus
from server_support import (
    BIN,
    BRIDGE_V2,
    LONG_BATTERY,
    QUESTIONS,
    check_consistent,
    env_for,
    wait_for,
)

from ingest import Ingestor
from rag.settings import Settings
from rag.store import chunk_id_for, open_store

server = pytest.mark.server
slow = pytest.mark.slow


def read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


# ----- a chat process answering while `newsrag ingest` adds, updates and deletes ---------------
CHAT = r"""
import json, sys, time
from pathlib import Path
from rag.pipeline import get_pipeline
from rag.settings import Settings

out, stop, questions = open(sys.argv[1], "a"), Path(sys.argv[2]), json.loads(sys.argv[3])
pipe = get_pipeline(Settings())
def log(rec):
    out.write(json.dumps(rec) + "\n"); out.flush()
log({"event": "ready", "t": time.time()})
i = 0
while not stop.exists() and i < 5000:
    q = questions[i % len(questions)]; i += 1
    t0 = time.time()
    try:
        a = pipe.answer(q)
        log({"q": q, "t0": t0, "t1": time.time(), "text": a.text,
             "cited": sorted({c.doc_id for c in a.citations})})
    except Exception as exc:
        log({"q": q, "t0": t0, "t1": time.time(), "error": repr(exc)})
"""
CHAT_QUESTIONS = [
    "How many jobs will the battery gigafactory create?",  # added by the writer
    QUESTIONS[0],  # the bridge's cost: updated by the writer (84 -> 91 million pounds)
    QUESTIONS[1],  # the chess championship: deleted by the writer
    QUESTIONS[3],  # the manuscript: untouched
]


@slow
def test_chat_keeps_answering_while_cli_ingest_writes(
    any_settings: Settings, real_embedder, tmp_path: Path
) -> None:
    """A chat process answers in a loop while `newsrag ingest` (another process) adds an
    article, updates one and deletes one: no answer fails, and once the ingest has exited the
    chat answers from the new article, quotes the new figure and never cites the deleted one,
    without a restart (the reported bug: "Error finding id" until the server restarted)."""
    s = any_settings
    write_corpus(s.corpus_dir, [n for n in ARTICLES if n != "battery-plant.md"])
    Ingestor(s, embedder=real_embedder).run()
    answers, stop = tmp_path / "answers.jsonl", tmp_path / "stop"
    env = env_for(s, OMP_NUM_THREADS="1")
    chat = subprocess.Popen(
        [str(BIN / "python"), "-c", CHAT, str(answers), str(stop), json.dumps(CHAT_QUESTIONS)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "chat.err", "w"),
    )
    try:
        wait_for(lambda: len(read(answers)) >= 1 + len(CHAT_QUESTIONS), 240, "the chat to answer")
        before = [r for r in read(answers) if "q" in r]
        assert all("error" not in r for r in before), before
        assert not [r for r in before if "battery-plant.md" in r.get("cited", [])]
        (s.corpus_dir / "battery-plant.md").write_text(LONG_BATTERY)
        (s.corpus_dir / "harbour-bridge.md").write_text(BRIDGE_V2)
        (s.corpus_dir / "chess-final.md").unlink()
        ing = subprocess.run(
            [str(BIN / "newsrag"), "ingest", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert ing.returncode == 0, ing.stderr[-3000:]
        summary = json.loads(ing.stdout.strip().splitlines()[-1])
        assert (summary["added"], summary["updated"], summary["removed"]) == (1, 1, 1)

        done = time.time()
        wait_for(
            lambda: (
                len([r for r in read(answers) if r.get("t0", 0) > done]) >= 2 * len(CHAT_QUESTIONS)
            ),
            240,
            "two rounds of answers after the ingest",
        )
    finally:
        stop.touch()
        chat.wait(timeout=120)
    recs = [r for r in read(answers) if "q" in r]
    errors = [r for r in recs if "error" in r]
    assert not errors, errors[:3]
    assert len([r for r in recs if done > r["t0"]]) > len(CHAT_QUESTIONS)  # it did answer
    late = [r for r in recs if r["t0"] > done]
    for r in late:
        assert "chess-final.md" not in r["cited"], r
        if r["q"] == CHAT_QUESTIONS[0]:
            assert r["cited"][:1] and "battery-plant.md" in r["cited"], r
        if r["q"] == CHAT_QUESTIONS[1]:
            assert "91 million" in r["text"] and "84 million" not in r["text"], r
        if r["q"] == CHAT_QUESTIONS[3]:
            assert "museum-theft.md" in r["cited"], r


# ----- a write held half-done: readers never see into it --------------------------------------
ANSWERER = r"""
import json, sys, time
from pathlib import Path
from rag.records import Filters
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
