"""`newsrag` command line over `ingest`, `rag` and `evaluation`, with trustworthy exit codes.

Exit codes: 0 success (including an abstained answer); 1 some files failed to ingest (the rest
was ingested); 2 usage or configuration error (no store yet, mismatched store, bad date);
3 the store is unavailable (Chroma server down); 4 another writer holds the store's ingest
lease (see --wait), or took it over from this one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from pathlib import Path

from ui import feeds_cli

EXIT_OK, EXIT_FAILED_FILES, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_BUSY = 0, 1, 2, 3, 4


def say(text: str) -> None:
    """The command's output (what scripts parse), as opposed to logging."""
    sys.stdout.write(text + "\n")


def complain(text: str) -> None:
    sys.stderr.write(f"newsrag: {text}\n")


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _top_k(value: str) -> int:
    try:
        k = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if not 1 <= k <= 50:
        raise argparse.ArgumentTypeError(f"must be between 1 and 50 passages, not {k}")
    return k


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("newsrag")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="newsrag", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    p.add_argument("--version", action="version", version=f"newsrag {_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    ing = sub.add_parser("ingest", help="make the store match the corpus folder, or part of it")
    ing.add_argument(
        "path",
        nargs="?",
        type=Path,
        help="a folder or file inside the corpus folder (default: all of NEWSRAG_CORPUS_DIR); "
        "only articles from files under it are added, updated or removed",
    )
    ing.add_argument(
        "--replace",
        action="store_true",
        help="make the store mirror PATH: remove every article not found under it (also "
        "allows a PATH outside the corpus folder)",
    )
    ing.add_argument(
        "--dry-run", action="store_true", help="report what would change, change nothing"
    )
    ing.add_argument("--rebuild", action="store_true", help="drop the store and ingest everything")
    ing.add_argument("--json", action="store_true", help="print the summary as JSON")
    ing.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        help="if another writer holds the store, wait up to SECONDS for it (default "
        "NEWSRAG_LEASE_WAIT, 0), then give up with exit code 4",
    )

    ask = sub.add_parser("ask", help="answer a question from the store")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print the Answer as JSON")
    ask.add_argument("--source", action="append", help="only this source (repeatable)")
    ask.add_argument("--since", type=_date, help="published on or after YYYY-MM-DD")
    ask.add_argument("--until", type=_date, help="published on or before YYYY-MM-DD")
    ask.add_argument(
        "--as-of",
        metavar="DATE",
        help="answer as of YYYY-MM-DD: nothing published later is visible (default today)",
    )
    ask.add_argument(
        "-k", "--top-k", type=_top_k, metavar="N", help="number of passages to use (1-50)"
    )

    serve = sub.add_parser("serve", help="serve the web chat")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--share",
        type=lambda v: v.lower() in ("1", "true", "yes"),
        default=False,
        help="create a public Gradio share link (default false)",
    )
    serve.add_argument(
        "--allow-private-hosts",
        action="store_true",
        help="let Refresh feeds (and --refresh) fetch loopback/private addresses",
    )
    serve.add_argument(
        "--refresh", metavar="EVERY", help="refresh the feeds in the background, e.g. 15m"
    )
    feeds_cli.add_parsers(sub)

    ev = sub.add_parser("eval", help="measure retrieval and answers")
    ev.add_argument(
        "dataset", help="'squad', 'squad2', 'realtimeqa' or a JSONL file of {question, answers}"
    )
    ev.add_argument("--repo", type=Path, help="RealTimeQA clone (for 'realtimeqa')")
    ev.add_argument("--from", dest="date_from", type=_date, help="first week (YYYY-MM-DD)")
    ev.add_argument("--to", dest="date_to", type=_date, help="last week (YYYY-MM-DD)")
    ev.add_argument(
        "--data",
        type=Path,
        help="SQuAD folder (default ../shared/data/squad-dev; squad2: ../shared/data/squad2-dev)",
    )
    ev.add_argument(
        "--limit",
        type=int,
        help="ask only the first N questions (squad2: N per half of the titles, spread evenly)",
    )
    ev.add_argument("--json", action="store_true", help="print the metrics as JSON")
    ev.add_argument("--store-dir", type=Path, help="store for the SQuAD passages")
    ev.add_argument("--llm", help="also evaluate this LLM backend (see NEWSRAG_LLM)")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    since, until = getattr(args, "since", None), getattr(args, "until", None)
    if since and until and since > until:  # argparse's usage error: message and exit code 2
        parser.error(f"--since {since} is after --until {until}: no date is in that window")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from pydantic import ValidationError

    from rag.embedding import EmbeddingError
    from rag.settings import Settings
    from rag.store import StoreError, StoreUnavailableError
    from rag.store.lease import LeaseHeldError, LeaseLostError

    try:
        settings = Settings()
        handler = {
            "ingest": _ingest,
            "ask": _ask,
            "serve": _serve,
            "eval": _eval,
            "feeds": feeds_cli.run_feeds,
            "fetch": feeds_cli.run_fetch,
        }[args.command]
        return handler(args, settings)
    except StoreUnavailableError as exc:
        complain(f"{exc}")
        return EXIT_UNAVAILABLE
    except (LeaseHeldError, LeaseLostError) as exc:
        complain(f"{exc}")
        return EXIT_BUSY
    except ValidationError as exc:
        problems = "; ".join(
            f"NEWSRAG_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        complain(f"bad setting: {problems}")
        return EXIT_USAGE
    except (StoreError, EmbeddingError, ValueError) as exc:
        complain(f"{exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        complain("interrupted")
        return 130


def _ingest(args: argparse.Namespace, settings) -> int:  # noqa: ANN001
    if not args.verbose:
        logging.getLogger("ingest").setLevel(logging.WARNING if args.json else logging.INFO)
    from ingest import ingest_corpus

    if args.wait is not None and args.wait < 0:
        raise ValueError("--wait takes a number of seconds >= 0")
    summary = ingest_corpus(
        settings,
        args.path,
        dry_run=args.dry_run,
        rebuild=args.rebuild,
        wait=args.wait,
        replace=args.replace,
    )
    if args.json:
        say(summary.model_dump_json())
    else:
        prefix = "would be: " if summary.dry_run else ""
        say(prefix + summary.line())
        for f in summary.failures:
            say(f"  failed {f.path}: {f.reason}")
        for s in summary.skipped:
            say(f"  skipped {s}: not a file type newsrag reads")
    return EXIT_FAILED_FILES if summary.failed else EXIT_OK


def _ask(args: argparse.Namespace, settings) -> int:  # noqa: ANN001
    from rag import query
    from rag.records import Filters, Query
    from rag.store import StoreError, embedded_store_missing

    filters = Filters(sources=args.source, since=args.since, until=args.until)
    # bad input (an empty question, a bad date): ValueError → one line, exit 2
    asked = Query.of(args.question, filters=filters, top_k=args.top_k, as_of=args.as_of)
    if embedded_store_missing(settings):
        raise StoreError(f"no store at {settings.store_dir} yet: run `newsrag ingest` first")
    answer = query(asked, settings=settings)
    if args.json:
        say(answer.model_dump_json(indent=2))
        return EXIT_OK
    from ui.render import short_answer

    short = short_answer(answer)
    if short is not None:
        text, number = short
        say(f"Answer: {text}" + (f" [{number}]" if number is not None else ""))
    say(answer.text)
    if args.as_of:
        say(f"(answered as of {answer.asked_as_of})")
    if answer.notice:
        say(f"({answer.notice})")
    if answer.citations:
        say("\nClosest passages:" if answer.abstained else "\nSources:")
    for c in answer.citations:
        meta = ", ".join(x for x in (c.source, c.published, c.url) if x)
        say(f"[{c.number}] {c.title}" + (f" ({meta})" if meta else ""))
        say(f'    "{" ".join(c.quote.split())}"')
    return EXIT_OK


def _serve(args: argparse.Namespace, settings) -> int:  # noqa: ANN001
    from ui.app import launch

    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    if args.allow_private_hosts:
        settings.allow_private_hosts = True
    if args.refresh:
        feeds_cli.start_refresh(settings, args.refresh)
    launch(settings, share=args.share)
    return EXIT_OK


def _eval(args: argparse.Namespace, settings) -> int:  # noqa: ANN001
    if args.dataset == "realtimeqa":
        return _eval_realtimeqa(args, settings)
    if args.dataset == "squad2":
        return _eval_squad2(args, settings)
    from evaluation.squad import run_eval_cli

    return run_eval_cli(args, settings)


def _eval_squad2(args: argparse.Namespace, settings) -> int:  # noqa: ANN001
    import json

    from evaluation.squad2 import format_squad2, run_squad2

    if args.limit is not None and args.limit < 1:
        raise ValueError("--limit takes a number of questions >= 1")
    logging.getLogger("ingest").setLevel(logging.WARNING if args.json else logging.INFO)
    metrics = run_squad2(args.data, args.store_dir, args.limit, settings, progress=not args.json)
    say(json.dumps(metrics) if args.json else format_squad2(metrics))
    return EXIT_OK


def _eval_realtimeqa(args: argparse.Namespace, settings) -> int:  # noqa: ANN001
    import json

    from evaluation.realtimeqa import format_realtimeqa, run_realtimeqa

    if args.repo is None:
        complain("eval realtimeqa needs --repo PATH (a clone of realtimeqa_public)")
        return EXIT_USAGE
    if not (args.repo / "past").is_dir():
        complain(f"{args.repo}: not a RealTimeQA clone (no past/ folder)")
        return EXIT_USAGE
    logging.getLogger("ingest").setLevel(logging.WARNING if args.json else logging.INFO)
    metrics = run_realtimeqa(
        args.repo,
        args.date_from,
        args.date_to,
        args.limit,
        args.store_dir,
        settings,
        progress=not args.json,
    )
    say(json.dumps(metrics) if args.json else format_realtimeqa(metrics))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
