"""Incremental ingest: the store always holds exactly the corpus, whatever happened before."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from newsdata import ARTICLES, write_corpus

from ingest import Ingestor
from ingest.loaders import discover, load_file
from rag.settings import Settings
from rag.store import Store, StoreMismatchError, open_store


def expected_articles(settings: Settings) -> dict[str, str]:
    """doc_id -> sha256 of every loadable article in the corpus."""
    files, _ = discover(settings.corpus_dir)
    out: dict[str, str] = {}
    for f in files:
        try:
            for art in load_file(
                f, settings.corpus_dir, max_bytes=settings.max_file_bytes
            ).articles:
                out[art.doc_id] = art.sha256
        except Exception:  # noqa: BLE001 - broken files are expected in some tests
            continue
    return out


def assert_consistent(store: Store, expected: dict[str, str]) -> None:
    """Chunk ids are exactly doc_id#version:0..n-1 for the corpus' current versions; nothing
    else is stored (no duplicate, stale or orphan chunk or sentence)."""
    docs = store.documents()
    assert {d: i.sha256 for d, i in docs.items()} == expected
    assert not store.pending()
    chunk_ids = [h.chunk_id for h in store.iter_chunks()]
    assert len(chunk_ids) == len(set(chunk_ids))
    want = {
        f"{doc_id}#{info.sha256[:12]}:{i}"
        for doc_id, info in docs.items()
        for i in range(info.chunks)
    }
    assert set(chunk_ids) == want
    sentence_chunks = set(store.sentences.get(include=["metadatas"])["ids"])
    assert {sid.rsplit("/s", 1)[0] for sid in sentence_chunks} == want


def make_ingestor(settings: Settings, embedder) -> Ingestor:  # noqa: ANN001
    return Ingestor(settings, embedder=embedder)


class TestIncrementalIngestFake:
    """Plumbing with the fast fake embedder."""

    def test_add_edit_delete_rename(self, settings: Settings, fake_embedder) -> None:
        corpus = settings.corpus_dir
        write_corpus(corpus)
        ing = make_ingestor(settings, fake_embedder)
        s = ing.run()
        assert (s.added, s.updated, s.removed, s.unchanged, s.failed) == (5, 0, 0, 0, 0)
        assert_consistent(ing.store, expected_articles(settings))

        s = ing.run()
        assert (s.added, s.updated, s.removed, s.unchanged) == (0, 0, 0, 5)
        assert s.chunks_written == 0

        (corpus / "chess-final.md").write_text(
            ARTICLES["chess-final.md"].replace("six hours", "seven hours"), encoding="utf-8"
        )
        (corpus / "wheat-harvest.md").unlink()
        (corpus / "museum-theft.md").rename(corpus / "manuscript.md")
        (corpus / "new.txt").write_text("A brand new article about tides. It is short.")
        s = ing.run()
        assert (s.added, s.updated, s.removed, s.unchanged) == (2, 1, 2, 2)
        assert_consistent(ing.store, expected_articles(settings))
        assert "museum-theft.md" not in ing.store.documents()

    def test_dry_run_changes_nothing(self, settings: Settings, fake_embedder) -> None:
        write_corpus(settings.corpus_dir, ["chess-final.md"])
        ing = make_ingestor(settings, fake_embedder)
        ing.run()
        before = sorted(h.chunk_id for h in ing.store.iter_chunks())
        write_corpus(settings.corpus_dir)
        (settings.corpus_dir / "chess-final.md").unlink()
        s = ing.run(dry_run=True)
        assert (s.added, s.removed, s.dry_run) == (5 - 1, 1, True)
        assert sorted(h.chunk_id for h in ing.store.iter_chunks()) == before

    def test_mismatched_chunking_is_refused_then_rebuilt(
        self, settings: Settings, fake_embedder
    ) -> None:
        write_corpus(settings.corpus_dir)
        make_ingestor(settings, fake_embedder).run()
        other = settings.model_copy(update={"chunk_size": 64})
        with pytest.raises(StoreMismatchError, match="--rebuild"):
            make_ingestor(other, fake_embedder).run()
        s = make_ingestor(other, fake_embedder).run(rebuild=True)
        assert s.added == 5
        assert_consistent(open_store(other), expected_articles(other))

    def test_bad_inputs_are_reported_and_the_rest_ingested(
        self, settings: Settings, fake_embedder
    ) -> None:
        corpus = settings.corpus_dir
        write_corpus(corpus)
        (corpus / "empty.txt").write_text("")
        (corpus / "binary.txt").write_bytes(b"\x00\x01\x02PNG\x00" * 200)
        (corpus / "latin1.txt").write_bytes(
            "Caf\xe9 owners in Port Ellery cheered.".encode("latin-1")
        )
        (corpus / "broken.json").write_text('{"title": "x", "text": ')
        (corpus / "notext.json").write_text('{"title": "Only a title"}')
        (corpus / "huge.txt").write_text("big " * 5000)
        (corpus / "gone.txt").symlink_to(corpus / "missing-target.txt")
        (corpus / "image.png").write_bytes(b"\x89PNG")
        small = settings.model_copy(update={"max_file_bytes": 10_000})
        s = make_ingestor(small, fake_embedder).run()
        failed = {f.path: f.reason for f in s.failures}
        assert set(failed) >= {
            "empty.txt",
            "binary.txt",
            "broken.json",
            "notext.json",
            "huge.txt",
            "gone.txt",
        }
        assert "malformed JSON" in failed["broken.json"]
        assert "limit" in failed["huge.txt"]
        assert s.skipped == ["image.png"]
        assert s.added == 6  # five articles + the latin-1 one, decoded with a fallback
        assert s.failed == len(s.failures)

    def test_file_that_breaks_keeps_its_last_good_version(
        self, settings: Settings, fake_embedder
    ) -> None:
        write_corpus(settings.corpus_dir)
        ing = make_ingestor(settings, fake_embedder)
        ing.run()
        (settings.corpus_dir / "chess-final.md").write_bytes(b"\x00\x00\x00binary")
        s = ing.run()
        assert s.failed == 1 and s.removed == 0
        assert "chess-final.md" in ing.store.documents()

    def test_interrupted_write_is_invisible_and_repaired(
        self, settings: Settings, fake_embedder
    ) -> None:
        """A crash between adding chunks and committing the manifest: readers never see the
        new version and the next run finishes the job."""
        write_corpus(settings.corpus_dir)
        ing = make_ingestor(settings, fake_embedder)
        ing.run()
        store = ing.store
        path = settings.corpus_dir / "harbour-bridge.md"
        path.write_text(ARTICLES["harbour-bridge.md"] + "\nA late update was added.\n")
        real_upsert = store.manifest.upsert
        calls = {"n": 0}

        def crash_on_commit(**kwargs):  # noqa: ANN003
            if kwargs["ids"][0].startswith("__lease__"):  # the ingest lease, not the article
                return real_upsert(**kwargs)
            calls["n"] += 1
            if calls["n"] == 2:  # 1st = pending marker, 2nd = commit
                raise KeyboardInterrupt("simulated kill")
            return real_upsert(**kwargs)

        store.manifest.upsert = crash_on_commit  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            ing.run()
        store.manifest.upsert = real_upsert  # type: ignore[method-assign]
        assert "harbour-bridge.md" in store.pending()
        old_sha = store.documents()["harbour-bridge.md"].sha256
        assert store.committed_sha(["harbour-bridge.md"]) == {"harbour-bridge.md": old_sha}
        s = ing.run()
        assert s.updated == 1
        assert_consistent(store, expected_articles(settings))

    def test_single_file_path_adds_without_removing_others(
        self, settings: Settings, fake_embedder
    ) -> None:
        write_corpus(settings.corpus_dir)
        ing = make_ingestor(settings, fake_embedder)
        ing.run()
        extra = settings.corpus_dir / "extra.txt"
        extra.write_text("Extra article about kites. Kites fly high.")
        s = ing.run(extra)
        assert (s.added, s.removed) == (1, 0)
        assert len(ing.store.documents()) == 6


@pytest.mark.slow
class TestIngestRealModel:
    def test_reingest_sequence_with_real_model(self, settings: Settings, real_embedder) -> None:
        write_corpus(settings.corpus_dir)
        ing = Ingestor(settings, embedder=real_embedder)
        assert ing.run().added == 5
        assert_consistent(ing.store, expected_articles(settings))
        (settings.corpus_dir / "battery-plant.md").write_text(
            ARTICLES["battery-plant.md"].replace("1,800 jobs", "2,000 jobs")
        )
        s = ing.run()
        assert (s.updated, s.unchanged) == (1, 4)
        assert_consistent(ing.store, expected_articles(settings))
        hits = ing.store.dense_search(
            real_embedder.encode(["how many jobs at the gigafactory"])[0], 3
        )
        assert hits[0].doc_id == "battery-plant.md"
        assert "2,000 jobs" in hits[0].text

    def test_cli_json_summary_and_exit_codes(self, settings: Settings) -> None:
        write_corpus(settings.corpus_dir)
        (settings.corpus_dir / "broken.jsonl").write_text(
            '{"title": "a", "text": "ok text."}\n{bad\n'
        )
        env = {
            **os.environ,
            "NEWSRAG_CORPUS_DIR": str(settings.corpus_dir),
            "NEWSRAG_STORE_DIR": str(settings.store_dir),
        }
        out = subprocess.run(
            [sys.executable, "-m", "ui.cli", "ingest", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 1, out.stderr
        summary = json.loads(out.stdout)
        assert {"added", "updated", "removed", "unchanged", "failed", "failures"} <= set(summary)
        assert summary["added"] == 6 and summary["failed"] == 1
        assert summary["failures"][0]["path"].startswith("broken.jsonl:2")
        out = subprocess.run(
            [sys.executable, "-m", "ui.cli", "ingest", "--dry-run"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert "added 0, updated 0, removed 0, unchanged 6, failed 1" in out.stdout

    def test_sigkill_mid_ingest_then_clean_run(self, settings: Settings, tmp_path: Path) -> None:
        corpus = settings.corpus_dir
        for i in range(40):
            (corpus / f"a{i:02}.txt").write_text(
                " ".join(
                    f"Article {i} sentence {j} about harbour number {i * j}." for j in range(8)
                )
            )
        env = {
            **os.environ,
            "NEWSRAG_CORPUS_DIR": str(corpus),
            "NEWSRAG_STORE_DIR": str(settings.store_dir),
            "NEWSRAG_COLLECTION": settings.collection,
            "NEWSRAG_EMBED_BATCH_SIZE": "4",
            "NEWSRAG_LEASE_EXPIRY": "3",  # its lease outlives it by at most 3 s
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "ui.cli", "-v", "ingest"],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        written = 0
        deadline = time.monotonic() + 240
        assert proc.stderr is not None
        for line in proc.stderr:
            if "ingest.runner: wrote" in line:
                written += 1
                if written >= 10:
                    break
            if time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert 10 <= written < 40, "the kill should land mid-run"

        from rag.store import Store

        s = Ingestor(settings).run(wait=30)  # the dead writer's lease expires, then repair
        assert s.added + s.unchanged == 40 and s.failed == 0
        assert s.added < 40
        assert_consistent(Store(settings), expected_articles(settings))


class TestModelConfiguration:
    def test_unreachable_hub_model_fails_fast_in_one_line(self, settings: Settings) -> None:
        write_corpus(settings.corpus_dir, ["chess-final.md"])
        env = {
            **os.environ,
            "NEWSRAG_CORPUS_DIR": str(settings.corpus_dir),
            "NEWSRAG_STORE_DIR": str(settings.store_dir),
            "NEWSRAG_EMBED_MODEL": "some-org/not-a-cached-model",
        }
        t0 = time.monotonic()
        out = subprocess.run(
            [sys.executable, "-m", "ui.cli", "ingest"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 2
        assert "some-org/not-a-cached-model" in out.stderr and "hub" in out.stderr
        assert "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
        assert time.monotonic() - t0 < 60

    def test_bad_setting_is_named(self, settings: Settings) -> None:
        env = {**os.environ, "NEWSRAG_CHUNK_SIZE": "lots"}
        out = subprocess.run(
            [sys.executable, "-m", "ui.cli", "ingest", "--dry-run"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 2 and "NEWSRAG_CHUNK_SIZE" in out.stderr

    @pytest.mark.parametrize("command", [["ingest"], ["ask", "Who won?"]])
    def test_bad_collection_name_is_a_configuration_error(
        self, settings: Settings, command: list[str]
    ) -> None:
        """Exit 2 naming the setting, not "store unavailable" (exit 3) from Chroma."""
        write_corpus(settings.corpus_dir, ["chess-final.md"])
        env = {
            **os.environ,
            "NEWSRAG_CORPUS_DIR": str(settings.corpus_dir),
            "NEWSRAG_STORE_DIR": str(settings.store_dir),
            "NEWSRAG_COLLECTION": "my news!",
        }
        out = subprocess.run(
            [sys.executable, "-m", "ui.cli", *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 2, out.stderr
        assert "NEWSRAG_COLLECTION" in out.stderr and "collection name" in out.stderr
        assert "unavailable" not in out.stderr and "Traceback" not in out.stderr
        with pytest.raises(ValueError, match="collection name"):
            Settings(collection="my news!")


class TestTokenizerVersion:
    """The sentence tokens stored at ingest come from `rag.text`: a store written by another
    tokenizer version is refused (with the --rebuild hint) by ingest and by queries alike."""

    def test_changed_tokenizer_is_refused_then_rebuilt(
        self, settings: Settings, fake_embedder, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from rag import text
        from rag.pipeline import Pipeline

        write_corpus(settings.corpus_dir)
        make_ingestor(settings, fake_embedder).run()
        config = open_store(settings).config()
        assert config is not None and config.tokenizer == text.TOKENIZER_VERSION

        monkeypatch.setattr(text, "TOKENIZER_VERSION", text.TOKENIZER_VERSION + "-changed")
        with pytest.raises(StoreMismatchError, match=r"tokenizer.*--rebuild"):
            make_ingestor(settings, fake_embedder).run()
        with pytest.raises(StoreMismatchError, match=r"tokenizer.*--rebuild"):
            Pipeline(settings, store=open_store(settings), embedder=fake_embedder)
        assert make_ingestor(settings, fake_embedder).run(rebuild=True).added == 5
        pipe = Pipeline(settings, store=open_store(settings), embedder=fake_embedder)
        assert pipe.answer("Who won the chess championship?").citations

    def test_store_written_before_the_version_was_recorded_reads_as_version_1(
        self, settings: Settings, fake_embedder
    ) -> None:
        from rag.store import STORE_KEY

        write_corpus(settings.corpus_dir)
        store = make_ingestor(settings, fake_embedder).run() and open_store(settings)
        meta = store.manifest.get(ids=[STORE_KEY], include=["metadatas"])["metadatas"][0]
        old = {k: v for k, v in meta.items() if k != "tokenizer"}
        store.manifest.delete(ids=[STORE_KEY])
        store.manifest.upsert(ids=[STORE_KEY], embeddings=[[1.0]], metadatas=[old])
        config = store.config()
        assert config is not None and config.tokenizer == "1"
        assert make_ingestor(settings, fake_embedder).run().unchanged == 5
