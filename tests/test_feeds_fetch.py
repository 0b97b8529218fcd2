"""`fetch_feeds` against a real HTTP server on 127.0.0.1: first fetch, no-op refresh, edits,
removed items, prune, canonical dedupe, politeness. Fake embedder (plumbing); the real model is
in test_feeds_query.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from feednews import ATOM_STORIES, HARBOUR, LIBRARY, RSS_STORIES, TRAM, publish, write_rss
from feedsite import Site, page_html, rss_xml, serve

from ingest import Ingestor
from ingest.feeds import add_feed, fetch_feeds
from ingest.loaders import load_file
from rag.settings import Settings


@pytest.fixture
def site(tmp_path: Path):
    with serve(tmp_path / "site") as s:
        yield s


@pytest.fixture
def fs(settings: Settings) -> Settings:
    """Settings for fetching from the local test server: no delay, loopback allowed, no
    recheck of recent pages behind a 304 (counted here request by request; it has its own
    tests in test_feeds_trust.py)."""
    return settings.model_copy(
        update={
            "fetch_delay": 0.0,
            "allow_private_hosts": True,
            "fetch_timeout": 5.0,
            "feed_recheck_hours": 0.0,
        }
    )


@pytest.fixture
def ingestor(fs: Settings, fake_embedder) -> Ingestor:
    return Ingestor(fs, embedder=fake_embedder)


def web_files(settings: Settings) -> dict[str, str]:
    root = settings.corpus_dir
    return {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("web/**/*.md")}


def register(fs: Settings, site: Site) -> None:
    add_feed(fs.corpus_dir, site.url("news.xml"), "Harbour Gazette")
    add_feed(fs.corpus_dir, site.url("science.atom"))


def test_first_fetch_adds_every_article_then_refresh_is_one_304_per_feed(fs, site, ingestor):
    publish(site)
    register(fs, site)

    first = fetch_feeds(fs, ingestor=ingestor)
    assert first.fetch_failures == []
    assert (first.added, first.updated, first.removed, first.failed) == (5, 0, 0, 0)
    assert first.fetched == 2 + 5  # two feeds, five pages
    assert first.not_modified == 0
    files = web_files(fs)
    host = f"127.0.0.1-{site.port}"
    assert sorted(files) == sorted(
        f"web/{host}/news-{s.slug}.md" for s in RSS_STORIES + ATOM_STORIES
    )
    assert any("newsrag/" in agent for agent in site.agents)

    # The files are ordinary corpus articles with the page's metadata.
    art = load_file(
        fs.corpus_dir / f"web/{host}/news-{HARBOUR.slug}.md", fs.corpus_dir, max_bytes=10**6
    ).articles[0]
    assert art.title == HARBOUR.title
    assert art.url == site.url(HARBOUR.path)
    assert art.published == HARBOUR.published
    assert art.author == "Jane Roe"
    assert art.source == "Harbour Gazette"
    assert "Engineers replaced 40 steel cables" in art.text

    mtimes = {p: (fs.corpus_dir / p).stat().st_mtime_ns for p in files}
    site.clear_log()
    second = fetch_feeds(fs, ingestor=ingestor)
    assert sorted(site.log) == [("/news.xml", 304), ("/science.atom", 304)]
    assert second.requests == 2 and second.not_modified == 2 and second.fetched == 0
    assert (second.added, second.updated, second.removed, second.unchanged) == (0, 0, 0, 5)
    assert second.chunks_written == 0  # nothing re-embedded
    assert {p: (fs.corpus_dir / p).stat().st_mtime_ns for p in files} == mtimes


def test_edited_page_updates_exactly_one_article(fs, site, ingestor):
    publish(site)
    register(fs, site)
    fetch_feeds(fs, ingestor=ingestor)

    edited = dataclasses.replace(
        LIBRARY, paragraphs=[*LIBRARY.paragraphs, "A cafe will open in the foyer in May."]
    )
    site.write(LIBRARY.path, page_html(edited, site))
    write_rss(site, RSS_STORIES, build="2")  # the publisher's feed changes with the story
    site.clear_log()

    summary = fetch_feeds(fs, ingestor=ingestor)
    assert (summary.added, summary.updated, summary.removed, summary.unchanged) == (0, 1, 0, 4)
    assert summary.fetch_failures == []
    assert summary.fetched == 2  # the RSS feed and the edited page
    assert summary.not_modified == 3  # the Atom feed and the two unchanged pages
    assert sorted(site.log) == sorted(
        [
            ("/news.xml", 200),
            (f"/{LIBRARY.path}", 200),
            (f"/{HARBOUR.path}", 304),
            (f"/{TRAM.path}", 304),
            ("/science.atom", 304),
        ]
    )
    text = web_files(fs)[f"web/127.0.0.1-{site.port}/news-{LIBRARY.slug}.md"]
    assert "A cafe will open in the foyer in May." in text


def test_removed_item_is_kept_unless_prune(fs, site, ingestor):
    publish(site)
    register(fs, site)
    fetch_feeds(fs, ingestor=ingestor)
    tram_file = fs.corpus_dir / f"web/127.0.0.1-{site.port}/news-{TRAM.slug}.md"

    write_rss(site, [HARBOUR, LIBRARY], build="2")  # the tram story drops out of the feed
    kept = fetch_feeds(fs, ingestor=ingestor)
    assert (kept.added, kept.updated, kept.removed, kept.unchanged) == (0, 0, 0, 5)
    assert tram_file.exists()

    pruned = fetch_feeds(fs, ingestor=ingestor, prune=True)
    assert pruned.pruned == 1 and pruned.removed == 1 and pruned.unchanged == 4
    assert not tram_file.exists()
    assert len(web_files(fs)) == 4


def test_prune_removes_articles_of_a_removed_feed_only(fs, site, ingestor):
    from ingest.feeds import remove_feed

    publish(site)
    register(fs, site)
    fetch_feeds(fs, ingestor=ingestor)
    remove_feed(fs.corpus_dir, site.url("science.atom"))

    kept = fetch_feeds(fs, ingestor=ingestor)
    assert kept.removed == 0 and kept.unchanged == 5  # articles stay until --prune
    comet, bees = ATOM_STORIES
    fetch_feeds(fs, ingestor=ingestor, urls=[site.url(comet.path)])  # asked for by name
    pruned = fetch_feeds(fs, ingestor=ingestor, prune=True)
    assert pruned.removed == 1 and pruned.unchanged == len(RSS_STORIES) + 1
    names = "".join(web_files(fs))
    assert comet.slug in names and bees.slug not in names


def test_same_story_by_two_links_is_one_article(fs, site, ingestor):
    """A tracking-parameter link and an AMP copy both name the same canonical URL."""
    publish(site)
    amp = dataclasses.replace(HARBOUR, slug="amp-harbour", canonical=HARBOUR.path)
    site.write(amp.path, page_html(amp, site))
    links = [
        (HARBOUR.title, site.url(HARBOUR.path), HARBOUR.published),
        (HARBOUR.title, site.url(HARBOUR.path) + "?utm_source=rss", HARBOUR.published),
        (HARBOUR.title, site.url(amp.path), HARBOUR.published),
        (TRAM.title, site.url(TRAM.path), TRAM.published),
    ]
    site.write("news.xml", rss_xml("Harbour Gazette", links))
    add_feed(fs.corpus_dir, site.url("news.xml"))

    summary = fetch_feeds(fs, ingestor=ingestor)
    assert summary.fetch_failures == []
    assert summary.added == 2
    assert sorted(web_files(fs)) == [
        f"web/127.0.0.1-{site.port}/news-{HARBOUR.slug}.md",
        f"web/127.0.0.1-{site.port}/news-{TRAM.slug}.md",
    ]


def test_url_option_fetches_single_pages_without_feeds(fs, site, ingestor):
    publish(site)
    summary = fetch_feeds(fs, ingestor=ingestor, urls=[site.url(TRAM.path)])
    assert summary.added == 1 and summary.fetched == 1
    again = fetch_feeds(fs, ingestor=ingestor, urls=[site.url(TRAM.path)])
    assert again.not_modified == 1 and again.unchanged == 1 and again.chunks_written == 0


def test_feed_option_fetches_only_that_feed(fs, site, ingestor):
    publish(site)
    register(fs, site)
    site.clear_log()
    summary = fetch_feeds(fs, ingestor=ingestor, feed=site.url("science.atom"))
    assert summary.added == len(ATOM_STORIES)
    assert not any(path == "/news.xml" for path, _ in site.log)


def test_lost_state_refetches_but_embeds_nothing(fs, site, ingestor):
    publish(site)
    register(fs, site)
    fetch_feeds(fs, ingestor=ingestor)
    (fs.corpus_dir / ".feeds-state.json").unlink()
    summary = fetch_feeds(fs, ingestor=ingestor)
    assert summary.fetched == 7 and summary.written == 0
    assert summary.unchanged == 5 and summary.chunks_written == 0


def test_article_deleted_by_the_user_is_not_fetched_back(fs, site, ingestor):
    from ingest import delete_document

    publish(site)
    register(fs, site)
    fetch_feeds(fs, ingestor=ingestor)
    doc_id = f"web/127.0.0.1-{site.port}/news-{TRAM.slug}.md"
    delete_document(fs, doc_id)
    write_rss(site, RSS_STORIES, build="2")
    summary = fetch_feeds(fs, ingestor=ingestor)
    assert summary.added == 0 and summary.unchanged == 4
    assert not (fs.corpus_dir / doc_id).exists()


def test_delay_spaces_requests_to_one_host(fs, site, ingestor):
    """Seven requests to one host, 0.25 s apart at least: the run cannot take less than 1.5 s
    (a lower bound, so a busy machine cannot make it fail)."""
    publish(site)
    register(fs, site)
    slow = fs.model_copy(update={"fetch_delay": 0.25, "fetch_per_host": 1})
    summary = fetch_feeds(slow, ingestor=ingestor)
    assert summary.requests == 7
    assert summary.fetch_seconds >= 6 * 0.25


def test_at_most_per_host_requests_in_flight(fs, site, ingestor):
    publish(site)
    register(fs, site)
    site.latency = 0.3
    limited = fs.model_copy(update={"fetch_per_host": 2, "fetch_workers": 8})
    summary = fetch_feeds(limited, ingestor=ingestor)
    assert summary.added == 5
    assert 1 <= site.max_in_flight <= 2


def test_feeds_toml_is_not_reported_as_skipped(fs, site, ingestor):
    publish(site)
    register(fs, site)
    summary = fetch_feeds(fs, ingestor=ingestor)
    assert summary.skipped == []
