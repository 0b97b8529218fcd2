"""The ingest lease: one writer per store at a time, across processes and machines.

Every writer (CLI ingest and fetch, the web chat's upload, re-ingest and delete, a background
refresh) holds the lease while it writes. It is a record in the store's manifest collection, so
it works the same embedded and on a Chroma server shared by several machines, and a writer that
dies simply stops renewing it: after `expiry` seconds the next writer takes over and repairs
what was left half-written (`Store.repair`), exactly as after any interrupted run.

Why this protocol. Chroma has no compare-and-swap, no conditional write and no transaction a
client can see, only upsert / get / delete of records. Each attempt therefore writes a record
of its own (a fresh random token in the id, so two writers never overwrite each other) and then
reads all lease records back:

1. *claim*: write ``{state: claim}``, wait `settle` seconds, read every live lease record.
   Back off if any other record is ``held``, or is a claim older than ours (ordered by
   ``(taken_at, token)``, which every reader sees alike): this makes the oldest contender win
   most races in one round, so two writers starting together rarely both fail.
2. *hold*: upsert our record as ``{state: held}``, wait `settle` again, read again; back off if
   any other record is ``held``. This second step is what makes the lease safe: it is Dekker's
   flag protocol. If A and B both proceeded, A's read (after A's write) missed B's write and
   B's read (after B's write) missed A's, i.e. rA < wB < rB < wA < rA, a contradiction. Only
   the order of operations on the store matters here, not the clocks, so clock skew cannot
   make two holders; two writers who see each other's ``held`` both back off and retry after
   a random pause (safe, and rare because step 1 orders them first).

The holder renews its record every ``expiry / 3`` seconds from a background thread and deletes
it on release. A record whose ``expires_at`` lies in the past is dead: it is ignored, and
deleted by the next contender; a holder that finds its record gone (or another holder) marks
its lease lost, and `check()` (called before every batch of writes) then stops the job.

Limits, by design:
- The argument needs reads that see every write completed before them (read-your-writes,
  linearizable): true of embedded Chroma (one SQLite file) and of a single `chroma run`
  server; not promised by a distributed Chroma cluster.
- Expiry compares the holder's clock (which wrote ``expires_at``) with the reader's: machines
  sharing a server need clocks within a few seconds of each other (NTP), well under `expiry`.
- A holder frozen for longer than `expiry` (SIGSTOP, a dead network) loses the lease while it
  cannot notice; when it wakes, `check()` fails before its next batch, but a batch already in
  flight can still land. The store's write protocol keeps each article consistent even then.
- ``--rebuild`` drops the manifest collection: the holder pauses renewal and writes its record
  back at once (`Lease.paused`), leaving a window of a few milliseconds.
- Times are stored as integer milliseconds: Chroma does not return floats bit for bit.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import random
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.store.schema import LEASE_PREFIX, StoreError

log = logging.getLogger(__name__)

DEFAULT_EXPIRY = 60.0
# Attempts against writers that are themselves only claiming (not holding): such a race is
# settled within a round or two, so even `wait=0` retries it before giving up.
_CONTENDED_RETRIES = 5
# Tokens of the lease records this process's `Lease` objects own. A record naming this host and
# pid with another token was left by a lease of ours whose release failed (store unreachable at
# the time): it is dead, though not yet expired.
_own_tokens: set[str] = set()
_own_lock = threading.Lock()


class LeaseHeldError(StoreError):
    """Another writer holds the store's lease (message: one line for the user)."""

    def __init__(self, holder: Holder) -> None:
        self.holder = holder
        super().__init__(
            f"the store is busy: another writer holds its ingest lease ({holder.describe()}); "
            f"the lease expires at {_clock(holder.expires_at)} unless renewed. "
            "Try again later, or pass --wait SECONDS."
        )


class LeaseLostError(StoreError):
    """This writer's lease expired or was taken over: it must stop writing."""


@dataclass(frozen=True)
class Holder:
    """One lease record: who (host, pid, command), since when, until when."""

    token: str
    host: str
    pid: int
    command: str
    taken_at: float  # seconds since the epoch, whole milliseconds (see `_ms`)
    expires_at: float
    state: str  # "claim" while contending, "held" once acquired

    def describe(self) -> str:
        return (
            f"host {self.host}, pid {self.pid}, `{self.command}`, taken at {_clock(self.taken_at)}"
        )

    def metadata(self) -> dict[str, Any]:
        return {
            "lease": 1,
            "token": self.token,
            "host": self.host,
            "pid": self.pid,
            "command": self.command,
            "taken_ms": round(self.taken_at * 1000),
            "expires_ms": round(self.expires_at * 1000),
            "state": self.state,
        }

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> Holder:
        return cls(
            token=str(meta.get("token", "")),
            host=str(meta.get("host", "?")),
            pid=int(meta.get("pid", 0) or 0),
            command=str(meta.get("command", "")),
            taken_at=int(meta.get("taken_ms", 0) or 0) / 1000,
            expires_at=int(meta.get("expires_ms", 0) or 0) / 1000,
            state=str(meta.get("state", "claim")),
        )


