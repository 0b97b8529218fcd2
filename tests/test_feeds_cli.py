"""`newsrag feeds ...` and `newsrag fetch` through the real CLI entry point (real model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from feednews import HARBOUR, RSS_STORIES, publish
from feedsite import serve

from ui.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    monkeypatch.setenv("NEWSRAG_CORPUS_DIR", str(corpus))
    monkeypatch.setenv("NEWSRAG_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("NEWSRAG_COLLECTION", "feedscli")
    monkeypatch.setenv("NEWSRAG_FETCH_DELAY", "0")
    return corpus


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_feeds_commands_and_fetch(env: Path, tmp_path: Path, capsys) -> None:
    with serve(tmp_path / "site") as site:
        publish(site)
        feed = site.url("news.xml")
        assert run(capsys, "feeds", "list")[0] == 0
        code, out, _ = run(capsys, "feeds", "add", feed, "--name", "Harbour Gazette", "--no-check")
        assert code == 0 and out.strip() == f"added feed {feed}"
        code, _, err = run(capsys, "feeds", "add", "file:///etc/passwd")
        assert code == 2 and "not an http(s) feed URL" in err
        assert (env / "feeds.toml").exists()

        # Refused without the flag: exit 1, the URL and the reason on the output.
        code, out, _ = run(capsys, "fetch")
        assert code == 1
        assert f"fetch failed {feed}: host 127.0.0.1 is a private or local address" in out

        code, out, _ = run(capsys, "fetch", "--json", "--allow-private-hosts")
        summary = json.loads(out)
        assert code == 0, summary
        assert summary["added"] == len(RSS_STORIES) and summary["failed"] == 0
        assert summary["fetched"] == 1 + len(RSS_STORIES) and summary["fetch_failures"] == []
        assert {"not_modified", "updated", "removed", "unchanged", "chunks_written"} <= set(summary)

        code, out, _ = run(capsys, "fetch", "--allow-private-hosts")
        assert code == 0
        assert out.startswith(
            "added 0, updated 0, removed 0, unchanged 3, failed 0; fetched 0, "
            "not modified 4, fetch failures 0"  # the feed and its 3 recent pages
        )

        code, out, _ = run(capsys, "feeds", "list", "--json")
        (row,) = json.loads(out)
        assert row["url"] == feed and row["name"] == "Harbour Gazette" and row["articles"] == 3

        bad = site.url("special/loop-a")
        code, out, _ = run(capsys, "fetch", "--allow-private-hosts", "--url", bad)
        assert code == 1 and f"fetch failed {bad}: redirect loop" in out

        code, out, _ = run(capsys, "feeds", "remove", feed)
        assert code == 0 and "stay until `newsrag fetch --prune`" in out
        assert run(capsys, "feeds", "remove", feed)[0] == 2
        code, out, _ = run(
            capsys, "fetch", "--allow-private-hosts", "--prune", "--url", site.url(HARBOUR.path)
        )
        assert code == 0 and out.startswith("added 0, updated 0, removed 2, unchanged 1")


def test_serve_refresh_interval_is_checked(env: Path, capsys) -> None:
    code, _, err = run(capsys, "serve", "--refresh", "soon")
    assert code == 2 and "not an interval" in err


def test_fetch_says_what_it_is_doing_while_it_embeds(env: Path, tmp_path: Path, capsys) -> None:
    with serve(tmp_path / "site") as site:
        publish(site)
        feed = site.url("news.xml")
        assert run(capsys, "feeds", "add", feed, "--allow-private-hosts")[0] == 0
        code, out, err = run(capsys, "fetch", "--allow-private-hosts")
    assert code == 0 and out.startswith("added 3,"), out
    lines = err.splitlines()
    assert "fetching feeds 1/1" in lines and "fetching articles 3/3" in lines, err
    assert "embedding 3/3 articles" in lines, err  # stderr is not a terminal here
    assert lines.index("fetching articles 3/3") < lines.index("embedding 3/3 articles")
