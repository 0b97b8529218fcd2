"""`newsrag ingest PATH` touches only what it was given: a subfolder or a file of the corpus
adds, updates and removes articles from files under it only; a folder outside the corpus is
refused (the store mirrors the corpus folder); `--replace` is the explicit way to wipe the rest.
Every case also as a dry run, which must report the same and change nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from newsdata import write_corpus

from ingest import Ingestor
from ingest.scope import OutsideCorpusError
from rag.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
WEB = {
    "kites.md": "---\ntitle: Kite festival returns\n---\nThe kite festival returns to Brack beach "
    "on Sunday. Two hundred kites are expected.",
    "ferry.md": "---\ntitle: Ferry timetable changes\n---\nThe island ferry will sail every "
    "forty minutes from May. The operator blamed fuel costs.",
}


@pytest.fixture
def ingested(settings: Settings, fake_embedder) -> Ingestor:  # noqa: ANN001
    """The five news articles at the top of the corpus and two more in corpus/web/."""
    write_corpus(settings.corpus_dir)
    web = settings.corpus_dir / "web"
    web.mkdir()
    for name, text in WEB.items():
        (web / name).write_text(text)
    ing = Ingestor(settings, embedder=fake_embedder)
    assert ing.run().added == 7
    return ing


def counts(summary) -> tuple[int, int, int, int]:  # noqa: ANN001
    return summary.added, summary.updated, summary.removed, summary.unchanged


def test_subfolder_changes_only_its_own_articles(settings: Settings, ingested: Ingestor) -> None:
    web = settings.corpus_dir / "web"
    (web / "kites.md").write_text(WEB["kites.md"].replace("Two hundred", "Three hundred"))
    (web / "ferry.md").unlink()
    (web / "storm.md").write_text("---\ntitle: Storm warning\n---\nA storm will reach the coast.")
    (settings.corpus_dir / "chess-final.md").unlink()  # outside PATH: must stay in the store
    before = ingested.store.documents()

    dry = ingested.run(web, dry_run=True)
    assert dry.dry_run and counts(dry) == (1, 1, 1, 0)
    assert ingested.store.documents() == before

    s = ingested.run(web)
    assert counts(s) == (1, 1, 1, 0)
    docs = ingested.store.documents()
    # doc_ids are corpus-relative whatever PATH was: the same ids a plain ingest gives.
    assert {"web/kites.md", "web/storm.md", "chess-final.md"} <= set(docs)
    assert "web/ferry.md" not in docs and len(docs) == 7
    assert ingested.run(dry_run=True).removed == 1  # the whole corpus: chess-final.md goes


def test_single_file_updates_it_under_its_corpus_id(settings: Settings, ingested: Ingestor) -> None:
    kites = settings.corpus_dir / "web" / "kites.md"
    kites.write_text(WEB["kites.md"].replace("Sunday", "Saturday"))
    (settings.corpus_dir / "web" / "ferry.md").unlink()
    dry = ingested.run(kites, dry_run=True)
    assert counts(dry) == (0, 1, 0, 0)
    s = ingested.run(kites)
    assert counts(s) == (0, 1, 0, 0)
    docs = ingested.store.documents()
    assert len(docs) == 7 and "kites.md" not in docs  # updated in place, not added as "kites.md"


def test_single_dump_file_removes_only_its_dropped_records(
    settings: Settings, ingested: Ingestor
) -> None:
    dump = settings.corpus_dir / "dump.jsonl"
    recs = [
        {"title": f"Note {i}", "text": f"Note number {i} about the harbour.", "url": f"u{i}"}
        for i in range(3)
    ]
    dump.write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert ingested.run(dump).added == 3
    dump.write_text("".join(json.dumps(r) + "\n" for r in recs[:2]))
    assert counts(ingested.run(dump, dry_run=True)) == (0, 0, 1, 2)
    assert counts(ingested.run(dump)) == (0, 0, 1, 2)
    assert len(ingested.store.documents()) == 9


def test_outside_folder_is_refused_unless_replace(
    settings: Settings, ingested: Ingestor, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "kites.md").write_text(WEB["kites.md"])
    before = ingested.store.documents()
    for dry_run in (True, False):
        with pytest.raises(OutsideCorpusError) as err:
            ingested.run(outside, dry_run=dry_run)
        assert str(outside) in str(err.value) and "--replace" in str(err.value)
    with pytest.raises(OutsideCorpusError):
        ingested.run(outside / "kites.md", dry_run=True)  # a file outside, too
    assert ingested.store.documents() == before

    # --replace: the store mirrors the outside folder, ids relative to it.
    assert counts(ingested.run(outside, dry_run=True, replace=True)) == (1, 0, 7, 0)
    assert ingested.store.documents() == before
    assert counts(ingested.run(outside, replace=True)) == (1, 0, 7, 0)
    assert set(ingested.store.documents()) == {"kites.md"}


def test_replace_on_a_subfolder_wipes_the_rest(settings: Settings, ingested: Ingestor) -> None:
    web = settings.corpus_dir / "web"
    assert counts(ingested.run(web, dry_run=True, replace=True)) == (0, 0, 5, 2)
    assert counts(ingested.run(web, replace=True)) == (0, 0, 5, 2)
    assert set(ingested.store.documents()) == {"web/kites.md", "web/ferry.md"}


def test_cli_refuses_an_outside_folder_with_exit_2(settings: Settings, tmp_path: Path) -> None:
    outside = tmp_path / "new-articles"
    outside.mkdir()
    (outside / "a.md").write_text("# A\nSome text.")
    env = {
        **os.environ,
        "NEWSRAG_CORPUS_DIR": str(settings.corpus_dir),
        "NEWSRAG_STORE_DIR": str(settings.store_dir),
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
    }
    for extra in ([], ["--dry-run"]):
        out = subprocess.run(
            [sys.executable, "-m", "ui.cli", "ingest", str(outside), *extra],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 2, out.stderr
        assert f"{outside} is outside the corpus folder" in out.stderr
        assert "Traceback" not in out.stderr and out.stdout == ""
