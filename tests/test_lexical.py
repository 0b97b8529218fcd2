"""The lexical index updated in place (rag/store/lexical.py, rag/store/lexview.py).

What a user notices: an article added, edited or deleted is found / no longer found by the
lexical side at once, in the process that was already serving and in a second process; a
restart does not rebuild the index; a store built before the index existed gets it built
once from Chroma; the scores are bm25s's (the ranking the fusion weights were fitted on).
Real embedded Chroma on disk, the fast fake embedder (no dense path is under test here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest import Ingestor
from rag.settings import Settings
from rag.store import Bm25Index, Bm25Manager, bm25_manager, open_store
from rag.store import bm25 as bm25_module
from rag.store.lexical import LexicalDb, lexical_path
from rag.text import bm25_text, tokenize

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

BASE = {
    "harbour.txt": "Harbour bridge costs\n\nThe harbour bridge will cost 84 million pounds, "
    "the council said. Engineers expect the bridge to open in spring.",
    "chess.txt": "Chess final\n\nLena Varga won the national chess championship in Pecs. "
    "She learned to play chess from her grandfather.",
    "rain.txt": "Heavy rain\n\nHeavy rain flooded the valley roads on Monday. The river rose "
    "two metres overnight and the council opened shelters.",
}


def _corpus(settings: Settings, files: dict[str, str]) -> None:
    for name in os.listdir(settings.corpus_dir):
        (settings.corpus_dir / name).unlink()
    for name, body in files.items():
        (settings.corpus_dir / name).write_text(body)


def _found(manager: Bm25Manager, word: str) -> set[str]:
    ids, _, _ = manager.current().top(tokenize(word), 10)
    return {cid.split("#")[0] for cid in ids}


def _found_in_other_process(settings: Settings, word: str) -> set[str]:
    code = (
        "import json, sys\n"
        "from rag.settings import Settings\n"
        "from rag.store import bm25_manager, open_store\n"
        "from rag.text import tokenize\n"
        "s = Settings.model_validate_json(sys.argv[1])\n"
        "ids, _, _ = bm25_manager(s, open_store(s)).current().top(tokenize(sys.argv[2]), 10)\n"
        "print(json.dumps(sorted({c.split('#')[0] for c in ids})))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code, settings.model_dump_json(), word],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.fixture
def ingested(settings: Settings, fake_embedder) -> Settings:  # noqa: ANN001
    _corpus(settings, BASE)
    Ingestor(settings, embedder=fake_embedder).run()
    return settings


@pytest.mark.parametrize("compacted", [False, True])
def test_scores_are_bm25s_scores(ingested: Settings, fake_embedder, compacted: bool) -> None:  # noqa: ANN001
    """Also after an edit (dead postings masked) and after compaction (dropped)."""
    _corpus(ingested, {**BASE, "chess.txt": BASE["chess.txt"] + " The council cheered."})
    Ingestor(ingested, embedder=fake_embedder).run()
    store = open_store(ingested)
    if compacted:
        store.lexical.compact()
    view = bm25_manager(ingested, store).current()
    reference = Bm25Index.build(
        (h.chunk_id, bm25_text(h.metadata.get("title", ""), h.text), h.metadata)
        for h in store.iter_chunks()
        if h.metadata.get("sha") == store.documents()[h.doc_id].sha256
    )
    for question in ["harbour bridge cost", "chess championship chess", "council", "zzz"]:
        q = tokenize(question)
        ref = dict(zip(reference.ids, reference.scores(q).tolist(), strict=True))
        got = view.scores(q)
        mine = {cid: float(got[view.position(cid)]) for cid in ref}  # type: ignore[index]
        assert mine == pytest.approx(ref, rel=1e-4, abs=1e-6), question


def test_add_edit_delete_are_seen_at_once_here_and_in_another_process(
    ingested: Settings,
    fake_embedder,  # noqa: ANN001
) -> None:
    # A serving process that never re-reads the store's generation: only the file's own
    # change record can tell it about the writes.
    serving = Bm25Manager(open_store(ingested), lexical_path(ingested).parent, 3600.0)
    assert _found(serving, "zebra") == set()
    columns = serving._cols

    _corpus(ingested, {**BASE, "zoo.txt": "Zoo news\n\nA zebra foal was born at the zoo."})
    Ingestor(ingested, embedder=fake_embedder).run()
    assert _found(serving, "zebra") == {"zoo.txt"}
    assert _found_in_other_process(ingested, "zebra") == {"zoo.txt"}
    assert serving._cols is columns  # caught up from the new rows, not reloaded

    _corpus(ingested, {**BASE, "zoo.txt": "Zoo news\n\nA giraffe calf was born at the zoo."})
    Ingestor(ingested, embedder=fake_embedder).run()
    assert _found(serving, "zebra") == set()
    assert _found(serving, "giraffe") == {"zoo.txt"}
    assert _found_in_other_process(ingested, "zebra") == set()

    _corpus(ingested, BASE)
    Ingestor(ingested, embedder=fake_embedder).run()
    assert _found(serving, "giraffe") == set()
    assert _found(serving, "zoo") == set()
    assert _found_in_other_process(ingested, "giraffe") == set()
    assert _found(serving, "chess") == {"chess.txt"}
    open_store(ingested).lexical.compact()
    assert _found(serving, "giraffe") == set()
    assert _found(serving, "chess") == {"chess.txt"}
    visible = sum(d.chunks for d in open_store(ingested).documents().values())
    assert len(serving.current()) == visible


def test_restart_reads_the_file_without_rebuilding(
    ingested: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_rebuild(*args: object, **kwargs: object) -> int:
        raise AssertionError("the lexical index was rebuilt from Chroma")

    monkeypatch.setattr(bm25_module, "reconcile", no_rebuild)
    fresh = bm25_manager(ingested, open_store(ingested))
    assert _found(fresh, "harbour") == {"harbour.txt"}
    assert _found(fresh, "valley rain") == {"rain.txt"}


def test_store_from_before_the_index_is_indexed_once(
    ingested: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for f in lexical_path(ingested).parent.glob("lexical.sqlite3*"):
        f.unlink()
    calls: list[int] = []
    real = bm25_module.reconcile

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(bm25_module, "reconcile", counted)
    manager = bm25_manager(ingested, open_store(ingested))
    assert _found(manager, "harbour bridge") == {"harbour.txt"}
    assert _found(manager, "chess") == {"chess.txt"}
    assert calls == [1]
    again = bm25_manager(ingested, open_store(ingested))
    assert _found(again, "flooded") == {"rain.txt"}
    assert calls == [1]


def test_a_write_the_file_missed_is_reconciled_from_the_manifest(
    ingested: Settings,
    fake_embedder,  # noqa: ANN001
) -> None:
    """A writer on another machine (a Chroma server) updates Chroma but not this file: the
    serving process notices the generation and re-indexes only what differs."""
    serving = Bm25Manager(open_store(ingested), lexical_path(ingested).parent, 0.0)
    assert _found(serving, "harbour") == {"harbour.txt"}
    writer = open_store(ingested)
    other = ingested.store_dir / "elsewhere"  # the writer machine's own lexical file
    writer.lexical = LexicalDb(other / "lexical.sqlite3")
    _corpus(ingested, {k: v for k, v in BASE.items() if k != "harbour.txt"})
    Ingestor(ingested, store=writer, embedder=fake_embedder, bm25=Bm25Manager(writer, other)).run()
    assert _found(serving, "harbour") == set()
    assert _found(serving, "chess") == {"chess.txt"}
    visible = sum(d.chunks for d in open_store(ingested).documents().values())
    assert len(serving.current()) == visible
