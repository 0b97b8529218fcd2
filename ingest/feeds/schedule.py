"""Background refresh of the feeds (`newsrag serve --refresh 15m`).

A daemon thread runs `fetch_feeds` every interval. Runs never overlap: the fetch lock and the
ingest lock serialize it with a refresh started from the web page or an upload. A failed run is
logged and retried at the next tick; it never stops the server.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

from ingest.feeds.registry import RegistryError, load_feeds
from ingest.feeds.summary import FetchSummary
from rag.settings import Settings
from rag.store.lease import LeaseHeldError

log = logging.getLogger(__name__)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.I)
MIN_INTERVAL = 60.0  # a refresh more often than once a minute is not polite to anyone


def parse_interval(text: str, *, minimum: float = MIN_INTERVAL) -> float:
    """ "15m", "1h", "90s", "2d" or plain seconds → seconds; ValueError for anything else."""
    match = _INTERVAL.match(text or "")
    if not match:
        raise ValueError(f"not an interval (like 15m, 1h, 90s): {text!r}")
    seconds = float(match.group(1)) * _UNITS[(match.group(2) or "s").lower()]
    if seconds < minimum:
        raise ValueError(f"refresh interval {text!r} is shorter than {minimum:g}s")
    return seconds


class Refresher(threading.Thread):
    """Calls `run` (default: fetch the registered feeds) every `interval` seconds."""

    def __init__(
        self,
        settings: Settings,
        interval: float,
        run: Callable[[], FetchSummary | None] | None = None,
        *,
        first_after: float = 5.0,
    ) -> None:
        super().__init__(name="newsrag-refresh", daemon=True)
        self.settings = settings
        self.interval = interval
        self.first_after = first_after
        self._run = run or self._fetch
        self._stop_event = threading.Event()
        self.last: FetchSummary | None = None
        self.runs = 0

    def _fetch(self) -> FetchSummary | None:
        from ingest.feeds.fetch import fetch_feeds

        if not load_feeds(self.settings.corpus_dir):
            log.info("refresh: no feeds registered yet")
            return None
        return fetch_feeds(self.settings)

    def run(self) -> None:
        """First refresh soon after start (the server is up by then), then every interval."""
        wait = self.first_after
        while not self._stop_event.wait(wait):
            self.tick()
            wait = self.interval

    def tick(self) -> None:
        try:
            summary = self._run()
        except LeaseHeldError as exc:  # another writer is at work: try again next time
            log.warning("feed refresh skipped: %s", exc)
            return
        except (RegistryError, OSError, ValueError) as exc:
            log.warning("feed refresh failed: %s", exc)
            return
        except Exception:  # the server must outlive any single refresh
            log.exception("feed refresh failed")
            return
        self.runs += 1
        if summary is not None:
            self.last = summary
            log.info("feed refresh: %s", summary.line())

    def stop(self) -> None:
        self._stop_event.set()
