"""Bad feeds and pages: each one is reported with its URL and reason, the rest still lands, and
an article's last good version stays. Real HTTP server on 127.0.0.1, no mocks."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from feednews import HARBOUR, LIBRARY, RSS_STORIES, TRAM, publish, write_rss
from feedsite import Site, page_html, rss_xml, serve

from ingest import Ingestor
from ingest.feeds import add_feed, fetch_feeds
from rag.settings import Settings


@pytest.fixture
def site(tmp_path: Path):
    with serve(tmp_path / "site") as s:
        yield s


@pytest.fixture
def fs(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "fetch_delay": 0.0,
            "allow_private_hosts": True,
            "fetch_timeout": 1.5,
            "fetch_max_bytes": 1_000_000,
            "fetch_max_redirects": 4,
        }
    )


@pytest.fixture
def ingestor(fs: Settings, fake_embedder) -> Ingestor:
    return Ingestor(fs, embedder=fake_embedder)


def reasons(summary) -> dict[str, str]:
    return {f.url: f.reason for f in summary.fetch_failures}


NAV_ONLY = """<!doctype html><html><head><title>Sections</title></head><body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/world">World</a></li></ul></nav>
<footer>Copyright Harbour Gazette</footer></body></html>"""


def test_every_bad_feed_and_page_is_reported_and_the_good_ones_land(fs, site, ingestor):
    publish(site)
    site.write("sections.html", NAV_ONLY)
    site.write("report.pdf", b"%PDF-1.4\n%binary report\n")
    site.write("not-a-feed.xml", "<html><body><p>Oops, this is a web page</p></body></html>")
    bad_pages = {
        site.url("report.pdf"): "not an HTML page",
        site.url("sections.html"): "no extractable article text",
        site.url("special/loop-a"): "redirect loop",
        site.url("special/big"): "over the size limit",
        site.url("special/to-file"): "refused URL",
        "file:///etc/passwd": "only http and https",
        site.url("missing.html"): "HTTP 404",
    }
    entries = [(s.title, site.url(s.path), s.published) for s in RSS_STORIES]
    entries += [("Bad " + str(i), url, HARBOUR.published) for i, url in enumerate(bad_pages)]
    site.write("news.xml", rss_xml("Harbour Gazette", entries))
    bad_feeds = {
        site.url("special/down"): "HTTP 503",
        site.url("special/slow"): "timed out",
        site.url("not-a-feed.xml"): "not an RSS or Atom feed",
        site.url("special/huge"): "over the size limit",
    }
    for url in [site.url("news.xml"), *bad_feeds]:
        add_feed(fs.corpus_dir, url)

    summary = fetch_feeds(fs, ingestor=ingestor)

    got = reasons(summary)
    # feedparser normalizes file:///etc/passwd to file://etc/passwd; either way it is refused.
    file_url = next(u for u in got if u.startswith("file:"))
    got["file:///etc/passwd"] = got.pop(file_url)
    assert set(got) == set(bad_pages) | set(bad_feeds), got
    for url, expected in {**bad_pages, **bad_feeds}.items():
        assert expected in got[url], (url, got[url])
    assert summary.added == len(RSS_STORIES)  # the good articles landed
    assert summary.failed == 0  # nothing broken reached the ingest


def test_a_page_that_breaks_keeps_its_last_good_version(fs, site, ingestor):
    publish(site)
    add_feed(fs.corpus_dir, site.url("news.xml"))
    fetch_feeds(fs, ingestor=ingestor)
    host = f"web/127.0.0.1-{site.port}"
    harbour = fs.corpus_dir / f"{host}/news-{HARBOUR.slug}.md"
    tram = fs.corpus_dir / f"{host}/news-{TRAM.slug}.md"
    good_harbour, good_tram = harbour.read_text(), tram.read_text()

    site.write(HARBOUR.path, NAV_ONLY)  # the page now has no article text
    site.remove(TRAM.path)  # and this one is gone (404)
    edited = dataclasses.replace(LIBRARY, paragraphs=[*LIBRARY.paragraphs, "Entry is free."])
    site.write(LIBRARY.path, page_html(edited, site))
    write_rss(site, RSS_STORIES, build="2")

    summary = fetch_feeds(fs, ingestor=ingestor)
    got = reasons(summary)
    assert "no extractable article text" in got[site.url(HARBOUR.path)]
    assert "HTTP 404" in got[site.url(TRAM.path)]
    assert (summary.updated, summary.removed, summary.unchanged) == (1, 0, 2)
    assert harbour.read_text() == good_harbour and tram.read_text() == good_tram
    docs = ingestor.store.documents()
    assert f"{host}/news-{HARBOUR.slug}.md" in docs and f"{host}/news-{TRAM.slug}.md" in docs

    # A feed that goes down later keeps every article too.
    site.remove("news.xml")
    down = fetch_feeds(fs, ingestor=ingestor, prune=True)
    assert "HTTP 404" in reasons(down)[site.url("news.xml")]
    assert down.removed == 0 and down.unchanged == 3


def test_private_hosts_are_refused_without_the_flag(fs, site, ingestor):
    publish(site)
    add_feed(fs.corpus_dir, site.url("news.xml"))
    strict = fs.model_copy(update={"allow_private_hosts": False})
    summary = fetch_feeds(strict, ingestor=ingestor)
    reason = reasons(summary)[site.url("news.xml")]
    assert "private or local address" in reason and "--allow-private-hosts" in reason
    assert site.log == []  # refused before connecting
    assert summary.added == 0

    allowed = fetch_feeds(strict, ingestor=ingestor, allow_private_hosts=True)
    assert allowed.fetch_failures == [] and allowed.added == len(RSS_STORIES)


def test_localhost_by_name_and_redirects_into_loopback_are_refused(fs, site: Site, ingestor):
    strict = fs.model_copy(update={"allow_private_hosts": False})
    url = f"http://localhost:{site.port}/news.xml"
    summary = fetch_feeds(strict, ingestor=ingestor, urls=[url, "ftp://example.org/x"])
    got = reasons(summary)
    assert "private or local address" in got[url]
    assert "only http and https" in got["ftp://example.org/x"]


def test_file_urls_are_refused(fs, site, ingestor, tmp_path: Path):
    secret = tmp_path / "secret.html"
    secret.write_text("<html><body><p>" + "secret words " * 50 + "</p></body></html>")
    summary = fetch_feeds(fs, ingestor=ingestor, urls=[secret.as_uri()])
    assert "only http and https" in reasons(summary)[secret.as_uri()]
    assert summary.added == 0
