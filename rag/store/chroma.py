"""Chroma clients: embedded or server, request timeouts, and how a failed call is classified
(unavailable, stale connection worth one retry, collection recreated elsewhere)."""

from __future__ import annotations

import logging
import os
import threading
import uuid
from pathlib import Path
from typing import Any, Protocol

from rag.settings import Settings
from rag.store.schema import StoreError, StoreUnavailableError

log = logging.getLogger(__name__)


def embedded_store_missing(settings: Settings) -> bool:
    """True when an embedded store was never created here. Read-only commands check this
    first: opening Chroma on a wrong path would leave an empty store behind."""
    return (
        not settings.chroma_url and not (settings.store_dir / "chroma" / "chroma.sqlite3").exists()
    )


# Methods of a Chroma collection that write: after one of them the embedded store's change
# marker is renewed, so other processes reopen their clients (see `ChromaCollections`).
_WRITES = frozenset({"add", "upsert", "update", "delete", "modify"})
# chromadb keeps one System per persist path and process; a reopen must get a new one.
_systems_lock = threading.Lock()


def make_client(settings: Settings) -> Any:
    """A Chroma client: an `HttpClient` when `settings.chroma_url` is set, else an embedded
    `PersistentClient` under `store_dir/chroma`, always loaded from disk anew.

    chromadb caches one System per path and process; a new embedded client must not reuse it,
    since a cached System's in-memory vector index does not see other processes' writes. The
    client carries the store's change marker as it was before it loaded (`_newsrag_marker`),
    which `ChromaCollections` compares with the marker's current content."""
    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient as Shared
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        return _http_client(settings, chroma_settings)
    settings.store_dir.mkdir(parents=True, exist_ok=True)
    path = str(settings.store_dir / "chroma")
    with _systems_lock:
        marker = read_marker(change_marker(settings))
        # Forget (do not stop) the cached System: calls in flight on it finish normally and
        # it is freed with its last handle.
        with Shared._refcount_lock:
            Shared._identifier_to_system.pop(path, None)
            Shared._identifier_to_refcount.pop(path, None)
        client = chromadb.PersistentClient(path=path, settings=chroma_settings)
    client._newsrag_marker = marker  # type: ignore[attr-defined]
    return client


def _give_back_memory() -> None:
    """Return the freed pages of a dropped client to the OS (glibc only). Without it the
    allocator keeps them: RSS grew by about 1 MB per reopen (200 reopens: 143 -> 457 MB; with
    it 122 -> 242 MB, nearly flat after the first 50), which a chat running for days next to
    hourly fetches would feel."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def change_marker(settings: Settings) -> Path | None:
    """The embedded store's change marker (None on a server, which needs none): a file whose
    content every write renews. A process whose client was opened before the marker's current
    content reopens it before its next Chroma call."""
    return None if settings.chroma_url else settings.store_dir / "changed"


def read_marker(marker: Path | None) -> str:
    if marker is None:
        return ""
    try:
        return marker.read_text(encoding="ascii")
    except (FileNotFoundError, UnicodeDecodeError):
        return ""


def renew_marker(marker: Path) -> str:
    """Write a new token to the marker atomically (a reader never sees a torn one)."""
    token = uuid.uuid4().hex
    tmp = marker.with_name(f".{marker.name}.{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(token, encoding="ascii")
    os.replace(tmp, marker)
    return token


def _http_client(settings: Settings, chroma_settings: Any) -> Any:
    """A `chromadb.HttpClient` whose every request is bounded by `settings.chroma_timeout`.

    chromadb 1.5 builds its httpx session with `timeout=None` and offers no setting for it, so
    the timeout is set on the session after construction; construction itself (three requests)
    runs in a daemon thread bounded by the same timeout, so a hung server cannot hang startup.
    The optional token is sent both ways Chroma's token auth reads it (`Authorization: Bearer`
    and `X-Chroma-Token`, the header Chroma Cloud uses).
    """
    from urllib.parse import urlparse

    import chromadb
    import httpx

    url = urlparse(settings.chroma_url or "")
    headers: dict[str, str] = {}
    if settings.chroma_token:
        headers["Authorization"] = f"Bearer {settings.chroma_token}"
        headers["X-Chroma-Token"] = settings.chroma_token
    result: dict[str, Any] = {}

    def connect() -> None:
        try:
            result["client"] = chromadb.HttpClient(
                host=url.hostname or "127.0.0.1",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                headers=headers,
                settings=chroma_settings,
            )
        except BaseException as exc:  # noqa: BLE001 - reported to the caller below
            result["error"] = exc

    worker = threading.Thread(target=connect, name="chroma-connect", daemon=True)
    worker.start()
    worker.join(settings.chroma_timeout)
    if worker.is_alive():
        raise StoreUnavailableError(
            f"store unavailable: Chroma at {settings.chroma_url} did not answer within "
            f"{settings.chroma_timeout:g}s"
        )
    if "error" in result:
        exc = result["error"]
        if type(exc).__name__ in ("ChromaAuthError", "AuthorizationError"):
            raise StoreError(
                f"Chroma at {settings.chroma_url} refused the credentials (NEWSRAG_CHROMA_TOKEN): "
                f"{exc}"
            ) from None
        raise StoreUnavailableError(
            f"store unavailable: cannot reach Chroma at {settings.chroma_url} ({describe(exc)})"
        ) from None
    client = result["client"]
    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(settings.chroma_timeout)
    else:  # pragma: no cover - chromadb internals changed
        log.warning("cannot set a request timeout on the Chroma client; requests may hang")
    return client


def failure_kind(exc: BaseException) -> str | None:
    """How a failed Chroma call failed: 'timeout' and 'down' mean the server is unavailable,
    'stale' is a pooled connection the server closed (worth one retry), 'gone' a collection
    dropped (and maybe recreated) behind our back, 'race' a read that met a record being
    deleted (a Chroma server under concurrent writes; worth one retry), None anything else."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "down"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return "stale"
    if isinstance(exc, httpx.TransportError):
        return "down"
    if isinstance(exc, ValueError) and "could not connect to a chroma server" in str(exc).lower():
        return "down"
    if type(exc).__name__ == "NotFoundError" and "does not exist" in str(exc):
        return "gone"
    if type(exc).__name__ == "InternalError" and "Error finding id" in str(exc):
        return "race"
    return None


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Caller(Protocol):
    def _call(self, coll: Collection, method: str, args: tuple, kwargs: dict) -> Any: ...


