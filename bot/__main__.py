"""CLI: parse arguments, set up logging, run a command and map errors to exit codes."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from bot.config import (
    SERVE_VARIABLES,
    ConfigError,
    ContentSettings,
    HistorySettings,
    Settings,
)
from bot.content import ContentError, Library, load_library, phrasing_place
from bot.docs_cache import DocsCache, Kept
from bot.engine.decision import CalibrationError, shipped_calibration
from bot.engine.search import Answer, leaning_phrasings
from bot.live import LiveDocs, Snapshot, open_semantic
from bot.observe import setup_logging
from bot.render import answer_json, answer_text, small_talk_text, topics_text
from bot.report import build_report, parse_since, render_report
from bot.smalltalk import small_talk
from bot.store import Record, Store, StoreError, open_store

EXIT_OK = 0
EXIT_USAGE = 2

log = logging.getLogger("bot")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    parser = argparse.ArgumentParser(
        prog="devops-role-bot",
        description="Answer newcomers' questions from a team's role documentation.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--content", type=Path, help="docs folder to read (default: CONTENT_DIR or content/)"
    )
    common.add_argument(
        "--include-drafts",
        action="store_true",
        default=None,
        help="also read documents marked draft: true (or INCLUDE_DRAFTS=true)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    ask = sub.add_parser("ask", parents=[common], help="answer one question (or many with -)")
    ask.add_argument(
        "question", nargs="+", help='the question (quotes optional), or "-" to read one a line'
    )
    ask.add_argument("--json", action="store_true", help="print JSON (JSON Lines with -)")
    ask.add_argument(
        "--record", action="store_true", help="record the questions in the history (DATA_DIR)"
    )
    sub.add_parser("topics", parents=[common], help="list the sections as an outline")
    sub.add_parser("check", parents=[common], help="validate a content folder")
    variables = "\n".join(f"  {name:<22} {meaning}" for name, meaning in SERVE_VARIABLES)
    sub.add_parser(
        "serve",
        parents=[common],
        help="run the Slack bot (settings from env)",
        description="Run the Slack bot in Socket Mode (SLACK_APP_TOKEN set) or HTTP mode.",
        epilog=f"environment variables, read once at start:\n{variables}\n\n"
        "To try the bot without Slack or tokens: devops-role-bot demo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report = sub.add_parser("report", help="what was asked, unanswered and voted unhelpful")
    report.add_argument(
        "--since", default="30d", help="how far back: 2w, 30d, 12h, 90m (default 30d)"
    )
    report.add_argument("--format", choices=["text", "json", "csv"], default="text")
    demo = sub.add_parser(
        "demo", parents=[common], help="try the bot on a local page that plays Slack"
    )
    demo.add_argument(
        "--port", type=int, default=8765, help="page port on 127.0.0.1 (default: %(default)s)"
    )
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the CLI and return its exit code."""
    environ = os.environ if environ is None else environ
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage message
        return int(exc.code or 0)
    try:
        if args.command == "serve":
            settings = Settings.from_env(environ)
            settings = replace(settings, content=_override(settings.content, args))
            if environ is os.environ:
                # Read once: libraries (Bolt reads SLACK_BOT_TOKEN itself) and child
                # processes must not find the secrets in the environment afterwards.
                for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
                    os.environ.pop(name, None)
            setup_logging(settings.log_level, settings.log_format)
            # Slack only loads for the Slack shell.
            from bot.slack.server import serve, stop_on_sigterm

            shipped_calibration()  # a broken install fails here, not at the first question
            cache = DocsCache(settings.history.data_dir, settings.content)
            # SIGTERM stops the bot as Ctrl-C does from here on, while it reads the docs too
            # (seconds on a large folder): as a container's first process it would be ignored.
            stop_on_sigterm()
            log.info("reading the docs in %s", settings.content.content_dir)
            try:
                # Not named here: this frame lives as long as the bot, and must not keep the
                # docs a reload replaces (nor those the cache held) alive.
                return serve(settings, *load_kept(settings.content, cache, stderr), cache)
            except StoreError as err:
                raise ConfigError(str(err)) from err
            except KeyboardInterrupt:  # SIGTERM or Ctrl-C before the bot was serving
                log.info("stopped before serving")
                return 0
        if args.command == "report":
            return run_report(HistorySettings.from_env(environ), args.since, args.format, stdout)
        content = _override(ContentSettings.from_env(environ), args)
        data_dir = HistorySettings.from_env(environ).data_dir
        if args.command == "check":
            return run_check(content, stdout, data_dir, stderr)
        if args.command == "ask":
            return _ask(args, environ, content, data_dir, stdin, stdout, stderr)
        library = load_or_fail(content, stderr)
        if args.command == "demo":
            from bot.demo.server import run_demo  # the demo needs the Slack shell too

            logging.basicConfig(level="WARNING")
            semantic = open_semantic(content, data_dir, ONE_SHOT_THREADS, warner(stderr))
            return run_demo(
                content, library, port=args.port, out=stdout, semantic=semantic,
                progress=ProgressBar(stderr),
            )  # fmt: skip
        print(topics_text(library), file=stdout)  # topics
        return EXIT_OK
    except (ConfigError, ContentError, UsageError, StoreError, CalibrationError) as err:
        print(f"devops-role-bot: error: {err}", file=stderr)
        return EXIT_USAGE


