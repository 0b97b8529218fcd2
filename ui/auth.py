"""Login credentials for Gradio from `settings.auth`.

`NEWSRAG_AUTH` is either `user:password` or the path of a file with one `user:password` per
line, so a password need not sit in the environment. The check uses a constant-time compare.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from pathlib import Path


def load_credentials(spec: str | None) -> dict[str, str]:
    """Users and passwords from the spec; empty when login is off. Raises ValueError if bad."""
    if not spec or not spec.strip():
        return {}
    spec = spec.strip()
    path = Path(spec).expanduser()
    if path.is_file():
        lines = path.read_text(encoding="utf-8").splitlines()
        origin = str(path)
    elif ":" in spec:
        lines = [spec]
        origin = "NEWSRAG_AUTH"
    else:
        raise ValueError(
            "NEWSRAG_AUTH must be 'user:password' or the path of an existing file of such lines"
        )
    creds: dict[str, str] = {}
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user.strip() or not password:
            raise ValueError(f"{origin}, line {number}: expected 'user:password'")
        creds[user.strip()] = password
    if not creds:
        raise ValueError(f"{origin} holds no 'user:password' line")
    return creds


def auth_checker(creds: dict[str, str]) -> Callable[[str, str], bool]:
    """A Gradio `auth` callable over the credentials."""

    def check(username: str, password: str) -> bool:
        expected = creds.get(username)
        if expected is None:
            # Compare anyway so an unknown user takes as long as a wrong password.
            hmac.compare_digest(password.encode(), password.encode())
            return False
        return hmac.compare_digest(expected.encode(), password.encode())

    return check
