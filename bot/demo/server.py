"""`devops-role-bot demo`: the real bot in HTTP mode on an embedded Slack stand-in, on loopback."""

from __future__ import annotations

import secrets
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bot.config import ConfigError, ContentSettings, Settings
from bot.content import Library
from bot.demo.standin import FakeSlack
from bot.engine.decision import shipped_calibration
from bot.live import LiveDocs, Semantic
from bot.render import SHOW_ACTIONS, Shown, display_path, heading_path_text
from bot.slack.reply import question_of
from bot.slack.server import create_server
from bot.store import Store, open_store

DEMO_TOKEN = "xoxb-demo-local-not-a-real-token"


@dataclass
class Demo:
    """A running demo: the page's stand-in and the bot's server."""

    standin: FakeSlack
    live: LiveDocs
    store: Store
    stop: threading.Event

    @property
    def url(self) -> str:
        """The page to open."""
        return self.standin.url + "/"


def thresholds(hybrid: bool = False) -> dict:
    """The calibrated decision's thresholds, in percent, for the side panel."""
    cal = shipped_calibration(hybrid)
    return {"answer_at": round(100 * cal.answer_at), "hedge_at": round(100 * cal.hedge_at)}


def explainer(live: LiveDocs):
    """What the side panel shows for a question: the engine's decision and alternatives."""

    def explain(question: str) -> dict:
        docs = live.current
        answer = docs.answer(question_of(question))
        best = answer.best.section if answer.best else None
        return {
            "question": question_of(question),
            "decision": answer.decision,
            "score": answer.score,
            "relevance": answer.best.score if answer.best else None,
            "heading_path": list(display_path(best)) if best else [],
            "alternatives": [
                {"section": heading_path_text(m.section), "relevance": m.score}
                for m in answer.alternatives
            ],
            **thresholds(docs.dense is not None),
        }

    return explain


def click_explainer(live: LiveDocs):
    """What the side panel shows after a click on a section button: the section picked."""

    def explain(action_id: str, value: str) -> dict | None:
        if not SHOW_ACTIONS.match(action_id):
            return None
        shown = Shown.of(value)
        section = live.current.index.section(shown.section_id)
        if section is None:
            return None
        return {
            "question": shown.question or "(a topic button)",
            "decision": "picked",
            "score": None,  # the calibrated probability is the best section's only
            "relevance": shown.score,
            "heading_path": list(display_path(section)),
            "alternatives": [],
            **thresholds(live.current.dense is not None),
        }

    return explain


def start_demo(
    content: ContentSettings,
    library: Library,
    *,
    port: int = 0,
    semantic: Semantic | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Demo:
    """Start the stand-in (page on 127.0.0.1:port) and the bot, wired to each other (with a
    sentence model: the docs embedded first)."""
    try:
        standin = FakeSlack(host="127.0.0.1", port=port)
    except (OSError, OverflowError) as err:  # the port taken by another program, say
        why = getattr(err, "strerror", None) or err  # (OverflowError: past 65535)
        raise ConfigError(
            f"--port {port}: cannot listen on 127.0.0.1:{port}: {why}"
            " (choose another port with --port; 0 takes any free one)"
        ) from err
    secret = secrets.token_hex(16)
    settings = Settings.from_env(
        {
            "SLACK_BOT_TOKEN": DEMO_TOKEN,
            "SLACK_SIGNING_SECRET": secret,
            "SLACK_API_URL": standin.api_url,
            "HOST": "127.0.0.1",
            "PORT": "0",
        }
    )
    live = LiveDocs.load(content, library, semantic, wait=True, progress=progress)
    # The demo's votes and questions go to a throwaway history, not the real one.
    history = tempfile.mkdtemp(prefix="devops-role-bot-demo-")
    store = open_store(None, Path(history))
    server, _ = create_server(settings, live, store)
    stop = threading.Event()

    def run() -> None:
        try:
            server.run()
        except OSError:  # closed under select() when stopping
            if not stop.is_set():
                raise

    threading.Thread(target=run, name="bot-http", daemon=True).start()
    standin.connect(f"http://127.0.0.1:{server.effective_port}", secret)
    standin.explain = explainer(live)
    standin.explain_click = click_explainer(live)

    def close() -> None:
        stop.set()
        server.close()
        standin.close()
        live.stop()
        store.close()
        shutil.rmtree(history, ignore_errors=True)

    stop_event = threading.Event()
    threading.Thread(target=lambda: (stop_event.wait(), close()), daemon=True).start()
    return Demo(standin, live, store, stop_event)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_demo(
    content: ContentSettings,
    library: Library,
    *,
    port: int,
    out: TextIO,
    semantic: Semantic | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Run the demo until Ctrl-C (with a sentence model: once the docs are embedded)."""
    # Ctrl-C and kill stop it cleanly even where SIGINT came in ignored (a shell's background
    # job): the demo is a foreground tool.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    demo = start_demo(content, library, port=port, semantic=semantic, progress=progress)
    demo.live.watch()
    print(f"devops-role-bot demo: open {demo.url}  (Ctrl-C to stop)", file=out, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("devops-role-bot demo: stopped", file=out)
    finally:
        demo.stop.set()
    return 0
