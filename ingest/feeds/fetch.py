"""One fetch run: feeds → article pages → corpus files → the ordinary ingest of the corpus.

Incremental by construction. Every feed gets one conditional GET; a feed that answers 304
costs nothing more (only items that never landed are retried). A feed that changed has each of
its pages fetched conditionally; a page whose file would not change is not rewritten, so the
ingest that follows sees it unchanged and embeds nothing. Failures are collected per URL, never
raised: the other feeds and pages still land and a failed page's last good file stays.

A file the user deleted (its page was fetched before, its file is gone) is not fetched again
from a feed: deleting an article in the corpus tab must not be undone by the next refresh.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ingest.feeds.check import FEED_ACCEPT
from ingest.feeds.extract import ExtractError, PageArticle, extract_page
from ingest.feeds.http import Fetcher, FetchError, FetchPolicy, Response
from ingest.feeds.parse import FeedEntry, FeedError, parse_feed
from ingest.feeds.registry import (
    Feed,
    FeedState,
    FetchState,
    PageState,
    RegistryError,
    load_feeds,
    load_state,
    save_state,
)
from ingest.feeds.summary import FetchFailure, FetchSummary
from ingest.feeds.writer import article_path, remove_article, render, write_if_changed
from ingest.runner import Ingestor
from rag.settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]

PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"

# Two fetch runs (a refresh timer and a button) must not write the same files and state.
_fetch_lock = threading.Lock()


def policy_for(settings: Settings, allow_private_hosts: bool | None = None) -> FetchPolicy:
    return FetchPolicy(
        timeout=settings.fetch_timeout,
        max_bytes=settings.fetch_max_bytes,
        max_redirects=settings.fetch_max_redirects,
        per_host=settings.fetch_per_host,
        delay=settings.fetch_delay,
        allow_private_hosts=(
            settings.allow_private_hosts if allow_private_hosts is None else allow_private_hosts
        ),
    )


@dataclass
class _PageJob:
    link: str
    entry: FeedEntry | None = None
    feed_name: str = ""  # the user's --name of the feed: the articles' source when given
    feed_title: str = ""  # the feed's own title: the source when the page names no site


@dataclass
class _PageResult:
    job: _PageJob
    response: Response | None = None
    article: PageArticle | None = None
    error: str = ""


@dataclass
class _Run:
    corpus: Path
    state: FetchState
    recheck_hours: float = 0.0
    summary: FetchSummary = field(default_factory=FetchSummary)
    written_paths: dict[str, str] = field(default_factory=dict)  # path → link, this run

    def fail(self, url: str, reason: str) -> None:
        log.warning("fetch failed %s: %s", url, reason)
        self.summary.fetch_failures.append(FetchFailure(url=url, reason=reason))


def fetch_feeds(
    settings: Settings,
    *,
    feed: str | None = None,
    urls: Iterable[str] = (),
    prune: bool = False,
    allow_private_hosts: bool | None = None,
    ingestor: Ingestor | None = None,
    progress: Progress | None = None,
) -> FetchSummary:
    """Fetch the registered feeds (or only `feed`, or only the pages `urls`), write what changed
    into corpus/web/, then ingest the corpus with the usual pipeline."""
    corpus = Path(settings.corpus_dir)
    if not corpus.is_dir():
        raise RegistryError(f"corpus folder {corpus} does not exist")
    urls = [u.strip() for u in urls if u and u.strip()]
    registered = load_feeds(corpus)
    if feed:
        names = {f.url: f.name for f in registered}
        feeds = [Feed(feed.strip(), names.get(feed.strip(), ""))]
    else:
        feeds = [] if urls else registered
    if not feeds and not urls:
        raise RegistryError("no feeds to fetch: add one with `newsrag feeds add URL`")
    t0 = time.perf_counter()
    with _fetch_lock:
        run = _Run(corpus, load_state(corpus), settings.feed_recheck_hours)
        with Fetcher(policy_for(settings, allow_private_hosts)) as fetcher:
            jobs = _fetch_feed_list(run, fetcher, feeds, settings.fetch_workers, progress)
            jobs += [_PageJob(u) for u in urls if u not in {j.link for j in jobs}]
            results = _fetch_pages(run, fetcher, jobs, settings.fetch_workers, progress)
            for result in results:
                _apply(run, result, explicit=result.job.link in urls)
            stats = fetcher.stats
        if prune:
            _prune(run, {f.url for f in registered} | {f.url for f in feeds})
        save_state(corpus, run.state)
    fetched = run.summary
    fetched.requests, fetched.bytes = stats.requests, stats.bytes
    fetched.not_modified = stats.not_modified
    fetched.fetch_seconds = time.perf_counter() - t0
    log.info(
        "fetch: %d requests, %d bytes, fetched %d, not modified %d, written %d, failures %d",
        stats.requests,
        stats.bytes,
        fetched.fetched,
        fetched.not_modified,
        fetched.written,
        len(fetched.fetch_failures),
    )
    if progress:
        progress(0, 1, "ingesting")
    ingested = (ingestor or Ingestor(settings)).run(progress=progress, command="newsrag fetch")
    summary = FetchSummary(
        **{
            **ingested.model_dump(),
            **fetched.model_dump(exclude=set(ingested.model_dump())),
        }
    )
    summary.seconds = time.perf_counter() - t0
    return summary


# ---- feeds ---------------------------------------------------------------------------------


def _fetch_feed_list(
    run: _Run, fetcher: Fetcher, feeds: list[Feed], workers: int, progress: Progress | None
) -> list[_PageJob]:
    def one(feed: Feed) -> tuple[Feed, Response | None, str]:
        st = run.state.feeds.get(feed.url) or FeedState()
        try:
            resp = fetcher.get(
                feed.url, etag=st.etag, last_modified=st.last_modified, accept=FEED_ACCEPT
            )
            return feed, resp, ""
        except FetchError as exc:
            return feed, None, exc.reason
        except Exception as exc:  # one feed's surprise must not stop the others
            log.exception("fetching %s failed", feed.url)
            return feed, None, f"unexpected error: {type(exc).__name__}: {exc}"

    jobs: dict[str, _PageJob] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(feeds) or 1))) as pool:
        for done, (feed, resp, error) in enumerate(pool.map(one, feeds), start=1):
            if progress:
                progress(done, len(feeds), "fetching feeds")
            for job in _feed_jobs(run, feed, resp, error):
                jobs.setdefault(job.link, job)
    return list(jobs.values())


def _feed_jobs(run: _Run, feed: Feed, resp: Response | None, error: str) -> list[_PageJob]:
    st = run.state.feeds.setdefault(feed.url, FeedState())
    st.checked = _now()
    if resp is None:
        st.error = error
        run.fail(feed.url, error)
        return _retry_jobs(run, feed, st)
    if resp.not_modified:
        st.error = ""
        return _retry_jobs(run, feed, st)
    try:
        parsed = parse_feed(resp.body, resp.url, resp.content_type)
    except FeedError as exc:
        st.error = exc.reason
        run.fail(feed.url, exc.reason)
        return _retry_jobs(run, feed, st)
    run.summary.fetched += 1
    st.etag, st.last_modified = resp.etag, resp.last_modified
    st.title, st.error = parsed.title, ""
    st.items = [e.link for e in parsed.entries]
    jobs = []
    for entry in parsed.entries:
        page = run.state.pages.setdefault(entry.link, PageState())
        if feed.url not in page.feeds:
            page.feeds.append(feed.url)
        if _deleted_by_user(run, page):
            log.info("not fetching %s again: its file %s was deleted", entry.link, page.path)
            continue
        if entry.published:
            page.published = entry.published.isoformat()
        page.title = entry.title or page.title
        jobs.append(_PageJob(entry.link, entry, feed.name, parsed.title))
    return jobs


def _retry_jobs(run: _Run, feed: Feed, st: FeedState) -> list[_PageJob]:
    """Items of an unchanged (or unreachable) feed to fetch anyway: those that never landed,
    and those first seen less than `feed_recheck_hours` ago. A feed often keeps answering 304
    while a story it lists is corrected for hours (death tolls, results): a conditional GET of
    each recent page costs a 304 when nothing changed, and lands the correction when it did."""
    jobs = []
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(hours=run.recheck_hours)
    for link in st.items:
        page = run.state.pages.get(link)
        if page is None or not page.path:
            jobs.append(_PageJob(link, None, feed.name, st.title))
        elif (
            run.recheck_hours > 0 and not _deleted_by_user(run, page) and _seen_since(page, cutoff)
        ):
            jobs.append(_PageJob(link, None, feed.name, st.title))
    return jobs


def _seen_since(page: PageState, cutoff: dt.datetime) -> bool:
    seen = page.seen or page.fetched
    try:
        return bool(seen) and dt.datetime.fromisoformat(seen) >= cutoff
    except ValueError:
        return False


def _deleted_by_user(run: _Run, page: PageState) -> bool:
    return bool(page.path) and not (run.corpus / page.path).exists()


# ---- pages ---------------------------------------------------------------------------------


def _fetch_pages(
    run: _Run, fetcher: Fetcher, jobs: list[_PageJob], workers: int, progress: Progress | None
) -> list[_PageResult]:
    def one(job: _PageJob) -> _PageResult:
        try:
            return fetch_one(job)
        except Exception as exc:  # one page's surprise must not stop the others
            log.exception("fetching %s failed", job.link)
            return _PageResult(job, error=f"unexpected error: {type(exc).__name__}: {exc}")

    def fetch_one(job: _PageJob) -> _PageResult:
        page = run.state.pages.get(job.link) or PageState()
        have_file = bool(page.path) and (run.corpus / page.path).exists()
        try:
            resp = fetcher.get(
                job.link,
                etag=page.etag if have_file else None,
                last_modified=page.last_modified if have_file else None,
                accept=PAGE_ACCEPT,
            )
        except FetchError as exc:
            return _PageResult(job, error=exc.reason)
        if resp.not_modified:
            return _PageResult(job, resp)
        entry = job.entry
        try:
            article = extract_page(
                resp.body,
                resp.url,
                mime=resp.mime,
                charset=resp.charset,
                # A recheck has no feed entry: the one recorded when the feed listed it.
                fallback_date=entry.published if entry else _date(page.published),
                fallback_title=entry.title if entry else page.title,
                fallback_author=entry.author if entry else "",
            )
        except ExtractError as exc:
            return _PageResult(job, resp, error=exc.reason)
        # The user's name for the feed wins (they chose it to filter and read by); then the
        # page's own site name; then the feed's title.
        source = job.feed_name or article.source or job.feed_title
        if source != article.source:
            article = PageArticle(**{**article.__dict__, "source": source})
        return _PageResult(job, resp, article)

    results: list[_PageResult] = []
    if not jobs:
        return results
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs)))) as pool:
        for done, result in enumerate(pool.map(one, jobs), start=1):
            results.append(result)
            if progress:
                progress(done, len(jobs), "fetching articles")
    return results


def _apply(run: _Run, result: _PageResult, *, explicit: bool) -> None:
    """Record one page's outcome in the state and, when it has a new version, in the corpus."""
    link = result.job.link
    page = run.state.pages.setdefault(link, PageState())
    page.pinned = page.pinned or explicit
    resp = result.response
    if result.error:
        page.error = result.error
        run.fail(link, result.error)
        return
    assert resp is not None
    page.error = ""
    if resp.not_modified:
        return
    run.summary.fetched += 1
    assert result.article is not None
    article = result.article
    path = article_path(article.url)
    other = run.written_paths.get(path)
    if other is not None and other != link:
        log.info("%s is the same article as %s (%s); kept once", link, other, article.url)
    else:
        run.written_paths[path] = link
        try:
            changed = write_if_changed(run.corpus, path, render(article))
        except OSError as exc:
            page.error = f"cannot write {path}: {exc.strerror or exc}"
            run.fail(link, page.error)
            return
        if changed:
            run.summary.written += 1
            log.info("wrote %s from %s", path, link)
    if page.path and page.path != path:
        log.info("%s now lives at %s (was %s)", link, path, page.path)
    page.path, page.canonical = path, article.url
    page.etag, page.last_modified = resp.etag, resp.last_modified
    page.fetched = _now()
    page.seen = page.seen or page.fetched


# ---- prune ---------------------------------------------------------------------------------


def _prune(run: _Run, feeds: set[str]) -> None:
    """Remove the files of feed items that no current feed lists any more. Pages ever fetched
    with --url are never pruned; a feed that failed keeps its last item list."""
    state = run.state
    listed = {link for url in feeds if url in state.feeds for link in state.feeds[url].items}
    gone = [
        link
        for link, page in state.pages.items()
        if page.feeds and not page.pinned and link not in listed
    ]
    for link in gone:
        page = state.pages.pop(link)
        if not page.path:
            continue  # never landed: only its record goes
        still_used = any(p.path == page.path for p in state.pages.values())
        if not still_used and remove_article(run.corpus, page.path):
            run.summary.pruned += 1
            log.info("pruned %s (%s is no longer in its feed)", page.path, link)
    for url in [u for u in state.feeds if u not in feeds]:
        del state.feeds[url]


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
