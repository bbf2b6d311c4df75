"""Every reply the Slack app sends for a fixed set of interactions, as JSON Lines on stdout.

Drives the real app (HTTP mode) through the stand-in for Slack: slash commands, DMs and
mentions of a question list, a click on every button of every reply, the Home tab and the
pages and sections it opens. Run it before and after a change that should not change what
people get (moving code), and compare the two outputs byte for byte:

    python bench/replies.py > before.jsonl   # on the old tree
    python bench/replies.py > after.jsonl    # on the new one
    cmp before.jsonl after.jsonl

Values that differ from run to run (timestamps, trigger ids, ports) are left out.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from bot.content import load_library  # noqa: E402
from bot.demo.standin import FakeSlack  # noqa: E402
from bot.live import LiveDocs  # noqa: E402
from bot.slack.server import create_server  # noqa: E402
from tests.slack_standin import running  # noqa: E402

SECRET = "replies-secret"
HUB = next(
    (p for p in (ROOT.parent / "shared/corpus/knowledgehub/docs",
                 Path("/work/shared/corpus/knowledgehub/docs")) if p.is_dir()),
    None,
)  # fmt: skip
QUESTIONS = [
    "what does the DevOps coach do?", "devops", "tools", "who makes sure the servers stay up",
    "wifi password please", "hi", "thanks a lot", "ok", ":+1:", "help", "topics",
    "git flow", "hotfix", "release planning", "what is a sandbox", "conclusion",
]  # fmt: skip
_VARYING = re.compile(r'"(ts|thread_ts|message_ts|trigger_id|view_id|id|response_url)": "[^"]*"')
#: A message's timestamp inside another value (the key in a reply's metadata, msg:D1:<ts>).
_TIMESTAMP = re.compile(r"\b\d{10}\.\d{6}\b")


def settle(fake: FakeSlack, quiet: float = 0.3, limit: float = 10) -> None:
    """Wait until the stand-in has had no call for ``quiet`` seconds."""
    deadline = time.monotonic() + limit
    seen = -1
    while time.monotonic() < deadline:
        count = len(fake.calls)
        if count == seen:
            return
        seen = count
        time.sleep(quiet)


def buttons(blocks: list | None) -> list[dict]:
    """Every button in blocks: in actions blocks and as section accessories."""
    out = []
    for b in blocks or []:
        if b.get("type") == "actions":
            out += [e for e in b.get("elements", []) if e.get("type") == "button"]
        elif b.get("accessory", {}).get("type") == "button":
            out.append(b["accessory"])
    return out


def drive(folder: Path | None) -> list[str]:
    """The stand-in's calls for one docs folder (None: the shipped docs), normalised."""
    fake = FakeSlack()
    env = {"SLACK_BOT_TOKEN": "xoxb-replies", "SLACK_SIGNING_SECRET": SECRET,
           "SLACK_API_URL": fake.api_url, "HOST": "127.0.0.1", "PORT": "0"}  # fmt: skip
    if folder is not None:
        env["CONTENT_DIR"] = str(folder)
    settings = Settings.from_env(env)
    library = load_library(settings.content.content_dir)
    server, _ = create_server(settings, LiveDocs.load(settings.content, library))
    with running(server) as port:
        fake.connect(f"http://127.0.0.1:{port}", SECRET)
        for question in QUESTIONS:
            for surface, text in (("general", f"/devops-role {question}"), ("dm", question),
                                  ("general", f"@devops-role-bot {question}")):  # fmt: skip
                before = len(fake.messages)
                fake.send(surface, text)
                settle(fake)
                for message in list(fake.messages[before:]):
                    if message.get("user") != "UBOT":
                        continue
                    for button in buttons(message.get("blocks"))[:6]:
                        if message in fake.messages:
                            fake.click({"ts": message["ts"], **button})
                            settle(fake)
        fake.page_action("/demo/home", {})
        settle(fake)
        for button in buttons((fake.home or {}).get("blocks"))[:8]:
            fake.click({"home": True, **button})
            settle(fake)
            for inner in buttons((fake.modal or {}).get("blocks"))[:3]:
                fake.click({"modal": True, **inner})
                settle(fake)
            fake.modals.clear()
    fake.close()
    lines = []
    for call in fake.calls:
        text = json.dumps({"method": call.method, "params": call.params}, sort_keys=True,
                          ensure_ascii=False)  # fmt: skip
        lines.append(_TIMESTAMP.sub("*", _VARYING.sub(r'"\1": "*"', text)))
    return lines


def main() -> int:
    """Print every call for the shipped docs and (when present) the knowledge hub."""
    for folder in (None, HUB) if HUB is not None else (None,):
        for line in drive(folder):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
