"""Kill test: every question answered exactly once while the bot is killed (-9) and restarted.

Runs `devops-role-bot serve` (HTTP mode) as a child process against the Slack stand-in,
sends it N mentions (each its own event id and message ts) from several threads, resending
every request that did not get a 200 as Slack retries, while another thread kills the bot
with SIGKILL every 0.5-2 s and starts it again. Then it waits for the leases the dead
processes held to run out and be taken over, and counts the answers per message (a mention
is answered in its thread, so thread_ts names the question):

    python bench/kill.py --events 5000                 # SQLite in a temporary DATA_DIR
    python bench/kill.py --events 5000 --postgres      # a throwaway Debian PostgreSQL
    python bench/kill.py --events 5000 --rev ad566e9   # that revision's bot, for a baseline

Prints events sent, kills, messages taken over from a dead process (each read back from the
stand-in before answering), answers, lost (no answer) and duplicated (two or more). Loopback
only; bounded in count and time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from load import free_port, tree_at  # noqa: E402
from slack_sdk.signature import SignatureVerifier  # noqa: E402

from bot.demo.standin import FakeSlack  # noqa: E402

SECRET = "kill-test-secret"
#: Once sending (and killing) ends: a lease (30 s) runs out and a recovery round (every
#: 10 s) comes; then the count waits while answers still come, up to SETTLE_LIMIT.
SETTLE_SECONDS, SETTLE_LIMIT = 50, 300


class Bot:
    """The bot as a child process that can be killed and started again on the same port."""

    def __init__(self, env: dict[str, str], log: Path, tree: Path = ROOT) -> None:
        self.env, self.log, self.port, self.tree = env, log, int(env["PORT"]), tree
        self.proc: subprocess.Popen | None = None
        self.kills = 0

    def start(self) -> None:
        """Start it and wait until /healthz answers 200."""
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=self.tree,
                                         env=self.env, stdout=err, stderr=err)  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit("the bot did not become healthy; see " + str(self.log))

    def kill(self) -> None:
        """SIGKILL it (no clean shutdown) and start it again."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.kills += 1
        self.start()

    def stop(self) -> None:
        """Stop it for good."""
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def send(fake: FakeSlack, port: int, n: int, stop: threading.Event) -> int:
    """Post mention n to the channel and send its event until the bot answers 200, as Slack
    retries; how many tries it took."""
    ts = f"{1_700_000_000 + n}.{n:06d}"
    event = {"type": "app_mention", "user": "U1", "text": "<@UBOT> what does the coach do",
             "ts": ts, "channel": "C1"}  # fmt: skip
    fake.add_message(channel="C1", user="U1", text=event["text"], ts=ts)
    body = json.dumps({"type": "event_callback", "event_id": f"EvKill{n}", "event": event})
    for attempt in range(1, 200):
        if stop.is_set():
            return attempt
        stamp = str(int(time.time()))
        signature = SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=body)
        headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp,
                   "X-Slack-Signature": signature}  # fmt: skip
        if attempt > 1:
            headers["X-Slack-Retry-Num"] = str(attempt - 1)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("POST", "/slack/events", body=body, headers=headers)
            if conn.getresponse().status == 200:
                return attempt
        except OSError:  # refused while the bot restarts, or cut by the kill
            pass
        time.sleep(0.3)
    return 0


