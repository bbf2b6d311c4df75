"""CPU cost of one answer, by stage, in one process without HTTP or concurrency.

What the load test's "CPU ms/req" is made of: the search alone, the answer as the Slack app
builds it (search, history record, Block Kit), and a whole signed DM event through Bolt
(signature check, dispatch, listener, chat.postMessage to the Slack stand-in, which runs in
another process so that its work is not counted).

Run from the repository root:  python bench/cost.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slack_bolt.request import BoltRequest  # noqa: E402
from slack_sdk.signature import SignatureVerifier  # noqa: E402

from bot.config import Settings  # noqa: E402
from bot.content import load_library  # noqa: E402
from bot.live import LiveDocs  # noqa: E402
from bot.observe import Metrics  # noqa: E402
from bot.slack.app import Bot, Seen, build_app  # noqa: E402
from bot.slack.reply import reply_for  # noqa: E402
from bot.store import open_store  # noqa: E402

N = 500
QUESTION = "what does the coach do"
STANDIN = (
    "import sys, time; sys.path.insert(0, sys.argv[1]); from tests.slack_standin import FakeSlack;"
    " f = FakeSlack(); print(f.api_url, flush=True); time.sleep(600)"
)


def per_call_ms(run, n: int = N) -> float:
    """CPU milliseconds per call of ``run(i)``, all threads of this process counted."""
    run(-1)  # warm caches
    start = time.process_time()
    for i in range(n):
        run(i)
    return (time.process_time() - start) / n * 1000


def signed_dm(secret: str, i: int) -> BoltRequest:
    body = json.dumps({"type": "event_callback", "event_id": f"Ev{i}", "event": {
        "type": "message", "channel_type": "im", "user": "U1", "text": QUESTION,
        "ts": f"1700000000.{i + 1:06d}", "channel": f"D{i + 1}"}})  # fmt: skip
    ts = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    headers = {"content-type": ["application/json"], "x-slack-request-timestamp": [ts],
               "x-slack-signature": [signature]}  # fmt: skip
    return BoltRequest(body=body, headers=headers)


def main() -> None:
    standin = subprocess.Popen(
        [sys.executable, "-c", STANDIN, str(ROOT)], stdout=subprocess.PIPE, text=True
    )
    try:
        api_url = standin.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as data_dir:
            env = {"SLACK_BOT_TOKEN": "xoxb-cost", "SLACK_SIGNING_SECRET": "cost",
                   "SLACK_API_URL": api_url, "DATA_DIR": data_dir}  # fmt: skip
            settings = Settings.from_env(env)
            live = LiveDocs.load(settings.content, load_library(settings.content.content_dir))
            store = open_store(settings.history.database_url, settings.history.data_dir)
            bot = Bot(settings, live, store, Metrics(), Seen())
            app = build_app(settings, live, store)
            executor = app.listener_runner.listener_executor
            requests = [signed_dm("cost", i) for i in range(N)]

            def dispatch(i: int) -> None:
                app.dispatch(requests[i] if i >= 0 else signed_dm("cost", 10**6))

            index = live.current.index
            rows = [
                ("Index.answer (search)", per_call_ms(lambda i: index.answer(QUESTION))),
                ("reply_for (search, record, Block Kit)", per_call_ms(
                    lambda i: reply_for(QUESTION, bot, entry="dm", user_id="U1", shareable=False))),
            ]  # fmt: skip
            start = time.process_time()
            for i in range(N):
                dispatch(i)
            executor.shutdown(wait=True)  # every listener, and its chat.postMessage, done
            rows.append(
                ("signed DM event through Bolt, answered", (time.process_time() - start) / N * 1000)
            )
    finally:
        standin.kill()
    print(f"CPU per call, {N} calls each, one process, no HTTP server:")
    for name, ms in rows:
        print(f"  {name:<40} {ms:6.2f} ms")


if __name__ == "__main__":
    main()
