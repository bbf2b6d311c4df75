"""Exactly one answer per message through crashes: leases, their recovery, and the store's
state in /healthz, over the wire against the Slack stand-in, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import pytest

from bot.demo.standin import SCOPES, FakeSlack
from bot.live import LiveDocs
from bot.observe import Metrics
from bot.slack.app import Bot, Seen, make_client
from bot.slack.messages import REPLY_EVENT, hold_message, recover_lapsed, reply_to
from bot.slack.server import create_server
from bot.store import open_store
from tests.slack_standin import running
from tests.test_slack_app import post_event, settings_for, texts


@pytest.fixture(params=["sqlite", "postgres"])
def history(request, tmp_path):
    """(DATABASE_URL or None, DATA_DIR) for each backend."""
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url"), tmp_path
    return None, tmp_path


def dm(ts: str, text: str = "what does the coach do") -> dict:
    """A direct message event as Slack sends it."""
    return {"type": "message", "channel_type": "im", "user": "U1", "text": text, "ts": ts,
            "channel": "D1"}  # fmt: skip


def test_a_message_whose_process_died_is_answered_once(fake, shipped_library, history):
    """A message taken by a process that died before replying (its lease held, not done) is
    not answered by a retry while the lease holds; once it runs out, one recovery answers
    it, from what the lease kept; later retries and recoveries do nothing."""
    database_url, data_dir = history
    store = open_store(database_url, data_dir)
    event = dm("1700000050.000100")
    held = json.dumps({"event": event, "entry": "dm"})
    assert store.lease("msg:D1:1700000050.000100", 0.5, held) == "mine"  # ... and it died
    settings = settings_for(fake)
    live = LiveDocs.load(settings.content, shipped_library)
    server, _ = create_server(settings, live, store, Metrics())
    with running(server) as port:
        base = f"http://127.0.0.1:{port}"
        assert post_event(base, event, "EvDied")[0] == 200  # Slack's retry, lease still held
        time.sleep(0.7)
        assert fake.of("chat.postMessage") == []
        bots = [Bot(settings, live, store, Metrics(), Seen()) for _ in range(3)]
        counts: list[int] = []
        threads = [threading.Thread(target=lambda b=b: counts.append(
            recover_lapsed(b, make_client(settings)))) for b in bots]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(counts) == [0, 0, 1]
        answer = fake.wait_for("chat.postMessage")[0].params
        assert answer["channel"] == "D1" and "The Coach" in texts(answer["blocks"])
        # The taker looked for a reply in the DM first, and found none.
        assert [c.params["channel"] for c in fake.of("conversations.history")] == ["D1"]
        assert answer["metadata"] == {
            "event_type": REPLY_EVENT,
            "event_payload": {"key": "msg:D1:1700000050.000100"},
        }
        assert post_event(base, event, "EvDiedAgain")[0] == 200  # a later retry
        assert recover_lapsed(bots[0], make_client(settings)) == 0
        time.sleep(0.5)
    assert len(fake.of("chat.postMessage")) == 1


def test_a_holder_that_waited_past_its_lease_does_not_answer_what_another_took_over(
    fake, shipped_library, history, monkeypatch
):
    """A bot far behind on its work: a message is held, and its listener has not run when
    the lease runs out. Another replica's recovery takes it over and answers; the late
    listener then finds its hold gone and does not answer again. A late listener whose
    message nobody took over renews its hold and answers; a recovery after it does nothing."""
    import bot.slack.app as app_module
    import bot.slack.messages as messages_module

    monkeypatch.setattr(app_module, "LEASE_SECONDS", 0.3)
    monkeypatch.setattr(messages_module, "LEASE_SECONDS", 0.3)
    database_url, data_dir = history
    store = open_store(database_url, data_dir)
    settings = settings_for(fake)
    live = LiveDocs.load(settings.content, shipped_library)
    client = make_client(settings)
    behind, replica = Metrics(), Metrics()
    slow = Bot(settings, live, store, behind, Seen())
    other = Bot(settings, live, store, replica, Seen())

    taken_over = dm("1700000090.000100")
    assert hold_message(slow, taken_over)  # acknowledged; the listener waits in a queue
    time.sleep(0.5)
    assert recover_lapsed(other, client) == 1
    key = "msg:D1:1700000090.000100"
    assert reply_to(slow, client, taken_over, "dm", key, slow.taken(key)) is False
    assert len(fake.of("chat.postMessage")) == 1
    assert "devops_role_bot_taken_over_while_waiting_total 1.0" in behind.exposition().decode()
    assert store.lease(key, 30) == "done"

    merely_late = dm("1700000090.000200")
    assert hold_message(slow, merely_late)
    time.sleep(0.5)
    key = "msg:D1:1700000090.000200"
    assert reply_to(slow, client, merely_late, "dm", key, slow.taken(key)) is True
    assert recover_lapsed(other, client) == 0
    time.sleep(0.3)
    replies = [c.params["metadata"]["event_payload"]["key"] for c in fake.of("chat.postMessage")]
    assert replies == ["msg:D1:1700000090.000100", key]  # each message answered once
    assert store.lease(key, 30) == "done"


def mention(ts: str) -> dict:
    """A mention in channel C1 as Slack sends it (Slack has the message already)."""
    return {"type": "app_mention", "user": "U1", "text": "<@UBOT> what does the coach do",
            "ts": ts, "channel": "C1"}  # fmt: skip


def died_after_replying(fake: FakeSlack, settings, live, store, event: dict, entry: str) -> str:
    """A process that held a message, posted its reply and died before marking it done:
    its lease (0.5 s) held, the reply in Slack from the bot's own reply path (a bot with no
    store: nothing is marked). The message's key."""
    key = f"msg:{event['channel']}:{event['ts']}"
    if entry == "mention":
        fake.add_message(channel=event["channel"], user="U1", text=event["text"], ts=event["ts"])
    assert store.lease(key, 0.5, json.dumps({"event": event, "entry": entry})) == "mine"
    reply_to(Bot(settings, live, None, Metrics(), Seen()), make_client(settings), event, entry,
             key)  # fmt: skip
    return key