def _ask(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    content: ContentSettings,
    data_dir: Path,
    stdin: TextIO,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """`ask`: answer as the warm bot does, on the docs kept in DATA_DIR as `serve` keeps
    them (parsing only the files changed since). It records only when asked to: a
    benchmark or a script must not fill the owners' report."""
    shipped_calibration()
    cache = DocsCache(data_dir, content, warner(stderr))
    store = open_history(HistorySettings.from_env(environ), stderr) if args.record else None
    live = warm_docs(content, *load_kept(content, cache, stderr), data_dir, stderr, cache)
    code = run_ask(
        live.current, " ".join(args.question), as_json=args.json, stdin=stdin,
        stdout=stdout, stderr=stderr, store=store,
    )  # fmt: skip
    live.kept()  # the docs cache's write, begun after the build, finishes before exit
    return code


class UsageError(Exception):
    """A command was given arguments it cannot use."""


#: Threads the sentence model uses in one-shot commands (``serve`` uses one: the other core
#: is the Slack listener's).
ONE_SHOT_THREADS = 2


class ProgressBar:
    """Embedding progress on stderr, once it has taken more than ``after`` seconds: a bar
    redrawn in place on a terminal, a line per tenth otherwise."""

    def __init__(self, out: TextIO, after: float = 1.0, width: int = 30) -> None:
        self.out, self.after, self.width = out, after, width
        self.start = time.monotonic()
        self.shown = -1  # the last tenth printed (not on a terminal)

    def __call__(self, done: int, total: int) -> None:
        if not total or (time.monotonic() - self.start < self.after and done < total):
            return
        if self.shown < 0 and done == total:
            return  # done before it was worth showing
        tty = getattr(self.out, "isatty", lambda: False)()
        tenth = 10 * done // total
        if tty:
            filled = self.width * done // total
            bar = "#" * filled + "." * (self.width - filled)
            end = "\n" if done == total else ""
            self.out.write(f"\rembedding the docs [{bar}] {done}/{total}{end}")
        elif tenth > self.shown:
            self.out.write(f"embedding the docs: {done}/{total} ({100 * done // total}%)\n")
        self.shown = max(self.shown, tenth)
        self.out.flush()


def warner(stderr: TextIO | None) -> Callable[[str], None]:
    """Print a warning the way the CLI does."""
    return lambda message: print(f"devops-role-bot: warning: {message}", file=stderr or sys.stderr)


def warm_docs(
    content: ContentSettings,
    library: Library,
    kept: Kept | None,
    data_dir: Path,
    stderr: TextIO,
    cache: DocsCache | None = None,
) -> LiveDocs:
    """The docs as the warm bot answers them: with their vectors when a sentence model is
    on (embedded now, with a progress bar past a second). ``kept`` and ``cache``: the docs
    cache, as `serve` uses it (the index taken from it when no file changed, and written to
    it in the background when one did)."""
    semantic = open_semantic(content, data_dir, ONE_SHOT_THREADS, warner(stderr))
    return LiveDocs.load(
        content, library, semantic, wait=True, progress=ProgressBar(stderr), kept=kept,
        cache=cache,
    )  # fmt: skip


def _override(content: ContentSettings, args: argparse.Namespace) -> ContentSettings:
    if args.content is not None:
        content = replace(content, content_dir=args.content)
    if args.include_drafts:
        content = replace(content, include_drafts=True)
    return content


def load_or_fail(
    content: ContentSettings, stderr: TextIO, previous: Library | None = None
) -> Library:
    """Load the library (parsing again only the files changed since ``previous``, the docs
    cache's), warn about skipped files, and fail when nothing is usable."""
    library = load_library(
        content.content_dir,
        include_drafts=content.include_drafts,
        base_url=content.docs_base_url,
        name=content.docs_name,
        previous=previous,
    )
    for problem in library.problems:
        print(f"devops-role-bot: warning: {problem}", file=stderr)
    if not library.sections:
        raise ContentError(
            f"{content.content_dir}: no usable sections in any *.md, *.mdx or *.markdown file"
        )
    return library


def load_kept(
    content: ContentSettings, cache: DocsCache, stderr: TextIO
) -> tuple[Library, Kept | None]:
    """The docs as `serve` starts on them: what the docs cache kept, and the library read with
    it (parsing only the files changed since)."""
    kept = cache.read()
    return load_or_fail(content, stderr, kept.library if kept else None), kept


def run_check(
    content: ContentSettings,
    stdout: TextIO,
    data_dir: Path | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Validate every document (drafts included) and list each problem as file:line: problem;
    then, with a sentence model on, embed the sections (filling the cache `serve` starts
    from) and say so."""
    library = load_library(content.content_dir, include_drafts=True)
    for problem in library.problems:
        tag = "warning: " if problem.warning else ""
        print(f"{problem.path}:{problem.line}: {tag}{problem.message}", file=stdout)
    problems = [p for p in library.problems if not p.warning]
    warned = len(library.problems) - len(problems)
    hints = leaning_phrasings(library)
    for h in hints:
        path, line = phrasing_place(content.content_dir, h.section, h.phrasing)
        print(
            f"{path}:{line}: hint: the phrasing {h.phrasing!r} of {h.section.name!r} says"
            f" {', '.join(map(repr, h.words))}, a word of the heading {h.other.name!r}:"
            f" questions with it will lean to {h.section.name!r}",
            file=stdout,
        )
    n_docs, n_sections = len(library.documents), len(library.sections)
    if problems:
        print(f"{len(problems)} problem(s) in {content.content_dir}", file=stdout)
        return EXIT_USAGE
    if n_sections == 0:
        print(f"{content.content_dir}: no documents with sections", file=stdout)
        return EXIT_USAGE
    semantic = open_semantic(content, data_dir, ONE_SHOT_THREADS, warner(stderr))
    if semantic is not None:
        try:
            vectors = semantic.vectors(library, ProgressBar(stderr or sys.stderr))
        except Exception as err:  # onnxruntime's and tokenizers' own errors
            warner(stderr)(f"semantic search off: the model failed on the docs: {err}")
        else:
            print(
                f"semantic search: {n_sections} section(s) embedded as"
                f" {vectors.matrix.shape[0]} vector(s) with {semantic.model.name};"
                f" cache {semantic.cache.path}",
                file=stdout,
            )
    notes = [f"{warned} warning(s)"] * bool(warned) + [f"{len(hints)} hint(s)"] * bool(hints)
    noted = f" ({', '.join(notes)})" if notes else ""
    print(
        f"ok: {n_docs} document(s), {n_sections} section(s) in {content.content_dir}{noted}",
        file=stdout,
    )
    return EXIT_OK


def open_history(history: HistorySettings, stderr: TextIO) -> Store | None:
    """The question history for `ask`; without it the CLI still answers, with a warning."""
    try:
        return open_store(history.database_url, history.data_dir)
    except StoreError as err:
        print(f"devops-role-bot: warning: questions are not recorded: {err}", file=stderr)
        return None


def run_report(history: HistorySettings, since: str, fmt: str, stdout: TextIO) -> int:
    """Print the doc owners' report for the last ``since``."""
    try:
        seconds = parse_since(since)
    except ValueError as err:
        raise UsageError(str(err)) from err
    store = open_store(history.database_url, history.data_dir)
    report = build_report(store.history(time.time() - seconds), since_seconds=seconds)
    report["database"] = store.name  # which history this is: a fresh clone has its own
    print(render_report(report, fmt), file=stdout)
    return EXIT_OK


class _History:
    """Where `ask` records its questions. A write that fails (a full disk, a broken database)
    is reported once and recording stops: the answer matters more than its record."""

    def __init__(self, store: Store | None, stderr: TextIO) -> None:
        self.store, self.stderr = store, stderr

    def answer(self, docs: Snapshot, question: str) -> Answer:
        """Answer a question and record it, if there is still a store to record it in."""
        t0 = time.perf_counter()
        answer = docs.answer(question)
        if self.store is not None:
            latency_ms = (time.perf_counter() - t0) * 1000
            try:
                self.store.record(
                    Record.of(answer, entry="cli", latency_ms=latency_ms, user_hash=None)
                )
            except Exception as err:  # sqlite3 and psycopg errors alike
                print(
                    f"devops-role-bot: warning: questions are no longer recorded:"
                    f" {self.store.name}: {type(err).__name__}: {err}",
                    file=self.stderr,
                )
                self.store = None
        return answer


def run_ask(
    docs: Snapshot,
    question: str,
    *,
    as_json: bool,
    stdin: TextIO,
    stdout: TextIO,
    stderr: TextIO,
    store: Store | None = None,
) -> int:
    """Answer one question, or every line of stdin with "-" (JSON Lines when --json)."""
    history = _History(store, stderr)
    if question == "-":
        for line in stdin:
            line = line.strip()
            if not line:
                continue
            reply = _reply(history, docs, line, as_json=as_json)
            if as_json:
                stdout.write(json.dumps(reply, ensure_ascii=False) + "\n")
            else:
                stdout.write(reply + "\n\n")
            stdout.flush()
        return EXIT_OK
    if not question.strip():
        raise UsageError('the question is empty: ask "what does the DevOps coach do?"')
    if as_json:
        reply = _reply(history, docs, question, as_json=True)
        print(json.dumps(reply, ensure_ascii=False, indent=2), file=stdout)
    else:
        print(_reply(history, docs, question), file=stdout)
    return EXIT_OK


def _reply(history: _History, docs: Snapshot, question: str, *, as_json: bool = False) -> Any:
    """What `ask` prints for one line: the answer, or (by the same rule as in Slack) the one
    line for a greeting, thanks or an acknowledgement."""
    kind = small_talk(question)
    if kind in ("greeting", "thanks", "ack"):
        line = small_talk_text(kind, docs.library, slack=False)
        if as_json:
            return {"question": question, "answered": False, "decision": kind, "text": line}
        return line
    answer = history.answer(docs, question)
    return answer_json(answer) if as_json else answer_text(answer, docs.library)


def version() -> str:
    """The installed package's version (pyproject.toml)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("devops-role-bot")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def entry() -> None:
    """Console-script entry point."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`ask - | head`): not an error, and no traceback. Python's
        # docs: point stdout at devnull so the flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_OK
    sys.exit(code)


if __name__ == "__main__":
    entry()
