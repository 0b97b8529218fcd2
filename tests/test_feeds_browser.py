"""The corpus tab's feeds section in Chromium: add a feed served on 127.0.0.1, refresh, see the
articles land, then ask about one and get the fetched page cited with its URL and date.

The app runs as `python -m ui` in a subprocess (as users start it); the feed site runs in this
process. `--allow-private-hosts` (the first app) and NEWSRAG_ALLOW_PRIVATE_HOSTS (the refresh
test) let the app fetch from 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import STARTUP_SECONDS, Server, ask, chat_page
from feednews import HARBOUR, publish
from feedsite import Site, serve
from support import free_port, stop_process, wait_for_http

pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with serve(tmp_path_factory.mktemp("feed-site")) as s:
        publish(s)
        yield s


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("feeds-browser")
    corpus = root / "corpus"
    corpus.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "NEWSRAG_CORPUS_DIR": str(corpus),
        "NEWSRAG_STORE_DIR": str(root / "store"),
        "NEWSRAG_HOST": "127.0.0.1",
        "NEWSRAG_PORT": str(port),
        "NEWSRAG_FETCH_DELAY": "0",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "ANONYMIZED_TELEMETRY": "False",
    }
    env.pop("NEWSRAG_AUTH", None)
    env.pop("NEWSRAG_ALLOW_PRIVATE_HOSTS", None)
    log = root / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ui", "--allow-private-hosts"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    srv = Server(f"http://127.0.0.1:{port}/", corpus, log)
    try:
        wait_for_http(srv.url, proc, STARTUP_SECONDS, srv.log_tail)
        yield srv
    finally:
        stop_process(proc, 30)


@pytest.fixture
def page(browser, app: Server):  # noqa: ANN001
    with chat_page(browser, app.url) as pg:
        yield pg


def test_add_a_feed_refresh_and_ask(page, app: Server, site: Site) -> None:
    page.get_by_role("tab", name="Corpus").click()
    page.locator("#feed-list").filter(has_text="No feeds yet").wait_for()

    page.fill("#feed-url textarea, #feed-url input", "file:///etc/passwd")
    page.click("#feed-add")
    page.get_by_text("not an http(s) feed URL").first.wait_for()

    page.fill("#feed-url textarea, #feed-url input", site.url("news.xml"))
    page.fill("#feed-name textarea, #feed-name input", "Harbour <b>Gazette</b>")
    page.click("#feed-add")
    feeds = page.locator("#feed-list")
    feeds.filter(has_text=site.url("news.xml")).wait_for()
    assert "Harbour <b>Gazette</b>" in feeds.inner_text()  # escaped, not rendered
    assert (app.corpus / "feeds.toml").read_text().count("[[feed]]") == 1

    page.click("#feed-refresh")
    status = page.locator("#corpus-status")
    status.filter(has_text="Fetch:").wait_for(timeout=180_000)
    text = status.inner_text()
    assert re.search(r"added 3, updated 0, removed 0, unchanged 0, failed 0", text), text
    assert "fetched 4, not modified 0" in text
    page.locator("#documents").filter(has_text=HARBOUR.title).wait_for()
    feeds.filter(has_text="checked").wait_for()

    page.get_by_role("tab", name="Chat").click()
    answer = ask(page, "How many steel cables did engineers replace on the harbour bridge?")
    assert "[1]" in answer
    first = page.locator("#sources .src-card").first
    assert first.locator("a.src-title").get_attribute("href") == site.url(HARBOUR.path)
    assert HARBOUR.published.isoformat() in first.inner_text()


def test_serve_refresh_fetches_the_feeds_in_the_background(tmp_path: Path, site: Site) -> None:
    """`newsrag serve --refresh 1m` with a feed listed: the articles land without a click and
    the chat API answers from them."""
    from gradio_client import Client

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "feeds.toml").write_text(f'[[feed]]\nurl = "{site.url("news.xml")}"\n')
    port = free_port()
    env = {
        **os.environ,
        "NEWSRAG_CORPUS_DIR": str(corpus),
        "NEWSRAG_STORE_DIR": str(tmp_path / "store"),
        "NEWSRAG_PORT": str(port),
        "NEWSRAG_ALLOW_PRIVATE_HOSTS": "true",
        "NEWSRAG_FETCH_DELAY": "0",
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    env.pop("NEWSRAG_AUTH", None)
    srv = Server(f"http://127.0.0.1:{port}/", corpus, tmp_path / "server.log")
    with srv.log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ui", "--refresh", "1m"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_http(srv.url, proc, STARTUP_SECONDS, srv.log_tail)
        harbour = corpus / f"web/127.0.0.1-{site.port}/news-{HARBOUR.slug}.md"
        deadline = time.monotonic() + 180
        answer = ""
        while time.monotonic() < deadline:
            if harbour.exists():
                answer = Client(srv.url, verbose=False).predict(
                    "How many steel cables did engineers replace on the harbour bridge?",
                    api_name="/ask",
                )
                if site.url(HARBOUR.path) in answer:
                    break
            time.sleep(2)
        assert site.url(HARBOUR.path) in answer, srv.log_tail()
    finally:
        stop_process(proc, 30)