class Collection:
    """A Chroma collection handle as the `Store` uses it: a lost or hung server surfaces as
    `StoreUnavailableError` (one retry on a stale pooled connection), and a collection that
    another process dropped and recreated (`ingest --rebuild`) is looked up again once."""

    def __init__(self, store: _Caller, handle: Any) -> None:
        self._store = store
        self.handle = handle

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.handle, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._store._call(self, name, args, kwargs)

        return call


class ChromaCollections:
    """The three collections of a store (chunks, sentences, manifest) on one client, every
    call of which goes through `_call`: retried once on a stale connection, looked up again
    once when another process recreated them, reported as `StoreUnavailableError` when the
    server is down or hung."""

    def __init__(self, settings: Settings, client: Any) -> None:
        self.settings = settings
        self.client = client
        self._marker = change_marker(settings)
        self._reopen_lock = threading.Lock()
        # The marker as it was before the client loaded (None: unknown, reopen at first use).
        self._seen: str | None = getattr(client, "_newsrag_marker", None)
        chunks, sentences, manifest = self._open_collections()
        self.chunks = Collection(self, chunks)
        self.sentences = Collection(self, sentences)
        self.manifest = Collection(self, manifest)

    def _open_collections(self) -> tuple[Any, Any, Any]:
        name = self.settings.collection
        try:
            return (
                self.client.get_or_create_collection(
                    name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
                ),
                self.client.get_or_create_collection(
                    f"{name}-sentences",
                    embedding_function=None,
                    configuration={"hnsw": {"space": "cosine"}},
                ),
                self.client.get_or_create_collection(f"{name}-manifest", embedding_function=None),
            )
        except StoreError:
            raise
        except Exception as exc:
            raise StoreUnavailableError(f"store unavailable: {describe(exc)}") from None

    def _call(self, coll: Collection, method: str, args: tuple, kwargs: dict) -> Any:
        """Every Chroma call of the store goes through here (see `Collection`).

        Embedded, it first checks the store's change marker and reopens the client when another
        process (or another `Store` of this one) wrote since it was opened: an embedded Chroma
        client keeps its vector index in memory and never sees other processes' writes, so
        without this a reader would miss new chunks and fail on deleted ones ("Error finding
        id") until restarted. A write renews the marker."""
        retried = reopened = False
        races = 0
        while True:
            if self._marker is not None:
                self._refresh()
            handle = coll.handle
            try:
                before = self._seen
                result = getattr(handle, method)(*args, **kwargs)
                if self._marker is not None and method in _WRITES:
                    self._wrote(before)
                return result
            except Exception as exc:
                kind = failure_kind(exc)
                if kind == "race" and races < 2:
                    # A record deleted by another writer while this call ran: retry, on a
                    # freshly loaded embedded client (the next marker check may not show it
                    # yet: the writer renews the marker after its call returns).
                    races += 1
                    if self._marker is not None:
                        self._reopen_client(force=True)
                    continue
                if kind == "gone" and not reopened:
                    reopened = True
                    self._reopen()
                    continue
                if kind == "stale" and not retried:
                    retried = True
                    continue
                if kind in ("timeout", "down", "stale"):
                    raise StoreUnavailableError(
                        f"store unavailable: {self.location}: {describe(exc)}"
                    ) from None
                raise

    def renew_marker(self) -> None:
        """Tell other processes the embedded store changed (for writes made on the client
        directly, such as dropping collections)."""
        if self._marker is not None:
            renew_marker(self._marker)

    def _refresh(self) -> None:
        if read_marker(self._marker) != self._seen:
            self._reopen_client()

    def _wrote(self, before: str | None) -> None:
        """Renew the marker after our own write; our client saw that write, so it need not
        reopen for it, unless another process wrote too since we last looked."""
        assert self._marker is not None
        with self._reopen_lock:
            unseen = read_marker(self._marker) != before
            token = renew_marker(self._marker)
            if not unseen and self._seen == before:
                self._seen = token

    def _reopen_client(self, *, force: bool = False) -> None:
        """Load the embedded store from disk again: a new client, new collection handles.
        Calls in flight on the old handles finish on them."""
        with self._reopen_lock:
            if not force and read_marker(self._marker) == self._seen:
                return  # another thread reopened it for this change already
            log.debug("the store changed elsewhere; reopening %s", self.location)
            client = make_client(self.settings)
            self.client = client
            chunks, sentences, manifest = self._open_collections()
            self.chunks.handle, self.sentences.handle = chunks, sentences
            self.manifest.handle = manifest
            self._seen = client._newsrag_marker
        _give_back_memory()

    def _reopen(self) -> None:
        log.info("store collections were recreated elsewhere; reopening them")
        chunks, sentences, manifest = self._open_collections()
        self.chunks.handle, self.sentences.handle = chunks, sentences
        self.manifest.handle = manifest

    @property
    def location(self) -> str:
        if self.settings.chroma_url:
            return f"{self.settings.chroma_url} (collection {self.settings.collection})"
        return str(self.settings.store_dir)