def _ms(t: float) -> float:
    """`t` rounded to whole milliseconds, exactly as it reads back from a lease record."""
    return round(t * 1000) / 1000


def _clock(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def default_command() -> str:
    """What this process is, for the holder line: e.g. ``newsrag ingest corpus``."""
    argv = sys.argv or ["python"]
    name = Path(argv[0]).name
    if name in ("cli.py", "__main__.py", "-c", "-m", ""):
        name = "newsrag"
    return " ".join([name, *argv[1:]])[:200]


class Lease:
    """A lease on one store, acquired with `acquire` (or ``with``) and renewed until `release`.

    `collection` returns the store's manifest collection; it is called for every operation so
    that a collection recreated by ``--rebuild`` is followed.
    """

    def __init__(
        self,
        collection: Callable[[], Any],
        *,
        expiry: float = DEFAULT_EXPIRY,
        command: str | None = None,
        settle: float | None = None,
    ) -> None:
        if expiry <= 0:
            raise ValueError("the lease expiry must be positive")
        self._collection = collection
        self.expiry = float(expiry)
        self.renew_every = self.expiry / 3
        self.settle = min(0.05, self.expiry / 60) if settle is None else settle
        self.command = command or default_command()
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self._me: Holder | None = None
        self._lost: str | None = None
        self._lock = threading.RLock()  # one store operation of this lease at a time
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    # ----- public ------------------------------------------------------------------------------
    @property
    def held(self) -> bool:
        return self._me is not None and self._lost is None

    def acquire(self, wait: float = 0.0) -> Lease:
        """Take the lease, waiting up to `wait` seconds for the holder to finish or expire;
        raise `LeaseHeldError` naming the holder if it is still taken by then."""
        if self._me is not None:
            raise RuntimeError("this lease is already held")
        deadline = time.monotonic() + max(0.0, wait)
        contended = 0
        while True:
            blocker = self._attempt()
            if blocker is None:
                self._start_renewer()
                log.info("took the ingest lease (expires every %.0fs unless renewed)", self.expiry)
                return self
            now = time.monotonic()
            if blocker.state != "held" and contended < _CONTENDED_RETRIES:
                contended += 1
                time.sleep(random.uniform(self.settle, 4 * self.settle + 0.05))
                continue
            if now >= deadline:
                raise LeaseHeldError(blocker)
            # Poll every half second at most (a finished job is followed quickly) and at
            # least twice per renewal interval; right after the holder's record expires, so a
            # dead holder is replaced within expiry + one renewal interval.
            until_expiry = blocker.expires_at - time.time() + 0.05
            pause = min(self.renew_every / 2, 0.5, max(until_expiry, self.settle), deadline - now)
            time.sleep(max(0.0, pause) + random.uniform(0, self.settle))

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=self.expiry)
            self._renewer = None
        me, self._me = self._me, None
        if me is None:
            return
        with _own_lock:
            _own_tokens.discard(me.token)
        with self._lock:
            try:
                self._collection().delete(ids=[LEASE_PREFIX + me.token])
            except Exception as exc:  # noqa: BLE001 - it expires by itself
                log.warning("could not release the ingest lease (it will expire): %s", exc)

    def check(self) -> None:
        """Raise `LeaseLostError` if this writer no longer holds the lease: call it before
        writing, so a writer that was taken over stops instead of racing the new holder."""
        if self._me is None:
            raise LeaseLostError("the ingest lease is not held")
        if self._lost is not None:
            raise LeaseLostError(f"the ingest lease was lost: {self._lost}")
        if time.time() >= self._me.expires_at:  # renewal has not run in time (frozen process?)
            raise LeaseLostError("the ingest lease expired before it could be renewed")

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Hold renewal while the manifest collection is dropped and recreated, then write this
        holder's record back into the new collection."""
        with self._lock:
            yield
            if self._me is not None and self._lost is None:
                self._me = self._stamp(self._me, "held")
                self._write(self._me)

    def holders(self) -> list[Holder]:
        """Live lease records (expired ones left out), oldest first."""
        return self._live()

    def __enter__(self) -> Lease:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    # ----- protocol ----------------------------------------------------------------------------
    def _attempt(self) -> Holder | None:
        """One round of the claim / hold protocol; None when we hold the lease, else the
        record that blocks us."""
        with self._lock:
            held = [h for h in self._live() if h.state == "held"]
            if held:  # no need to contend with a running job
                return held[0]
            now = _ms(time.time())
            mine = Holder(
                uuid.uuid4().hex,
                self.host,
                self.pid,
                self.command,
                now,
                _ms(now + self.expiry),
                "claim",
            )
            with _own_lock:
                _own_tokens.add(mine.token)
            won = False
            try:
                blocker = self._contend(mine)
                won = blocker is None
                return blocker
            finally:
                if not won:
                    with _own_lock:
                        _own_tokens.discard(mine.token)
                    with contextlib.suppress(Exception):
                        self._delete(mine)

    def _contend(self, mine: Holder) -> Holder | None:
        # Step 1, claim: the oldest contender goes on, the others back off.
        self._write(mine)
        time.sleep(self.settle)
        others = [h for h in self._live() if h.token != mine.token]
        key = (mine.taken_at, mine.token)
        blocker = next((h for h in others if h.state == "held"), None) or next(
            (h for h in others if (h.taken_at, h.token) < key), None
        )
        if blocker is not None:
            return blocker
        # Step 2, hold: Dekker's flags; whoever sees another holder backs off.
        mine = self._stamp(mine, "held")
        self._write(mine)
        time.sleep(self.settle)
        blocker = next(
            (h for h in self._live() if h.token != mine.token and h.state == "held"), None
        )
        if blocker is not None:
            return blocker
        self._me, self._lost = mine, None
        self._stop.clear()
        return None

    def _stamp(self, h: Holder, state: str) -> Holder:
        return Holder(
            h.token, h.host, h.pid, h.command, h.taken_at, _ms(time.time() + self.expiry), state
        )

    def _write(self, h: Holder) -> None:
        self._collection().upsert(
            ids=[LEASE_PREFIX + h.token], embeddings=[[1.0]], metadatas=[h.metadata()]
        )

    def _delete(self, h: Holder) -> None:
        self._collection().delete(ids=[LEASE_PREFIX + h.token])

    def _live(self) -> list[Holder]:
        got = self._collection().get(where={"lease": 1}, include=["metadatas"])
        now = time.time()
        live: list[tuple[str, Holder]] = []
        dead: list[tuple[str, Holder]] = []
        with _own_lock:
            own = set(_own_tokens)
        for rid, meta in zip(got["ids"], got["metadatas"], strict=True):
            h = Holder.from_metadata(meta or {})
            leftover = h.host == self.host and h.pid == self.pid and h.token not in own
            (live if h.expires_at > now and not leftover else dead).append((rid, h))
        if dead:
            for _, h in dead:
                log.warning(
                    "the ingest lease of %s expired without release (crashed writer?)",
                    h.describe(),
                )
            with contextlib.suppress(Exception):
                self._collection().delete(ids=[rid for rid, _ in dead])
        return sorted((h for _, h in live), key=lambda h: (h.taken_at, h.token))

    # ----- renewal -----------------------------------------------------------------------------
    def _start_renewer(self) -> None:
        self._renewer = threading.Thread(target=self._renew_loop, name="lease-renewer", daemon=True)
        self._renewer.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.renew_every):
            with self._lock:
                me = self._me
                if me is None or self._lost is not None:
                    return
                try:
                    self._renew(me)
                except Exception as exc:  # noqa: BLE001 - store hiccup: retry next round
                    if time.time() >= me.expires_at:
                        self._lost = f"it expired while the store could not be reached ({exc})"
                        log.error("ingest lease lost: %s", self._lost)
                        return
                    log.warning("could not renew the ingest lease (will retry): %s", exc)

    def _renew(self, me: Holder) -> None:
        got = self._collection().get(ids=[LEASE_PREFIX + me.token], include=["metadatas"])
        if not got["ids"]:
            self._lost = "its record was removed (it expired and another writer took over?)"
        else:
            # Two held records can only meet if this holder stalled past its expiry, another
            # writer took over and a late renewal of ours wrote our record back: the newer
            # holder keeps the lease, and both sides reach that verdict.
            key = (me.taken_at, me.token)
            rival = next(
                (
                    h
                    for h in self._live()
                    if h.token != me.token and h.state == "held" and (h.taken_at, h.token) > key
                ),
                None,
            )
            if rival is not None:
                self._lost = f"another writer holds it ({rival.describe()})"
        if self._lost is not None:
            log.error("ingest lease lost: %s", self._lost)
            log.debug("lease %s lost; live records: %s", me, self._live())
            return
        self._me = self._stamp(me, "held")
        self._write(self._me)


def store_lease(store: Any, *, expiry: float, command: str | None = None) -> Lease:
    """The lease of a `rag.store.Store` (following its manifest across a rebuild)."""
    return Lease(lambda: store.manifest, expiry=expiry, command=command)