def test_a_reply_that_went_out_before_its_process_died_is_not_sent_again(
    fake, shipped_library, history
):
    """A process posted its reply and died before marking the message done. Whoever takes
    the message over once the lease runs out (Slack's retry of a DM, a replica's recovery of
    a mention) reads the conversation back, finds the reply by its metadata, does not answer
    again, and marks the message done."""
    database_url, data_dir = history
    store = open_store(database_url, data_dir)
    settings = settings_for(fake)
    live = LiveDocs.load(settings.content, shipped_library)
    in_dm = dm("1700000080.000100")
    in_channel = mention("1700000080.000200")
    keys = [died_after_replying(fake, settings, live, store, in_dm, "dm"),
            died_after_replying(fake, settings, live, store, in_channel, "mention")]  # fmt: skip
    assert len(fake.of("chat.postMessage")) == 2
    time.sleep(0.7)
    served, recovering = Metrics(), Metrics()
    server, _ = create_server(settings, live, store, served)
    with running(server) as port:
        assert post_event(f"http://127.0.0.1:{port}", in_dm, "EvRetried")[0] == 200
        fake.wait_for("conversations.history")
        bots = [Bot(settings, live, store, m, Seen()) for m in (recovering, Metrics())]
        assert [recover_lapsed(b, make_client(settings)) for b in bots] == [0, 0]
        time.sleep(0.5)
    assert len(fake.of("chat.postMessage")) == 2  # each message answered once, by the dead
    for metrics in (served, recovering):  # the retry's takeover, and the recovery's
        exposition = metrics.exposition().decode()
        assert "devops_role_bot_answered_before_takeover_total 1.0" in exposition
        assert "devops_role_bot_recovered_total 0.0" in exposition
    assert [c.params["ts"] for c in fake.of("conversations.replies")] == ["1700000080.000200"]
    assert all(store.lease(k, 30) == "done" for k in keys)


def test_without_history_scopes_a_taken_over_message_is_answered_and_the_log_says_why(
    shipped_library, tmp_path, monkeypatch, caplog
):
    """A workspace that did not grant channels:history: the taker cannot read the thread
    back, says which scope it needs, and answers (twice beats never)."""
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    fake = FakeSlack(scopes=SCOPES - {"channels:history"})
    try:
        store = open_store(None, tmp_path)
        settings = settings_for(fake)
        live = LiveDocs.load(settings.content, shipped_library)
        died_after_replying(fake, settings, live, store, mention("1700000090.000100"), "mention")
        time.sleep(0.7)
        bot = Bot(settings, live, store, Metrics(), Seen())
        assert recover_lapsed(bot, make_client(settings)) == 1
        assert len(fake.of("chat.postMessage")) == 2
        assert "needs the channels:history scope" in caplog.text
    finally:
        fake.close()


