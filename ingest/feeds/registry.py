"""The feed list (`corpus/feeds.toml`) and the fetch state (`corpus/.feeds-state.json`).

`feeds.toml` is the user's: `newsrag feeds add/remove` edit it and hand edits are fine. It is
read with tomllib and written back in the same minimal shape:

    [[feed]]
    url = "https://example.org/rss.xml"
    name = "Example News"

The state file is ours: validators (ETag, Last-Modified) of every feed and page, which file each
page became, and which items each feed listed last time. It lives beside the articles it
describes (hidden, so ingest ignores it). Losing it is harmless: the next fetch downloads
everything again, finds the files unchanged and embeds nothing.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ingest.loaders import FEEDS_LIST

log = logging.getLogger(__name__)

FEEDS_FILE = FEEDS_LIST  # discover() leaves it out of the "skipped" files
STATE_FILE = ".feeds-state.json"
STATE_VERSION = 1


class RegistryError(ValueError):
    """A bad feed URL or an unreadable feeds.toml (a usage error for the CLI)."""


@dataclass(frozen=True)
class Feed:
    url: str
    name: str = ""


def feeds_path(corpus: Path) -> Path:
    return Path(corpus) / FEEDS_FILE


def load_feeds(corpus: Path) -> list[Feed]:
    path = feeds_path(corpus)
    if not path.exists():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise RegistryError(f"{path}: cannot read the feed list: {exc}") from exc
    feeds: list[Feed] = []
    for i, item in enumerate(data.get("feed", [])):
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            raise RegistryError(f"{path}: [[feed]] number {i + 1} has no url")
        feeds.append(Feed(url=item["url"].strip(), name=str(item.get("name", "")).strip()))
    return feeds


def save_feeds(corpus: Path, feeds: list[Feed]) -> None:
    lines = [
        "# Feeds newsrag fetches (`newsrag fetch`). Edit by hand or with `newsrag feeds add`.",
        "",
    ]
    for feed in feeds:
        lines += ["[[feed]]", f"url = {_toml_string(feed.url)}"]
        if feed.name:
            lines.append(f"name = {_toml_string(feed.name)}")
        lines.append("")
    _atomic_write(feeds_path(corpus), "\n".join(lines))


def _toml_string(value: str) -> str:
    # A JSON string with ASCII escapes is a valid TOML basic string.
    return json.dumps(value, ensure_ascii=True)


def validate_feed_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise RegistryError(f"not an http(s) feed URL: {url!r}")
    return url


def add_feed(corpus: Path, url: str, name: str = "") -> tuple[Feed, bool]:
    """Add (or rename) a feed; returns it and whether the list changed."""
    url = validate_feed_url(url)
    feeds = load_feeds(corpus)
    for i, feed in enumerate(feeds):
        if feed.url == url:
            if name and name != feed.name:
                feeds[i] = Feed(url, name)
                save_feeds(corpus, feeds)
                return feeds[i], True
            return feed, False
    feed = Feed(url, " ".join(name.split()))
    save_feeds(corpus, [*feeds, feed])
    return feed, True


def remove_feed(corpus: Path, url: str) -> Feed:
    """Remove a feed from the list; its articles stay until `newsrag fetch --prune`."""
    url = (url or "").strip()
    feeds = load_feeds(corpus)
    kept = [f for f in feeds if f.url != url]
    if len(kept) == len(feeds):
        raise RegistryError(f"no feed {url!r} in {feeds_path(corpus)}")
    save_feeds(corpus, kept)
    return next(f for f in feeds if f.url == url)


# ---- state --------------------------------------------------------------------------------


@dataclass
class FeedState:
    etag: str | None = None
    last_modified: str | None = None
    title: str = ""
    items: list[str] = field(default_factory=list)  # entry links of the last good fetch
    checked: str = ""  # when it was last fetched (ISO, UTC)
    error: str = ""  # the last failure, if the last fetch failed


@dataclass
class PageState:
    etag: str | None = None
    last_modified: str | None = None
    canonical: str = ""
    path: str = ""  # corpus-relative file of its article; "" until a good fetch
    feeds: list[str] = field(default_factory=list)
    pinned: bool = False  # fetched with --url: never pruned
    fetched: str = ""  # when a new version was last downloaded (ISO, UTC)
    seen: str = ""  # when it first landed: recent pages are rechecked (feed_recheck_hours)
    published: str = ""  # the feed entry's date and title: fallbacks when a recheck
    title: str = ""  # re-extracts a page that has neither in its markup
    error: str = ""


@dataclass
class FetchState:
    feeds: dict[str, FeedState] = field(default_factory=dict)
    pages: dict[str, PageState] = field(default_factory=dict)


def state_path(corpus: Path) -> Path:
    return Path(corpus) / STATE_FILE


def load_state(corpus: Path) -> FetchState:
    path = state_path(corpus)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"version {data.get('version')!r}")
        return FetchState(
            feeds={u: FeedState(**v) for u, v in data.get("feeds", {}).items()},
            pages={u: PageState(**v) for u, v in data.get("pages", {}).items()},
        )
    except FileNotFoundError:
        return FetchState()
    except (ValueError, TypeError, AttributeError, OSError) as exc:
        # Only a cache of validators: starting afresh costs downloads, never articles.
        log.warning("%s unreadable (%s); fetching everything afresh", path, exc)
        return FetchState()


def save_state(corpus: Path, state: FetchState) -> None:
    data = {
        "version": STATE_VERSION,
        "feeds": {u: asdict(v) for u, v in sorted(state.feeds.items())},
        "pages": {u: asdict(v) for u, v in sorted(state.pages.items())},
    }
    _atomic_write(state_path(corpus), json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
