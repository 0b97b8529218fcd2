"""`newsrag feeds add|list|remove` and `newsrag fetch`: argparse wiring over `ingest.feeds`.

`newsrag fetch` prints what `newsrag ingest` prints (the summary line, or `--json` the summary
object, plus fetched / not_modified / fetch_failures) and exits like it: 0 when everything
landed, 1 when some feed, page or file failed (the rest landed), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from typing import TextIO

from rag.settings import Settings

# The exit codes of `newsrag` (see ui.cli), repeated so this module does not import it back.
EXIT_OK, EXIT_FAILED = 0, 1

Say = Callable[[str], None]


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    feeds = sub.add_parser("feeds", help="the feeds `newsrag fetch` reads (corpus/feeds.toml)")
    fsub = feeds.add_subparsers(dest="feeds_command", required=True)
    add = fsub.add_parser("add", help="add an RSS or Atom feed")
    add.add_argument("url")
    add.add_argument("--name", default="", help="the articles' source (else the site's name)")
    add.add_argument(
        "--no-check", action="store_true", help="list it without fetching it once first"
    )
    add.add_argument(
        "--allow-private-hosts",
        action="store_true",
        default=None,
        help="allow a loopback/private address for the check (as `fetch` does)",
    )
    lst = fsub.add_parser("list", help="list the feeds and when they were last fetched")
    lst.add_argument("--json", action="store_true", help="print the list as JSON")
    rm = fsub.add_parser("remove", help="remove a feed (its articles stay until fetch --prune)")
    rm.add_argument("url")

    fetch = sub.add_parser("fetch", help="fetch the feeds' new and changed articles, then ingest")
    fetch.add_argument("--feed", metavar="URL", help="only this feed (listed or not)")
    fetch.add_argument(
        "--url", metavar="URL", action="append", default=[], help="fetch this page (repeatable)"
    )
    fetch.add_argument("--json", action="store_true", help="print the summary as JSON")
    fetch.add_argument(
        "--prune", action="store_true", help="delete articles no feed lists any more"
    )
    fetch.add_argument(
        "--allow-private-hosts",
        action="store_true",
        default=None,
        help="also fetch from loopback/private addresses (local tests, intranets)",
    )


def run_feeds(args: argparse.Namespace, settings: Settings, say: Say = _say) -> int:
    from ingest.feeds import add_feed, load_feeds, remove_feed
    from ingest.feeds.registry import load_state

    corpus = settings.corpus_dir
    if args.feeds_command == "add":
        entries = None
        if not args.no_check:
            from ingest.feeds import check_feed, policy_for
            from ingest.feeds.registry import validate_feed_url

            parsed = check_feed(
                validate_feed_url(args.url), policy_for(settings, args.allow_private_hosts)
            )
            entries = len(parsed.entries)
        feed, changed = add_feed(corpus, args.url, args.name)
        checked = "" if entries is None else f" ({entries} items)"
        say(("added feed " if changed else "already listed: ") + feed.url + checked)
    elif args.feeds_command == "remove":
        feed = remove_feed(corpus, args.url)
        say(f"removed feed {feed.url}; its articles stay until `newsrag fetch --prune`")
    else:
        state = load_state(corpus).feeds
        rows = []
        for feed in load_feeds(corpus):
            st = state.get(feed.url)
            rows.append(
                {
                    "url": feed.url,
                    "name": feed.name or (st.title if st else ""),
                    "checked": st.checked if st else "",
                    "articles": len(st.items) if st else 0,
                    "error": st.error if st else "",
                }
            )
        if args.json:
            say(json.dumps(rows, indent=2))
        for r in [] if args.json else rows:
            extra = f" (checked {r['checked']}, {r['articles']} items)" if r["checked"] else ""
            failed = f" failed: {r['error']}" if r["error"] else ""
            say(f"{r['url']}  {r['name']}{extra}{failed}".rstrip())
    return EXIT_OK


def run_fetch(args: argparse.Namespace, settings: Settings, say: Say = _say) -> int:
    if not args.verbose:
        level = logging.WARNING if args.json else logging.INFO
        logging.getLogger("ingest").setLevel(level)
    from ingest.feeds import fetch_feeds

    summary = fetch_feeds(
        settings,
        feed=args.feed,
        urls=args.url,
        prune=args.prune,
        allow_private_hosts=args.allow_private_hosts,
        progress=None if args.json else ProgressLines(sys.stderr),
    )
    if args.json:
        say(summary.model_dump_json())
    else:
        say(summary.line())
        for ff in summary.fetch_failures:
            say(f"  fetch failed {ff.url}: {ff.reason}")
        for f in summary.failures:
            say(f"  failed {f.path}: {f.reason}")
        for s in summary.skipped:
            say(f"  skipped {s}: not a file type newsrag reads")
    return EXIT_OK if summary.ok else EXIT_FAILED


class ProgressLines:
    """A fetch's progress as plain lines on stderr: each phase when it starts and ends, and
    every few seconds in between.

    Embedding two dozen new articles takes a minute on a CPU, with the model to load first; a
    command that says nothing for that long looks hung. Lines, not a redrawn bar, so a log of
    a cron job reads too; on a terminal the embedder's own bar already shows, so its phase is
    not repeated here.
    """

    def __init__(self, out: TextIO, every: float = 2.0) -> None:
        self.out, self.every = out, every
        self.phase, self.last = "", 0.0

    def __call__(self, done: int, total: int, what: str) -> None:
        now = time.monotonic()
        if what == "ingesting":
            line = "ingesting what changed (loading the model, then embedding new articles)"
        elif what == "embedding" and self.out.isatty():
            return
        elif what == self.phase and done < total and now - self.last < self.every:
            return
        else:
            line = f"{what} {done}/{total}" + (" articles" if what == "embedding" else "")
        self.phase, self.last = what, now
        self.out.write(line + "\n")
        self.out.flush()


def start_refresh(settings: Settings, every: str) -> object:
    """Start the background refresh of `newsrag serve --refresh 15m`; returns the thread."""
    from ingest.feeds import Refresher, parse_interval

    refresher = Refresher(settings, parse_interval(every))
    refresher.start()
    logging.getLogger(__name__).info("refreshing feeds every %s", every)
    return refresher
