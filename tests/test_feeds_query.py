"""End to end with the real model: feeds served on 127.0.0.1 are fetched, ingested, and the
answer to a question cites the fetched page with its URL and date."""

from __future__ import annotations

from pathlib import Path

import pytest
from feednews import COMET, HARBOUR, publish
from feedsite import serve

from ingest.feeds import add_feed, fetch_feeds
from rag import query
from rag.settings import Settings

pytestmark = pytest.mark.slow


def test_answer_cites_the_fetched_page_with_url_and_date(tmp_path: Path) -> None:
    with serve(tmp_path / "site") as site:
        publish(site)
        settings = Settings(
            corpus_dir=tmp_path / "corpus",
            store_dir=tmp_path / "store",
            collection="feeds",
            fetch_delay=0.0,
        )
        settings.corpus_dir.mkdir()
        add_feed(settings.corpus_dir, site.url("news.xml"), "Harbour Gazette")
        add_feed(settings.corpus_dir, site.url("science.atom"))
        first = fetch_feeds(settings, allow_private_hosts=True)
        assert first.fetch_failures == [] and first.added == 5
        again = fetch_feeds(settings, allow_private_hosts=True)
        # Two feeds and five pages (fetched minutes ago: rechecked) answer 304.
        assert again.chunks_written == 0 and again.not_modified == 2 + 5

        answer = query(
            "How many steel cables did engineers replace on the bridge?", settings=settings
        )
        assert not answer.abstained
        top = answer.citations[0]
        assert top.url == site.url(HARBOUR.path)
        assert top.published == HARBOUR.published.isoformat()
        assert top.source == "Harbour Gazette"
        assert "40 steel cables" in top.passage

        answer = query("Who discovered the comet visible in April?", settings=settings)
        assert answer.citations[0].url == site.url(COMET.path)
        assert "Aled Price" in answer.citations[0].passage