def start_postgres() -> tuple[str, list[str]]:
    """A throwaway PostgreSQL (Debian's) on 127.0.0.1; its URL and how to stop it."""
    initdb = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not initdb:
        raise SystemExit("no PostgreSQL: apt-get install postgresql")
    bin_dir, port = initdb[-1].parent, free_port()
    data = Path(tempfile.mkdtemp(prefix="kill-test-pg-", dir="/tmp"))  # postgres must reach it
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_pg:
        shutil.chown(data, "postgres", "postgres")
    subprocess.run([*as_pg, str(initdb[-1]), "-D", str(data), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)  # fmt: skip
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
    subprocess.run([*as_pg, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(data / "log"),
                    "-o", options, "-w", "start"], check=True, capture_output=True)  # fmt: skip
    stop = [*as_pg, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]
    return f"postgresql://postgres@127.0.0.1:{port}/postgres", stop


def main() -> int:
    """Send, kill, settle, count."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--senders", type=int, default=16, help="threads sending (default 16)")
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL")
    parser.add_argument("--seed", type=int, default=1, help="for the kill times")
    parser.add_argument("--rate", type=float, default=100.0, help="events a second (100)")
    parser.add_argument("--rev", help="run that git revision's bot instead (a baseline)")
    args = parser.parse_args()
    random.seed(args.seed)
    work = Path(tempfile.mkdtemp(prefix="kill-test-"))
    fake = FakeSlack()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(work), "PYTHONPATH": str(ROOT),
           "SLACK_BOT_TOKEN": "xoxb-kill", "SLACK_SIGNING_SECRET": SECRET,
           "SLACK_API_URL": fake.api_url, "HOST": "127.0.0.1", "PORT": str(free_port()),
           "DATA_DIR": str(work / "data"), "LOG_LEVEL": "WARNING"}  # fmt: skip
    stop_pg: list[str] = []
    if args.postgres:
        env["DATABASE_URL"], stop_pg = start_postgres()
    tree = ROOT
    if args.rev:
        tree = tree_at(args.rev)
        env["PYTHONPATH"] = str(tree)
    bot = Bot(env, work / "bot.log", tree)
    bot.start()
    stop, sending = threading.Event(), threading.Event()
    sending.set()

    def killer() -> None:
        while sending.is_set():
            time.sleep(random.uniform(0.5, 2.0))
            if sending.is_set():
                bot.kill()

    queue = list(range(args.events))
    lock = threading.Lock()
    tries = Counter()

    def sender() -> None:
        while True:
            with lock:
                if not queue:
                    return
                n = queue.pop(0)
            # Open loop: event n goes out at its time, whatever happened to the ones before.
            time.sleep(max(0.0, started + n / args.rate - time.monotonic()))
            tries[send(fake, bot.port, n, stop)] += 1

    started = time.monotonic()
    threading.Thread(target=killer, daemon=True).start()
    threads = [threading.Thread(target=sender) for _ in range(args.senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sending.clear()
    sent_in = time.monotonic() - started
    sent_end = time.monotonic()
    expected = {f"{1_700_000_000 + n}.{n:06d}" for n in range(args.events)}
    while time.monotonic() < sent_end + SETTLE_LIMIT:
        time.sleep(1)
        posts = fake.of("chat.postMessage")
        quiet = not posts or time.monotonic() - posts[-1].at > 15
        answered = {c.params.get("thread_ts") for c in posts}
        if time.monotonic() > sent_end + SETTLE_SECONDS and quiet and expected <= answered:
            break
    posts = fake.of("chat.postMessage")
    last_answer = max(0.0, posts[-1].at - sent_end) if posts else 0.0
    answers = Counter(c.params.get("thread_ts") for c in posts if c.params.get("thread_ts"))
    lost = sorted(expected - set(answers))
    doubled = sorted(ts for ts, k in answers.items() if k > 1)
    bot.stop()
    fake.close()
    if stop_pg:
        subprocess.run(stop_pg, capture_output=True)
    store = ("PostgreSQL" if args.postgres else "SQLite") + (f" at {args.rev}" if args.rev else "")
    resent = sum(k * (t - 1) for t, k in tries.items() if t)
    read_back = len(fake.of("conversations.replies"))
    print(f"store {store}; events {args.events} sent in {sent_in:.0f} s by {args.senders}"
          f" threads; kills {bot.kills}; resent {resent} times; taken over and read back"
          f" {read_back}; answers {sum(answers.values())}, the last {last_answer:.0f} s after"
          f" the sending ended; lost {len(lost)}; duplicated {len(doubled)}")  # fmt: skip
    if lost or doubled:
        print(f"lost: {lost[:10]}  duplicated: {doubled[:10]}; the bot's log: {bot.log}")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0 if not lost and not doubled else 1


if __name__ == "__main__":
    sys.exit(main())
