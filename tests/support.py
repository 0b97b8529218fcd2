"""Helpers shared by test modules (kept out of conftest.py so fixture modules can import them)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request

import pytest


def free_port() -> int:
    """A local port that was free a moment ago (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require(condition: bool, what: str) -> None:
    """Skip a test whose external part is missing on a developer's machine; in CI (`CI` set),
    where `.ci/run` installs everything, a missing part is a failure, never a silent skip."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI must install it)")
    pytest.skip(what)


def wait_for_http(url: str, proc: subprocess.Popen, seconds: float, log_tail) -> None:  # noqa: ANN001
    """Poll `url` until it answers 200; fail with the server's log if it exits or times out."""
    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{url}: the server exited with {proc.returncode}:\n{log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{url}: the server did not start in {seconds:.0f}s:\n{log_tail()}")
        time.sleep(0.5)


def stop_process(proc: subprocess.Popen, seconds: float = 30) -> None:
    proc.terminate()
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
