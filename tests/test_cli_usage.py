"""The command line's usage contract: one store whatever the working directory, usage errors
exit 2 with a message (not an empty answer), and `newsrag --version`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from newsdata import write_corpus

from rag.settings import Settings
from ui.cli import main

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEWSRAG_")}
    return subprocess.run(
        [sys.executable, "-m", "ui.cli", *args],
        env={**base, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-02-01", "--until", "2026-01-01"], "--since 2026-02-01 is after --until"),
        (["-k", "0"], "must be between 1 and 50 passages, not 0"),
        (["-k", "-3"], "must be between 1 and 50 passages, not -3"),
        (["--top-k", "many"], "not a whole number: 'many'"),
        (["--since", "1 May"], "not a date (YYYY-MM-DD)"),
    ],
)
def test_usage_errors_exit_2_with_a_message(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["ask", "Who won?", *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_version_and_usage_error_from_a_real_process() -> None:
    out = cli("--version")
    assert out.returncode == 0 and out.stdout.startswith("newsrag "), out.stderr
    assert out.stdout.split()[1][0].isdigit() or "unknown" in out.stdout
    out = cli("ask", "Who won?", "-k", "0")
    assert out.returncode == 2 and "-k" in out.stderr and out.stdout == ""


def test_relative_folders_resolve_against_home_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NEWSRAG_HOME", "NEWSRAG_STORE_DIR", "NEWSRAG_CORPUS_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert (s.home, s.store_dir, s.corpus_dir) == (ROOT, ROOT / ".newsrag", ROOT / "corpus")
    monkeypatch.setenv("NEWSRAG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NEWSRAG_STORE_DIR", "stores/main")
    monkeypatch.setenv("NEWSRAG_CORPUS_DIR", str(tmp_path / "articles"))
    s = Settings()
    assert s.store_dir == tmp_path / "home" / "stores" / "main"
    assert s.corpus_dir == tmp_path / "articles"  # absolute paths stay as given


@pytest.mark.slow
def test_ask_from_another_folder_finds_the_store(tmp_path: Path) -> None:
    """Ingest from one folder and ask from another: both use NEWSRAG_HOME's store (before,
    `newsrag ask` elsewhere said "no store at .newsrag yet")."""
    home, here, there = tmp_path / "home", tmp_path / "here", tmp_path / "there"
    for d in (home, here, there):
        d.mkdir()
    write_corpus(home / "corpus")
    ing = cli("ingest", "--json", cwd=here, NEWSRAG_HOME=str(home))
    assert ing.returncode == 0, ing.stderr[-2000:]
    assert json.loads(ing.stdout.strip().splitlines()[-1])["added"] == 5
    assert (home / ".newsrag").is_dir() and not (here / ".newsrag").exists()
    ask = cli(
        "ask", "--json", "How much will the harbour bridge cost?", cwd=there, NEWSRAG_HOME=str(home)
    )
    assert ask.returncode == 0, ask.stderr[-2000:]
    assert json.loads(ask.stdout)["citations"][0]["doc_id"] == "harbour-bridge.md"
    assert not (there / ".newsrag").exists()
