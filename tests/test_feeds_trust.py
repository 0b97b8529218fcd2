"""Feeds a user can trust: `feeds add` checks the URL once, a feed's --name is its articles'
source, and recent pages are rechecked behind a feed that answers 304 so corrections land.
A real HTTP server on 127.0.0.1, the fake embedder (plumbing; the real model is elsewhere)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from feednews import COMET, HARBOUR, LIBRARY, TRAM, publish
from feedsite import Site, page_html, serve

from ingest import Ingestor
from ingest.feeds import add_feed, fetch_feeds, load_feeds
from ingest.loaders import load_file
from rag.settings import Settings
from ui.cli import main


@pytest.fixture
def site(tmp_path: Path):
    with serve(tmp_path / "site") as s:
        publish(s)
        yield s


@pytest.fixture
def fs(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"fetch_delay": 0.0, "allow_private_hosts": True, "fetch_timeout": 5.0}
    )


@pytest.fixture
def ingestor(fs: Settings, fake_embedder) -> Ingestor:
    return Ingestor(fs, embedder=fake_embedder)


def article(fs: Settings, site: Site, slug: str):
    path = fs.corpus_dir / f"web/127.0.0.1-{site.port}/news-{slug}.md"
    return load_file(path, fs.corpus_dir, max_bytes=10**6).articles[0]


# ---- feeds add checks the URL ---------------------------------------------------------------


@pytest.fixture
def cli_env(fs: Settings, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NEWSRAG_CORPUS_DIR", str(fs.corpus_dir))
    monkeypatch.setenv("NEWSRAG_STORE_DIR", str(fs.store_dir))
    return fs.corpus_dir


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_feeds_add_refuses_a_404_and_a_web_page_naming_url_and_problem(
    cli_env: Path, site: Site, capsys
) -> None:
    missing = site.url("no-such-feed.xml")
    code, _, err = run(capsys, "feeds", "add", missing, "--allow-private-hosts")
    assert code == 2 and f"cannot add {missing}: HTTP 404" in err

    page = site.url(HARBOUR.path)
    code, _, err = run(capsys, "feeds", "add", page, "--allow-private-hosts")
    assert code == 2 and f"cannot add {page}: not an RSS or Atom feed" in err
    assert "text/html" in err

    # Loopback without the flag: refused, and the message says which flag allows it.
    feed = site.url("news.xml")
    code, _, err = run(capsys, "feeds", "add", feed)
    assert code == 2 and "private or local address" in err and "--allow-private-hosts" in err
    assert load_feeds(cli_env) == []  # nothing refused was listed

    code, out, _ = run(capsys, "feeds", "add", feed, "--allow-private-hosts", "--name", "Post")
    assert code == 0 and out.strip() == f"added feed {feed} (3 items)"

    # --no-check lists it without a request (a feed that is down today, say).
    site.clear_log()
    code, out, _ = run(capsys, "feeds", "add", missing, "--no-check")
    assert code == 0 and out.strip() == f"added feed {missing}"
    assert site.log == []
    assert [f.url for f in load_feeds(cli_env)] == [feed, missing]


# ---- --name is the source -------------------------------------------------------------------


def test_feed_name_is_the_source_else_the_site_name(fs, site, ingestor) -> None:
    # The pages say og:site_name "Harbour Gazette"; the user named the RSS feed otherwise.
    add_feed(fs.corpus_dir, site.url("news.xml"), "Portmere Post")
    add_feed(fs.corpus_dir, site.url("science.atom"))
    summary = fetch_feeds(fs, ingestor=ingestor)
    assert summary.fetch_failures == [] and summary.added == 5
    assert article(fs, site, HARBOUR.slug).source == "Portmere Post"
    assert article(fs, site, COMET.slug).source == "Harbour Gazette"


# ---- recent pages are rechecked behind a 304 -----------------------------------------------


def correct_the_library_story(site: Site) -> None:
    """The publisher corrects a story without touching its feed (the feed keeps its 304)."""
    fixed = dataclasses.replace(
        LIBRARY,
        paragraphs=[p.replace("18,000 books", "21,000 books") for p in LIBRARY.paragraphs],
    )
    site.write(LIBRARY.path, page_html(fixed, site))


def test_page_edited_behind_an_unchanged_feed_lands(fs, site, ingestor) -> None:
    add_feed(fs.corpus_dir, site.url("news.xml"), "Harbour Gazette")
    fetch_feeds(fs, ingestor=ingestor)
    assert "18,000 books" in article(fs, site, LIBRARY.slug).text
    correct_the_library_story(site)
    site.clear_log()

    summary = fetch_feeds(fs, ingestor=ingestor)
    assert (summary.added, summary.updated, summary.unchanged) == (0, 1, 2)
    assert sorted(site.log) == sorted(
        [
            ("/news.xml", 304),
            (f"/{LIBRARY.path}", 200),
            (f"/{HARBOUR.path}", 304),
            (f"/{TRAM.path}", 304),
        ]
    )
    corrected = article(fs, site, LIBRARY.slug)
    assert "21,000 books" in corrected.text and "18,000" not in corrected.text
    assert corrected.published == LIBRARY.published and corrected.source == "Harbour Gazette"


def test_pages_older_than_the_recheck_window_are_left_alone(fs, site, ingestor) -> None:
    fs = fs.model_copy(update={"feed_recheck_hours": 0.0})
    add_feed(fs.corpus_dir, site.url("news.xml"))
    fetch_feeds(fs, ingestor=ingestor)
    correct_the_library_story(site)
    site.clear_log()
    summary = fetch_feeds(fs, ingestor=ingestor)
    assert site.log == [("/news.xml", 304)] and summary.updated == 0
    assert "18,000 books" in article(fs, site, LIBRARY.slug).text


# ---- the web page says how to allow loopback feeds -----------------------------------------


def test_refresh_summary_says_how_to_allow_private_hosts() -> None:
    from ingest.feeds import FetchFailure, FetchSummary
    from ui.feeds_ui import fetch_summary_markdown

    reason = "host 127.0.0.1 is a private or local address (127.0.0.1); refused without --allow-private-hosts"
    refused = FetchSummary(
        fetch_failures=[FetchFailure(url="http://127.0.0.1:9/f.xml", reason=reason)]
    )
    text = fetch_summary_markdown(refused)
    assert "`newsrag serve --allow-private-hosts`" in text and "NEWSRAG_ALLOW_PRIVATE_HOSTS" in text
    down = FetchSummary(fetch_failures=[FetchFailure(url="https://e.org/f.xml", reason="HTTP 503")])
    assert "allow-private-hosts" not in fetch_summary_markdown(down)
