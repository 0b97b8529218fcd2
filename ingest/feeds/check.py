"""`newsrag feeds add` checks a URL once before listing it.

A feed URL that is a 404, an HTML page or a typo would otherwise be accepted silently and fail
only at the next fetch, far from the command that caused it. One GET with the fetcher's usual
limits, then the feed parser: what passes is a feed the next fetch can read.
"""

from __future__ import annotations

from ingest.feeds.http import Fetcher, FetchError, FetchPolicy
from ingest.feeds.parse import FeedError, ParsedFeed, parse_feed
from ingest.feeds.registry import RegistryError

FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9"


def check_feed(url: str, policy: FetchPolicy) -> ParsedFeed:
    """The parsed feed at `url`; RegistryError naming the URL and the problem otherwise."""
    with Fetcher(policy) as fetcher:
        try:
            resp = fetcher.get(url, accept=FEED_ACCEPT)
        except FetchError as exc:
            raise RegistryError(f"cannot add {url}: {exc.reason}") from None
    try:
        return parse_feed(resp.body, resp.url, resp.content_type)
    except FeedError as exc:
        raise RegistryError(f"cannot add {url}: {exc.reason}") from None
