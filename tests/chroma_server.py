"""A real `chroma run` server for tests, and fixtures that run a test against both stores.

- `chroma_server` (session): one server on a free loopback port over a tmp dir, stopped at the
  end of the session. Tests share it; each gets its own collection (see `any_settings`).
- `store_mode` / `any_settings`: parametrize a test over the embedded store and the server
  store. Any test that takes `any_settings` instead of `settings` runs twice; the server variant
  carries the `server` and `slow` marks, so `-m "not server"` keeps only the embedded one.
- `ChromaServer`: start / stop / pause (SIGSTOP) / resume a server, for fault tests that need a
  server of their own.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import free_port, require

from rag.settings import Settings

CHROMA = Path(sys.executable).with_name("chroma")


class ChromaServer:
    """`chroma run --path <path> --host 127.0.0.1 --port <port>` as a child process."""

    def __init__(self, path: Path, port: int | None = None) -> None:
        self.path = Path(path)
        self.port = port or free_port()
        self.log = self.path.with_name(self.path.name + ".log")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ChromaServer:
        if self.proc is not None and self.proc.poll() is None:
            return self
        self.path.mkdir(parents=True, exist_ok=True)
        cmd = [
            str(CHROMA),
            "run",
            "--path",
            str(self.path),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        deadline = time.monotonic() + timeout
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:  # e.g. port still held: retry a few times
                time.sleep(0.5)
                with open(self.log, "ab") as log:
                    self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
                continue
            if self.healthy():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"chroma server did not start on {self.url}; see {self.log}")

    def healthy(self, timeout: float = 1.0) -> bool:
        import httpx

        try:
            return httpx.get(f"{self.url}/api/v2/heartbeat", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL); a paused server is resumed first."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)

    def kill(self) -> None:
        """Stop the server abruptly, as a crash would."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=15)

    def pause(self) -> None:
        """Freeze the server: connections are accepted by the kernel but never answered."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)


def chroma_available() -> bool:
    return CHROMA.exists() or shutil.which("chroma") is not None


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    require(chroma_available(), "the `chroma` command is not installed")
    server = ChromaServer(tmp_path_factory.mktemp("chroma") / "data").start()
    try:
        yield server
    finally:
        server.stop()


def unique_collection() -> str:
    """A collection name no other test (or test process) on a shared server uses."""
    return f"t{os.getpid()}x{uuid.uuid4().hex[:10]}"


def server_settings(settings: Settings, server: ChromaServer, **extra) -> Settings:  # noqa: ANN003
    return settings.model_copy(
        update={"chroma_url": server.url, "collection": unique_collection(), **extra}
    )


@pytest.fixture(
    params=["embedded", pytest.param("server", marks=[pytest.mark.server, pytest.mark.slow])]
)
def store_mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def any_settings(store_mode: str, settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """`settings`, once for the embedded store and once against the session's Chroma server."""
    if store_mode == "embedded":
        return settings
    return server_settings(settings, request.getfixturevalue("chroma_server"))
