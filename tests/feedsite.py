"""A real HTTP server on 127.0.0.1 serving a folder of files written by the tests.

It answers conditional GETs like a web server does (ETag from the content, Last-Modified from
the file's mtime, 304 when either matches), logs every request, and has special routes for the
bad cases a feed reader meets: /special/slow, /special/down, /special/loop-a (a redirect loop),
/special/huge (streamed without a length), /special/big (declares its length),
/special/to-file (redirects to a file: URL), /special/moved/<path> (301 to /<path>).

Also the generator of news pages and feeds used by the tests and bench/fetch.py.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import html
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TYPES = {
    ".xml": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".pdf": "application/pdf",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
}
SLOW_SECONDS = 4.0


@dataclass
class Site:
    root: Path
    port: int = 0
    log: list[tuple[str, int]] = field(default_factory=list)  # (path, status) of each request
    agents: set[str] = field(default_factory=set)
    latency: float = 0.0  # seconds every response waits (to see concurrency)
    in_flight: int = 0
    max_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def write(self, path: str, text: str | bytes) -> Path:
        """Write a file the server serves; its mtime moves forward at least a second each time
        so Last-Modified changes even within one second."""
        target = self.root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        before = target.stat().st_mtime if target.exists() else 0.0
        data = text.encode("utf-8") if isinstance(text, str) else text
        target.write_bytes(data)
        stamp = max(time.time(), before + 1.0)
        os.utime(target, (stamp, stamp))
        return target

    def remove(self, path: str) -> None:
        (self.root / path.lstrip("/")).unlink()

    def record(self, path: str, status: int) -> None:
        with self._lock:
            self.log.append((path, status))

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()

    def statuses(self) -> list[int]:
        with self._lock:
            return [s for _, s in self.log]


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None):
            site.record(self.path, status)
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                try:
                    self.wfile.write(body)
                except OSError:  # the client gave up (timeout, size limit): its right
                    self.close_connection = True

        def do_GET(self) -> None:  # noqa: N802
            with site._lock:
                site.in_flight += 1
                site.max_in_flight = max(site.max_in_flight, site.in_flight)
            try:
                if site.latency:
                    time.sleep(site.latency)
                self._get()
            finally:
                with site._lock:
                    site.in_flight -= 1

        def _get(self) -> None:
            site.agents.add(self.headers.get("User-Agent", ""))
            path = self.path.split("?", 1)[0]
            if path.startswith("/special/"):
                return self._special(path[len("/special/") :])
            file = (site.root / path.lstrip("/")).resolve()
            if not file.is_relative_to(site.root.resolve()) or not file.is_file():
                return self._send(404, b"not found")
            body = file.read_bytes()
            etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            mtime = int(file.stat().st_mtime)
            last_modified = email.utils.formatdate(mtime, usegmt=True)
            inm = self.headers.get("If-None-Match")
            ims = self.headers.get("If-Modified-Since")
            fresh = inm == etag if inm else False
            if not inm and ims:
                try:
                    fresh = email.utils.parsedate_to_datetime(ims).timestamp() >= mtime
                except (TypeError, ValueError):
                    fresh = False
            validators = {"ETag": etag, "Last-Modified": last_modified}
            if fresh:
                return self._send(304, b"", validators)
            ctype = TYPES.get(file.suffix, "application/octet-stream")
            self._send(200, body, {"Content-Type": ctype, **validators})

        def _special(self, name: str) -> None:
            if name == "slow":
                time.sleep(SLOW_SECONDS)
                return self._send(200, b"<rss/>", {"Content-Type": TYPES[".xml"]})
            if name == "down":
                return self._send(503, b"down for maintenance")
            if name in ("loop-a", "loop-b"):
                other = "loop-b" if name == "loop-a" else "loop-a"
                return self._send(302, b"", {"Location": f"/special/{other}"})
            if name == "to-file":
                return self._send(302, b"", {"Location": "file:///etc/passwd"})
            if name.startswith("moved/"):
                return self._send(301, b"", {"Location": "/" + name[len("moved/") :]})
            if name == "big":
                return self._send(
                    200, b"<html>" + b"x" * 3_000_000, {"Content-Type": TYPES[".html"]}
                )
            if name == "huge":  # no length: the client must cut the stream off itself
                site.record(self.path, 200)
                self.send_response(200)
                self.send_header("Content-Type", TYPES[".xml"])
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    self.wfile.write(b"<?xml version='1.0'?><rss version='2.0'><channel>")
                    for _ in range(400):
                        self.wfile.write(b"<item><title>spam</title></item>" * 300)
                except OSError:
                    pass
                self.close_connection = True
                return None
            return self._send(404, b"no such special route")

    return Handler


@contextmanager
def serve(root: Path) -> Iterator[Site]:
    root.mkdir(parents=True, exist_ok=True)
    site = Site(root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    server.daemon_threads = True
    site.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


# ---- generated news ----------------------------------------------------------------------

BOILERPLATE = [
    "Subscribe to our newsletter for the best stories every morning",
    "Copyright 2025 Harbour Gazette Media Group. All rights reserved.",
    "Home World Business Sport Weather Puzzles",
    "Accept all cookies Manage preferences",
]


@dataclass
class Story:
    slug: str
    title: str
    paragraphs: list[str]
    published: dt.date
    author: str = "Staff reporter"
    canonical: str | None = None  # path; None means the page's own path

    @property
    def path(self) -> str:
        return f"news/{self.slug}.html"


def page_html(story: Story, site: Site, *, with_date: bool = True) -> str:
    canonical = site.url(story.canonical or story.path)
    paras = "\n".join(f"<p>{html.escape(p)}</p>" for p in story.paragraphs)
    date_meta = (
        f'<meta property="article:published_time" content="{story.published}T08:00:00Z">'
        if with_date
        else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(story.title)} | Harbour Gazette</title>
<link rel="canonical" href="{canonical}">
<meta property="og:site_name" content="Harbour Gazette">
<meta name="author" content="{html.escape(story.author)}">
{date_meta}
</head><body>
<header><nav class="menu"><ul><li><a href="/">Home</a></li><li><a href="/world">World</a></li>
<li><a href="/business">Business</a></li><li><a href="/sport">Sport</a></li>
<li><a href="/weather">Weather</a></li><li><a href="/puzzles">Puzzles</a></li></ul></nav>
<div class="promo">{BOILERPLATE[0]}</div></header>
<main><article>
<h1>{html.escape(story.title)}</h1>
<p class="byline">By {html.escape(story.author)}</p>
{paras}
</article>
<aside class="related"><h2>Most read</h2><ul><li><a href="/a">Ten ways to enjoy the seaside</a></li>
<li><a href="/b">Quiz of the week</a></li></ul></aside></main>
<footer><p>{BOILERPLATE[1]}</p><p>{BOILERPLATE[3]}</p>
<p><a href="/privacy">Privacy policy</a> | <a href="/terms">Terms</a></p></footer>
</body></html>
"""


