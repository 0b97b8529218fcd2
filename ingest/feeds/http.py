"""A polite HTTP fetcher for feeds and article pages.

Politeness and safety are properties of the fetcher, not of its callers, so every request gets
them: a User-Agent naming newsrag, conditional GET (ETag / Last-Modified), at most
`per_host` requests in flight per host and `delay` seconds between request starts to a host,
connect/read timeouts plus an overall deadline per response, a size limit (the download is cut
off there), a redirect limit with loop detection, only http/https, and, unless
`allow_private_hosts`, no loopback/private/link-local hosts (every redirect hop is checked).

Any failure is a `FetchError(url, reason)` with one short human reason.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from urllib.parse import urljoin, urlsplit

import httpx

log = logging.getLogger(__name__)

_MB = 1024 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _version() -> str:
    try:
        return metadata.version("newsrag")
    except metadata.PackageNotFoundError:
        return "dev"


USER_AGENT = f"newsrag/{_version()} (feed reader; +https://pypi.org/project/newsrag/)"


class FetchError(Exception):
    """A URL could not be fetched (or was refused); `reason` is one short sentence."""

    def __init__(self, url: str, reason: str):
        super().__init__(url, reason)
        self.url = url
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.url}: {self.reason}"


@dataclass(frozen=True)
class FetchPolicy:
    timeout: float = 20.0
    max_bytes: int = 5 * _MB
    max_redirects: int = 5
    per_host: int = 2
    delay: float = 0.5
    allow_private_hosts: bool = False
    user_agent: str = USER_AGENT


@dataclass
class Response:
    """A 200 (with its body) or a 304 (empty body) after following redirects."""

    url: str  # the final URL
    status: int
    body: bytes
    content_type: str
    etag: str | None
    last_modified: str | None

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def charset(self) -> str | None:
        for part in self.content_type.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip("\"' ")
        return None

    @property
    def mime(self) -> str:
        return self.content_type.split(";")[0].strip().lower()


@dataclass
class FetchStats:
    requests: int = 0
    bytes: int = 0
    not_modified: int = 0


def check_url(url: str) -> str:
    """The URL if newsrag may fetch it at all (http/https with a host); FetchError otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https"):
        scheme = parts.scheme or "(none)"
        raise FetchError(url, f"only http and https URLs are fetched, not {scheme}:")
    if not parts.hostname:
        raise FetchError(url, "the URL has no host")
    return url.strip()