def test_a_delivered_message_is_done_for_every_replica(fake, shipped_library, history):
    """A message answered by one bot is marked done: another bot on the same store (a
    replica, or this one restarted) answers neither its retry nor a recovery."""
    database_url, data_dir = history
    settings = settings_for(fake)
    live = LiveDocs.load(settings.content, shipped_library)
    replies = []
    for n in range(2):
        store = open_store(database_url, data_dir)
        server, _ = create_server(settings, live, store, Metrics())
        with running(server) as port:
            post_event(f"http://127.0.0.1:{port}", dm("1700000060.000100"), f"EvOnce{n}")
            replies = fake.wait_for("chat.postMessage")
            time.sleep(0.5)
            bot = Bot(settings, live, store, Metrics(), Seen())
            assert recover_lapsed(bot, make_client(settings)) == 0
    assert len(replies) == len(fake.of("chat.postMessage")) == 1


def healthz(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as resp:
        return json.loads(resp.read())


def test_a_store_that_stops_answering_shows_in_healthz_and_metrics(
    fake, shipped_library, postgres_server, tmp_path
):
    """With PostgreSQL gone, /healthz says "store": "down" (still 200: the bot answers) and
    the store_up metric is 0; the bot still answers a message."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    store = open_store(f"{postgres_server}/{name}", tmp_path)
    settings = settings_for(fake)
    metrics = Metrics()
    server, _ = create_server(settings, LiveDocs.load(settings.content, shipped_library), store,
                              metrics)  # fmt: skip
    with running(server) as port:
        assert healthz(port)["store"] == "ok"
        with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
        time.sleep(5.2)  # past the ping interval
        body = healthz(port)
        assert body["store"] == "down" and body["ok"] is True
        assert b"devops_role_bot_store_up 0.0" in metrics.exposition()
        post_event(f"http://127.0.0.1:{port}", dm("1700000070.000100"), "EvDown")
        assert "The Coach" in texts(fake.wait_for("chat.postMessage")[0].params["blocks"])


def serve_http(tmp_path, api_url: str, port: int, **extra: str):
    """`devops-role-bot serve` in HTTP mode as a real process, its stderr in a file."""
    import os
    import subprocess
    import sys

    from tests.test_slack_app import SECRET, TOKEN

    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env |= {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": api_url,
            "HOST": "127.0.0.1", "PORT": str(port), "DATA_DIR": str(tmp_path), **extra}  # fmt: skip
    err = (tmp_path / "stderr.log").open("w+")  # closed by the caller
    return subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env, stderr=err), err


def done_in(data_dir, key: str) -> bool | None:
    """Whether the history in ``data_dir`` has the key's reply delivered (None: not held)."""
    import sqlite3

    with sqlite3.connect(data_dir / "history.sqlite3") as db:
        row = db.execute("SELECT done FROM handled WHERE key = ?", (key,)).fetchone()
    return None if row is None else bool(row[0])


def test_a_port_already_taken_is_one_line_naming_it(fake, tmp_path):
    """PORT taken by another process: `serve` exits 2 with one line naming PORT and HOST
    and why, not a traceback."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc, err = serve_http(tmp_path, fake.api_url, port, EMBEDDING_MODEL="off")
        try:
            code = proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
            err.close()
    text = (tmp_path / "stderr.log").read_text()
    assert code == 2, text
    said = f"error: PORT={port} (HOST=127.0.0.1): cannot listen there: Address already in use"
    assert said in text
    assert "Traceback" not in text


def test_a_history_file_that_is_not_a_database_is_set_aside_and_serve_answers(fake, tmp_path):
    """DATA_DIR's history.sqlite3 is not a database (damaged, or another file by that name):
    `serve` keeps it as it was under another name, says so once, starts a new history and
    answers. It died at start with a traceback, and nobody in Slack got a reply."""
    import signal

    from tests.slack_standin import wait_until
    from tests.test_slack_app import free_port, health

    garbage = b"not a database, whatever it was\n" * 100
    (tmp_path / "history.sqlite3").write_bytes(garbage)
    port = free_port()
    proc, err = serve_http(tmp_path, fake.api_url, port, EMBEDDING_MODEL="off")
    log = tmp_path / "stderr.log"
    try:
        assert wait_until(lambda: "serving" in log.read_text(), timeout=30), log.read_text()
        assert health(port) == 200
        event = dm("1700000080.000100")
        assert post_event(f"http://127.0.0.1:{port}", event, "EvAside")[0] == 200
        fake.wait_for("chat.postMessage")
        assert wait_until(lambda: done_in(tmp_path, "msg:D1:1700000080.000100") is True)
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
    finally:
        if proc.poll() is None:
            proc.kill()
        err.close()
    text = log.read_text()
    (aside,) = tmp_path.glob("history.sqlite3.unreadable-*")
    assert aside.read_bytes() == garbage
    assert text.count("not a database the bot can read") == 1 and f"kept as {aside}" in text
    assert "Traceback" not in text


@pytest.mark.parametrize("slack_delay", [1.5, 30.0])
def test_sigterm_finishes_the_answers_in_progress_then_stops(fake, tmp_path, slack_delay):
    """SIGTERM (`docker stop`) stops `serve`: no request is taken any more, and the answer
    being sent is finished first (exit 0, its message done), within STOP_SECONDS: an answer
    that takes longer is left to its lease (exit 1, its message not done, one warning). A
    second SIGTERM meanwhile does not break into the wind-down."""
    import signal

    from bot.slack.server import STOP_SECONDS
    from tests.slack_standin import wait_until
    from tests.test_slack_app import free_port, health

    port = free_port()
    proc, err = serve_http(tmp_path, fake.api_url, port)
    log = tmp_path / "stderr.log"
    try:
        assert wait_until(lambda: "serving" in log.read_text(), timeout=30), log.read_text()
        assert health(port) == 200
        fake.fail("chat.postMessage", (0, {"delay": slack_delay}))  # Slack answers late
        event = dm("1700000070.000100")
        assert post_event(f"http://127.0.0.1:{port}", event, "EvStop")[0] == 200
        fake.wait_for("chat.postMessage")  # the reply is on its way
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert wait_until(lambda: "finishing 1 answer(s)" in log.read_text(), timeout=5)
        proc.send_signal(signal.SIGTERM)  # a second one (impatience) waits for the first
        code = proc.wait(STOP_SECONDS + 10)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
        err.close()
    text = log.read_text()
    assert "finishing 1 answer(s) in progress" in text and "Traceback" not in text
    with pytest.raises(OSError):
        health(port)
    if slack_delay < STOP_SECONDS:
        assert code == 0 and took < STOP_SECONDS, (code, took, text)
        assert done_in(tmp_path, "msg:D1:1700000070.000100") is True
        assert text.rstrip().endswith("stopped")
    else:  # left to its lease: the next start (or another replica) answers it
        assert code == 1 and STOP_SECONDS <= took < STOP_SECONDS + 5, (code, took, text)
        assert done_in(tmp_path, "msg:D1:1700000070.000100") is False
        assert "stopped with 1 answer(s) unfinished after 8 s" in text


def test_sigterm_while_the_docs_are_read_stops_serve_at_once(fake, tmp_path):
    """SIGTERM while `serve` still reads a large folder (seconds, before it listens) stops it
    at once with exit 0 and one line, as Ctrl-C would; not ignored (as a container's first
    process), nor a traceback."""
    import signal

    from tests.slack_standin import wait_until
    from tests.test_slack_app import free_port

    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(600):  # about 15,000 sections: a second or more to read on any machine
        body = "".join(f"## Topic {n}-{k}\n\nHow team {n} handles case {k}.\n\n" for k in range(25))
        (docs / f"page{n}.md").write_text(f"# Page {n}\n\n{body}")
    proc, err = serve_http(tmp_path, fake.api_url, free_port(), CONTENT_DIR=str(docs),
                           EMBEDDING_MODEL="off")  # fmt: skip
    log = tmp_path / "stderr.log"
    try:
        assert wait_until(lambda: "reading the docs in" in log.read_text(), timeout=30)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        err.close()
    text = log.read_text()
    assert code == 0, text
    assert "stopped before serving" in text and "serving 15" not in text
    assert "Traceback" not in text