def rss_xml(title: str, items: list[tuple[str, str, dt.date]], *, build: str = "") -> str:
    """RSS 2.0 with (title, link, date) items."""
    entries = "\n".join(
        f"<item><title>{html.escape(t)}</title><link>{html.escape(link)}</link>"
        f"<guid>{html.escape(link)}</guid>"
        f"<pubDate>{email.utils.format_datetime(dt.datetime(d.year, d.month, d.day, 8, tzinfo=dt.UTC))}</pubDate></item>"
        for t, link, d in items
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>{html.escape(title)}</title><link>http://example.invalid/</link>
<description>Test feed {html.escape(build)}</description>
{entries}
</channel></rss>
"""


def atom_xml(title: str, items: list[tuple[str, str, dt.date]], *, build: str = "") -> str:
    entries = "\n".join(
        f'<entry><title>{html.escape(t)}</title><link rel="alternate" href="{html.escape(link)}"/>'
        f"<id>{html.escape(link)}</id><updated>{d}T08:00:00Z</updated></entry>"
        for t, link, d in items
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>{html.escape(title)}</title>
<id>urn:test:{html.escape(title)}</id><updated>2025-06-01T00:00:00Z</updated>
<subtitle>{html.escape(build)}</subtitle>
{entries}
</feed>
"""


def generated_story(i: int) -> Story:
    """Article number i of a synthetic news site (bench and extraction tests)."""
    towns = ["Portmere", "Elsby", "Carrow", "Dunmoor", "Halvergate", "Kestrel Bay", "Tamsworth"]
    topics = [
        ("ferry", "The new electric ferry carried its first {n} passengers across the estuary"),
        ("school", "The rebuilt primary school opened with room for {n} pupils"),
        ("market", "Traders at the covered market reported {n} visitors on the first weekend"),
        ("flood", "Engineers finished a flood wall that protects {n} homes"),
        ("library", "The library lent {n} books in its first month after the move"),
    ]
    town = towns[i % len(towns)]
    topic, lede = topics[i % len(topics)]
    n = 100 + 37 * i
    paragraphs = [
        f"{lede.format(n=n)} in {town} on Monday, officials said in article number {i}.",
        f"The council of {town} spent {i % 9 + 2} million pounds on the {topic} project, "
        f"which took {i % 11 + 3} months to complete after a public consultation.",
        f"Residents told the Harbour Gazette that the {topic} had changed daily life in {town}, "
        "and local businesses expect more visitors during the summer season.",
        f"A spokesperson said a second phase would begin next year if funding is approved by "
        f"the regional assembly in {town}.",
    ]
    return Story(
        slug=f"{town.lower().replace(' ', '-')}-{topic}-{i}",
        title=f"{town} {topic} milestone reached ({i})",
        paragraphs=paragraphs,
        published=dt.date(2025, 1, 1) + dt.timedelta(days=i % 300),
    )
