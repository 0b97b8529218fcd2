"""Two writers and eight readers on one Chroma server, under load.

One process edits, adds and deletes tiny articles and re-ingests, cycle after cycle; another
answers from 8 threads; a third runs `newsrag ingest` again and again. Targets (issue 14):
no reader sees a half-written article (a version before its commit, a mix of two versions, or
a committed version with chunks or sentences missing), the third writer is refused with exit
code 4 or waits its turn, no article is lost in any cycle, and the final store is exactly the
corpus. All three processes use the fake embedder (see tests/concurrency_worker.py).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from chroma_server import ChromaServer, server_settings
from conftest import FakeEmbedder
from server_support import check_consistent, env_for, expected_shas, wait_for

from ingest import Ingestor
from rag.settings import Settings
from rag.store import open_store

HERE = Path(__file__).resolve().parent
CYCLES = int(os.environ.get("NEWSRAG_CONCURRENCY_CYCLES", "200"))


def read_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


@pytest.mark.slow
@pytest.mark.server
def test_writer_readers_and_intruder_under_load(
    settings: Settings, chroma_server: ChromaServer, tmp_path: Path, record_property
) -> None:
    s = server_settings(settings, chroma_server, chunk_size=32, chunk_overlap=0, lease_expiry=10)
    sys.path.insert(0, str(HERE))
    from concurrency_worker import POOL, article

    rng = random.Random(1)
    for doc in POOL[:20]:
        (s.corpus_dir / f"{doc}.md").write_text(article(doc, 0, rng))
    Ingestor(s, embedder=FakeEmbedder()).run()
    initial = {(d, i.sha256) for d, i in open_store(s).documents().items()}

    env = env_for(
        s,
        NEWSRAG_CHUNK_SIZE="32",
        NEWSRAG_CHUNK_OVERLAP="0",
        NEWSRAG_LEASE_EXPIRY="10",
        OMP_NUM_THREADS="1",
        PYTHONPATH=f"{env_for(s)['PYTHONPATH']}{os.pathsep}{HERE}",
    )
    logs = {k: tmp_path / f"{k}.jsonl" for k in ("writer", "readers", "intruder")}
    stop = tmp_path / "stop"
    worker = str(HERE / "concurrency_worker.py")

    def start(*args: str) -> subprocess.Popen:
        err = open(tmp_path / f"{args[0]}.err", "w")  # noqa: SIM115 - closed with the process
        return subprocess.Popen(
            [sys.executable, worker, *args], env=env, stderr=err, stdout=subprocess.DEVNULL
        )

    readers = start("readers", str(logs["readers"]), str(stop), "8")
    procs = [readers]
    try:
        wait_for(
            lambda: any(r["event"] == "ready" for r in read_log(logs["readers"])),
            120,
            "the readers to load",
        )
        intruder = start("intruder", str(logs["intruder"]), str(stop))
        writer = start("writer", str(logs["writer"]), str(CYCLES), "7")
        procs += [intruder, writer]
        t0 = time.monotonic()
        assert writer.wait(timeout=1500) == 0, (tmp_path / "writer.err").read_text()[-3000:]
        seconds = time.monotonic() - t0
    finally:
        stop.touch()
        for p in procs:
            try:
                p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
    assert readers.returncode == 0, (tmp_path / "readers.err").read_text()[-3000:]
    assert intruder.returncode == 0, (tmp_path / "intruder.err").read_text()[-3000:]

    wlog, rlog, ilog = (read_log(logs[k]) for k in ("writer", "readers", "intruder"))
    cycles = [e for e in wlog if e["event"] == "cycle"]
    assert len(cycles) == CYCLES and wlog[-1]["event"] == "done"
    lost = [
        (e["cycle"], e["lost"], e["extra"], e["stale"])
        for e in cycles
        if e["lost"] or e["extra"] or e["stale"]
    ]
    assert not lost, f"store differed from the corpus after a cycle: {lost[:5]}"

    # When each version became visible: the writer's and the intruder's commits.
    flipped: dict[tuple[str, str], float] = {v: 0.0 for v in initial}
    for e in wlog + ilog:
        if e["event"] == "flip":
            for doc, sha in e["versions"]:
                flipped.setdefault((doc, sha), e["t"])
    reads = [e for e in rlog if e["event"] == "read"]
    errors = [e["error"] for e in rlog if e["event"] == "error"]
    assert not errors, errors[:5]
    violations = []
    verdicts = {"ok": 0, "raced": 0, "violation": 0}
    for e in reads:
        if e["mixed"]:
            violations.append(("mixed versions", e))
        for key, verdict in e["verdicts"].items():
            verdicts[verdict] += 1
            doc, sha = key.split("@")
            if verdict == "violation":
                violations.append(("chunks missing from a committed version", key))
            at = flipped.get((doc, sha))
            if at is None or e["t1"] < at:
                violations.append(("seen before its commit", key, at, e["t1"]))
    attempts = [e for e in ilog if e["event"] == "attempt"]
    codes = {c: sum(1 for a in attempts if a["code"] == c) for c in {a["code"] for a in attempts}}

    store = open_store(s)
    final = check_consistent(store)  # every chunk and sentence accounted for, no orphans
    assert final == expected_shas(s)
    numbers = {
        "cycles": len(cycles),
        "seconds": round(seconds, 1),
        "reads": len(reads),
        "versions_checked": verdicts,
        "violations": len(violations),
        "lost_articles": sum(len(x[1]) for x in lost),
        "intruder_exit_codes": codes,
        "final_articles": len(final),
    }
    record_property("concurrency", json.dumps(numbers))
    sys.stderr.write(f"concurrency under load: {json.dumps(numbers)}\n")
    assert not violations, violations[:5]
    assert reads and verdicts["ok"] > CYCLES, "the readers must have checked many versions"
    assert set(codes) <= {0, 4} and codes.get(4, 0) > 0, codes
    waited = [a for a in attempts if a["waited"] and a["code"] == 0]
    assert waited or not any(a["waited"] for a in attempts), "a --wait attempt should succeed"
