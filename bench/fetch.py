"""Fetch benchmark: a local RSS feed of 200 generated articles, served on 127.0.0.1.

Prints requests, bytes and seconds for a first run (feed + every page, extraction, writing,
embedding with the real model) and a no-op refresh (nothing changed), and the ratios no-op /
first. Target: the no-op costs one conditional request per feed and embeds nothing.

Usage: .venv/bin/python bench/fetch.py [--articles 200] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the test site server and the article generator

from feedsite import generated_story, page_html, rss_xml, serve  # noqa: E402

from ingest import Ingestor  # noqa: E402
from ingest.feeds import add_feed, fetch_feeds  # noqa: E402
from rag.settings import Settings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=200)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp) / "site") as site:
        stories = [generated_story(i) for i in range(args.articles)]
        for story in stories:
            site.write(story.path, page_html(story, site))
        entries = [(s.title, site.url(s.path), s.published) for s in stories]
        site.write("feed.xml", rss_xml("Generated Gazette", entries))
        settings = Settings(
            corpus_dir=Path(tmp) / "corpus",
            store_dir=Path(tmp) / "store",
            collection="bench",
            fetch_delay=0.0,  # a local server; the default 0.5 s would dominate
            fetch_per_host=4,
        )
        settings.corpus_dir.mkdir()
        add_feed(settings.corpus_dir, site.url("feed.xml"))
        ingestor = Ingestor(settings)
        runs = {}
        for label in ("first", "noop"):
            s = fetch_feeds(settings, allow_private_hosts=True, ingestor=ingestor)
            runs[label] = {
                "requests": s.requests,
                "bytes": s.bytes,
                "seconds": round(s.seconds, 2),
                "fetch_seconds": round(s.fetch_seconds, 2),
                "fetched": s.fetched,
                "not_modified": s.not_modified,
                "added": s.added,
                "unchanged": s.unchanged,
                "chunks_embedded": s.chunks_written,
                "failures": len(s.fetch_failures),
            }
    first, noop = runs["first"], runs["noop"]
    ratios = {
        k: round(noop[k] / first[k], 5) if first[k] else None
        for k in ("requests", "bytes", "seconds")
    }
    result = {"articles": args.articles, **runs, "ratio_noop_vs_first": ratios}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"local feed of {args.articles} articles")
    print(
        f"{'run':6} {'requests':>9} {'bytes':>10} {'seconds':>8} {'fetch s':>8} "
        f"{'added':>6} {'embedded chunks':>16} {'304s':>5}"
    )
    for label, r in runs.items():
        print(
            f"{label:6} {r['requests']:>9} {r['bytes']:>10} {r['seconds']:>8.2f} "
            f"{r['fetch_seconds']:>8.2f} {r['added']:>6} {r['chunks_embedded']:>16} "
            f"{r['not_modified']:>5}"
        )
    print("no-op / first: requests {requests}, bytes {bytes}, seconds {seconds}".format(**ratios))


if __name__ == "__main__":
    main()
