"""The history store, against SQLite and a real PostgreSQL server."""

from __future__ import annotations

import threading
import time

import pytest

from bot.store import MIGRATIONS, SCHEMA_VERSION, Record, Store, open_store


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path):
    """(DATABASE_URL or None, DATA_DIR) for each backend."""
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url"), tmp_path
    return None, tmp_path


def record(store: Store, qid: str, *, age_days: float = 0, decision: str = "answer") -> None:
    store.record(Record(
        id=qid, asked_at=time.time() - age_days * 86400, entry="slash", question="coach?",
        decision=decision, section_id="s1", section="DevOps > The Coach", score=90,
        latency_ms=0.5, user_hash=store.user_hash("U1"),
    ))  # fmt: skip


def test_migrates_an_empty_database(store_url):
    """An empty database is brought to the latest schema version at open."""
    store = open_store(*store_url)
    assert store.version() == SCHEMA_VERSION == len(MIGRATIONS)
    record(store, "q1")
    assert [r["id"] for r in store.history(0)] == ["q1"]


def test_migrates_from_the_previous_version_keeping_data(store_url):
    """A database at version N-1 with data is migrated to N; its rows survive."""
    old = open_store(*store_url, migrate=False)
    assert old.migrate(SCHEMA_VERSION - 1) == SCHEMA_VERSION - 1
    old._load_salt()
    record(old, "kept")
    old.close()
    store = open_store(*store_url)
    assert store.version() == SCHEMA_VERSION
    assert [r["id"] for r in store.history(0)] == ["kept"]
    assert store.vote("kept", "h1", "helpful") is True


def test_claim_is_once_across_connections(store_url):
    """A key is claimed once, even by several threads (each with its own connection)."""
    store = open_store(*store_url)
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(store.claim("event:Ev1")))
               for _ in range(8)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]


def test_one_vote_per_person_per_answer_and_comment(store_url):
    """A second vote by the same person is refused; the comment attaches to the vote."""
    store = open_store(*store_url)
    record(store, "q1")
    h = store.user_hash("U1")
    assert store.vote("q1", h, "not_helpful") is True
    assert store.vote("q1", h, "helpful") is False
    assert store.vote("q1", store.user_hash("U2"), "helpful") is True
    store.comment("q1", h, "needs an example")
    rows = store.history(0)
    assert {(r["vote"], r["comment"]) for r in rows} == {
        ("not_helpful", "needs an example"), ("helpful", None)}  # fmt: skip


def test_user_ids_only_as_salted_hash(store_url):
    """User ids are hashed with the store's own salt: stable, and not the id."""
    store = open_store(*store_url)
    again = open_store(*store_url)
    assert store.user_hash("U123") == again.user_hash("U123") != "U123"
    assert "U123" not in store.user_hash("U123")
    assert store.user_hash(None) is None


def test_purge_deletes_records_older_than_retention(store_url):
    """Records older than the retention, their votes and claims, are deleted."""
    store = open_store(*store_url)
    record(store, "old", age_days=100)
    record(store, "new", age_days=1)
    store.vote("old", "h", "helpful")
    assert store.purge(90) == 1
    assert [r["id"] for r in store.history(0)] == ["new"]


def test_unusable_data_dir_is_a_clear_error(tmp_path):
    """A DATA_DIR that cannot be created names itself in the error."""
    from bot.store import StoreError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="DATA_DIR"):
        open_store(None, blocker / "sub")


def test_a_history_file_that_is_not_a_database_is_named_or_set_aside(tmp_path):
    """Not a database: a StoreError naming the file (`report`, `ask`), the file untouched; or,
    with ``set_aside`` (`serve`), kept under another name and a new history started."""
    from bot.store import StoreError

    path = tmp_path / "history.sqlite3"
    path.write_bytes(b"garbage" * 100)
    with pytest.raises(StoreError, match=r"history\.sqlite3: not a database the bot can read"):
        open_store(None, tmp_path)
    assert path.read_bytes() == b"garbage" * 100
    store = open_store(None, tmp_path, set_aside=True)
    assert store.version() == SCHEMA_VERSION
    (aside,) = tmp_path.glob("history.sqlite3.unreadable-*")
    assert aside.read_bytes() == b"garbage" * 100


def test_a_history_sqlite_cannot_open_is_a_store_error_naming_data_dir(tmp_path):
    """SQLite cannot open the history (here a folder in its place; a read-only volume, or
    one the bot's user may not write, does the same): a StoreError naming the file and what
    to look at, not sqlite3's OperationalError (a traceback at `serve`'s start)."""
    from bot.store import StoreError

    (tmp_path / "history.sqlite3").mkdir()
    with pytest.raises(StoreError) as raised:
        open_store(None, tmp_path, set_aside=True)
    assert str(raised.value) == (
        f"{tmp_path / 'history.sqlite3'}: cannot open the history (unable to open database"
        " file): DATA_DIR must be a folder the bot's user can write (a read-only volume?)"
    )
    assert (tmp_path / "history.sqlite3").is_dir()  # nothing set aside: not the file's fault


def test_a_lease_is_taken_over_only_once_it_runs_out_unfinished(store_url):
    """A leased key is "mine" for its first caller, "busy" for others while the lease runs,
    "again" for one taker once it ran out unfinished (its holder died), and "done"
    for everyone after finish. Lapsed leases are listed with their payload."""
    store = open_store(*store_url)
    assert store.lease("msg:D1:1", 0.3, '{"q": 1}') == "mine"
    assert store.lease("msg:D1:1", 0.3) == "busy"
    assert store.lapsed() == []
    time.sleep(0.4)
    assert store.lapsed() == [("msg:D1:1", '{"q": 1}')]
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(store.lease("msg:D1:1", 30)))
               for _ in range(6)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["again"] + ["busy"] * 5
    store.finish("msg:D1:1")
    assert store.lease("msg:D1:1", 30) == "done" and store.lapsed() == []
    assert store.claim("event:E1") is True and store.lease("event:E1", 30) == "done"


def test_a_holder_renews_its_lease_only_while_nobody_took_it_over(store_url):
    """``renew`` extends a lease for the holder that has it, even after it ran out, and then
    nobody can take it over; once another holder took it over, the first one's renew and
    finish do nothing, and the new holder's finish marks it done."""
    store = open_store(*store_url)
    assert store.lease("msg:D1:2", 0.2, '{"q": 2}', "first") == "mine"
    time.sleep(0.3)
    assert store.renew("msg:D1:2", "first", 30) is True  # late, but nobody took it
    assert store.lease("msg:D1:2", 30, None, "second") == "busy" and store.lapsed() == []
    assert store.lease("msg:D1:3", 0.2, '{"q": 3}', "first") == "mine"
    time.sleep(0.3)
    assert store.lease("msg:D1:3", 30, None, "second") == "again"
    assert store.renew("msg:D1:3", "first", 30) is False
    store.finish("msg:D1:3", "first")
    assert store.lease("msg:D1:3", 30, None, "third") == "busy"  # still the second's
    store.finish("msg:D1:3", "second")
    assert store.lease("msg:D1:3", 30, None, "third") == "done"
    assert store.renew("msg:D1:3", "second", 30) is False
