"""Helpers shared by test modules (kept out of conftest.py so fixture modules can import them)."""

from __future__ import annotations

import os

import pytest


def require(condition: bool, what: str) -> None:
    """Skip a test whose external part is missing on a developer's machine; in CI (`CI` set),
    where `.ci/run` installs everything, a missing part is a failure, never a silent skip."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI must install it)")
    pytest.skip(what)
