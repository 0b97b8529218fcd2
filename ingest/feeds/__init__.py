"""Feeds and article pages, fetched politely into the corpus and kept in step with it.

`fetch_feeds` is the one entry point for a run; the CLI and the web UI only wire it up. Fetched
articles are ordinary corpus files (corpus/web/<host>/<slug>.md), ingested by the usual
pipeline.
"""

from ingest.feeds.check import check_feed
from ingest.feeds.fetch import fetch_feeds, policy_for
from ingest.feeds.registry import Feed, RegistryError, add_feed, load_feeds, remove_feed
from ingest.feeds.schedule import Refresher, parse_interval
from ingest.feeds.summary import FetchFailure, FetchSummary

__all__ = [
    "Feed",
    "FetchFailure",
    "FetchSummary",
    "Refresher",
    "RegistryError",
    "add_feed",
    "check_feed",
    "fetch_feeds",
    "load_feeds",
    "parse_interval",
    "policy_for",
    "remove_feed",
]