def check_host(url: str, host: str, port: int | None) -> None:
    """Refuse hosts that resolve to a non-public address (loopback, private, link-local...).

    Checked at each hop before connecting; a DNS answer that changes between this check and
    the connection (rebinding) is not caught, so this guards against mistakes and plain
    SSRF, not against a hostile DNS server.
    """
    try:
        infos = socket.getaddrinfo(host, port or 80, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(url, f"cannot resolve host {host}: {exc}") from None
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not ip.is_global or ip.is_multicast:
            raise FetchError(
                url,
                f"host {host} is a private or local address ({ip}); refused without "
                "--allow-private-hosts",
            )


class _HostGate:
    """Per-host concurrency limit and minimum delay between request starts."""

    def __init__(self, per_host: int, delay: float) -> None:
        self.per_host = per_host
        self.delay = delay
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._next_start: dict[str, float] = {}

    def slot(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            if host not in self._slots:
                self._slots[host] = threading.BoundedSemaphore(self.per_host)
            return self._slots[host]

    def wait_turn(self, host: str) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start.get(host, now))
            self._next_start[host] = start + self.delay
        if start > now:
            time.sleep(start - now)


class Fetcher:
    """Thread-safe: one per run, shared by the worker threads."""

    def __init__(self, policy: FetchPolicy | None = None) -> None:
        self.policy = policy or FetchPolicy()
        p = self.policy
        self._client = httpx.Client(
            follow_redirects=False,
            timeout=httpx.Timeout(p.timeout, connect=min(p.timeout, 10.0)),
            headers={"User-Agent": p.user_agent, "Accept-Encoding": "gzip, deflate"},
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )
        self._gate = _HostGate(p.per_host, p.delay)
        self._stats_lock = threading.Lock()
        self.stats = FetchStats()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = "*/*",
    ) -> Response:
        """GET `url`, following redirects by hand so each hop is checked."""
        original = url
        current = check_url(url)
        seen = [current]
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        for _ in range(self.policy.max_redirects + 1):
            status, location, response = self._one(original, current, headers)
            if location is None:
                assert response is not None
                return response
            nxt = urljoin(current, location)
            try:
                check_url(nxt)
            except FetchError as exc:
                raise FetchError(original, f"redirected to a refused URL: {exc.reason}") from None
            if nxt in seen:
                raise FetchError(original, f"redirect loop ({len(seen)} hops back to {nxt})")
            seen.append(nxt)
            current = nxt
        raise FetchError(original, f"too many redirects (more than {self.policy.max_redirects})")

    def _one(
        self, original: str, url: str, headers: dict[str, str]
    ) -> tuple[int, str | None, Response | None]:
        p = self.policy
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if not p.allow_private_hosts:
            check_host(original, host, parts.port)
        slot = self._gate.slot(host)
        with slot:
            self._gate.wait_turn(host)
            deadline = time.monotonic() + p.timeout
            try:
                with self._client.stream("GET", url, headers=headers) as resp:
                    self._count(requests=1)
                    if resp.status_code in _REDIRECTS:
                        self._count(nbytes=resp.num_bytes_downloaded)
                        location = resp.headers.get("location")
                        if not location:
                            raise FetchError(original, f"HTTP {resp.status_code} without Location")
                        return resp.status_code, location, None
                    if resp.status_code == 304:
                        self._count(nbytes=resp.num_bytes_downloaded, not_modified=1)
                        return 304, None, self._response(url, resp, b"")
                    if resp.status_code != 200:
                        self._count(nbytes=resp.num_bytes_downloaded)
                        raise FetchError(original, _status_reason(resp))
                    body = self._read(original, resp, deadline)
                    return 200, None, self._response(url, resp, body)
            except httpx.TimeoutException:
                raise FetchError(original, f"timed out (limit {p.timeout:g}s)") from None
            except httpx.HTTPError as exc:
                raise FetchError(original, f"request failed: {_describe(exc)}") from None

    def _read(self, original: str, resp: httpx.Response, deadline: float) -> bytes:
        limit = self.policy.max_bytes
        declared = resp.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FetchError(original, f"response over the size limit ({_size(limit)}); cut off")
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in resp.iter_bytes():
                total += len(chunk)
                if total > limit:
                    raise FetchError(
                        original, f"response over the size limit ({_size(limit)}); cut off"
                    )
                if time.monotonic() > deadline:
                    raise FetchError(
                        original, f"timed out (limit {self.policy.timeout:g}s for the response)"
                    )
                chunks.append(chunk)
        finally:
            self._count(nbytes=resp.num_bytes_downloaded)
        return b"".join(chunks)

    @staticmethod
    def _response(url: str, resp: httpx.Response, body: bytes) -> Response:
        return Response(
            url=url,
            status=resp.status_code,
            body=body,
            content_type=resp.headers.get("content-type", ""),
            etag=resp.headers.get("etag"),
            last_modified=resp.headers.get("last-modified"),
        )

    def _count(self, *, requests: int = 0, nbytes: int = 0, not_modified: int = 0) -> None:
        with self._stats_lock:
            self.stats.requests += requests
            self.stats.bytes += nbytes
            self.stats.not_modified += not_modified


def _status_reason(resp: httpx.Response) -> str:
    phrase = resp.reason_phrase or ""
    return f"HTTP {resp.status_code}" + (f" {phrase}" if phrase else "")


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _size(n: int) -> str:
    if n >= _MB:
        return f"{n / _MB:.1f} MB"
    return f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} bytes"
