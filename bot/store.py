"""The history of questions, votes and handled events: SQLite by default, PostgreSQL to scale.

Schema changes are versioned migrations applied at open. User ids are stored only as a salted
hash. ``claim`` takes a key (a Slack event id, a message ts) under a unique constraint, so
several bot replicas sharing one PostgreSQL answer each event exactly once.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.engine.search import Answer, clean_question

log = logging.getLogger("bot.store")

#: Each migration is a list of statements; the schema version is its position (1-based).
MIGRATIONS: list[list[str]] = [
    [  # 1: questions and the keys replicas claim
        """CREATE TABLE questions (
            id TEXT PRIMARY KEY,
            asked_at DOUBLE PRECISION NOT NULL,
            entry TEXT NOT NULL,
            question TEXT NOT NULL,
            decision TEXT NOT NULL,
            section_id TEXT,
            section TEXT,
            score INTEGER NOT NULL,
            latency_ms DOUBLE PRECISION NOT NULL,
            user_hash TEXT
        )""",
        "CREATE TABLE handled (key TEXT PRIMARY KEY, at DOUBLE PRECISION NOT NULL)",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ],
    [  # 2: votes (one per person per answer) and the indexes the report and purge use
        """CREATE TABLE votes (
            question_id TEXT NOT NULL,
            user_hash TEXT NOT NULL,
            vote TEXT NOT NULL,
            comment TEXT,
            at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (question_id, user_hash)
        )""",
        "CREATE INDEX questions_asked_at ON questions (asked_at)",
        "CREATE INDEX handled_at ON handled (at)",
    ],
    [  # 3: a claim is a lease until the reply is delivered; what to answer if its holder dies
        "ALTER TABLE handled ADD COLUMN done INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE handled ADD COLUMN lease_until DOUBLE PRECISION NOT NULL DEFAULT 0",
        "ALTER TABLE handled ADD COLUMN payload TEXT",
        "CREATE INDEX handled_open ON handled (done, lease_until)",
    ],
    [  # 4: who holds a lease: a holder that was taken over must not answer after all
        "ALTER TABLE handled ADD COLUMN holder TEXT",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(Exception):
    """The store cannot be opened or migrated; the message names the database."""


@dataclass(frozen=True, slots=True)
class Record:
    """One question's outcome."""

    id: str
    asked_at: float
    entry: str  # "slash" | "mention" | "dm" | "cli"
    question: str
    decision: str
    section_id: str | None
    section: str | None
    score: int
    latency_ms: float
    user_hash: str | None

    @classmethod
    def of(cls, answer: Answer, *, entry: str, latency_ms: float, user_hash: str | None) -> Record:
        """The record of an answer: a fresh id, now, the question without Slack mentions."""
        best = answer.best.section if answer.best else None
        return cls(
            id=uuid.uuid4().hex, asked_at=time.time(), entry=entry,
            question=clean_question(answer.question)[:2000], decision=answer.decision,
            section_id=best.id if best else None,
            section=" > ".join(best.heading_path) if best else None,
            score=answer.score, latency_ms=latency_ms, user_hash=user_hash,
        )  # fmt: skip


class Store:
    """A small SQL store over sqlite3 or psycopg (DB-API), safe to share between threads."""

    def __init__(self, connect: Any, *, postgres: bool, name: str) -> None:
        self._connect = connect
        self.postgres = postgres
        self.name = name
        self._local = threading.local()
        self._salt = ""

    # --- plumbing ------------------------------------------------------------------------

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.postgres else sql

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        conn = self._conn()
        cur = conn.cursor()
        try:
            yield cur
            conn.commit()
        except Exception:
            conn.rollback()
            raise
        finally:
            cur.close()

    def _insert_once(self, sql: str, params: Sequence[Any]) -> bool:
        """Insert a row; False if a row with its unique key is there already (from any
        replica sharing the database)."""
        if self.postgres:
            with self._tx() as cur:
                cur.execute(self._sql(sql + " ON CONFLICT DO NOTHING"), tuple(params))
                return cur.rowcount == 1
        try:
            with self._tx() as cur:
                cur.execute(sql, tuple(params))
            return True
        except sqlite3.IntegrityError:
            return False

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._tx() as cur:
            cur.execute(self._sql(sql), tuple(params))
            return list(cur.fetchall())

    # --- schema ----------------------------------------------------------------------------

    def version(self) -> int:
        """The schema version the database is at (0 when empty)."""
        with self._tx() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            cur.execute("SELECT version FROM schema_version")
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def migrate(self, target: int = SCHEMA_VERSION) -> int:
        """Apply the migrations after the current version, each in its own transaction."""
        if self.postgres:  # one replica migrates at a time
            with self._tx() as cur:
                cur.execute("SELECT pg_advisory_lock(4242)")
        try:
            current = self.version()
            for number in range(current + 1, target + 1):
                with self._tx() as cur:
                    for statement in MIGRATIONS[number - 1]:
                        cur.execute(statement)
                    cur.execute("DELETE FROM schema_version")
                    cur.execute(self._sql("INSERT INTO schema_version VALUES (?)"), (number,))
            return max(current, target)
        finally:
            if self.postgres:
                with self._tx() as cur:
                    cur.execute("SELECT pg_advisory_unlock(4242)")

    def _load_salt(self) -> None:
        """A random salt kept in the database, so user hashes are stable but not reversible."""
        rows = self._rows("SELECT value FROM meta WHERE key = 'salt'")
        if not rows:
            candidate = secrets.token_hex(16)
            try:
                with self._tx() as cur:
                    cur.execute(self._sql("INSERT INTO meta VALUES ('salt', ?)"), (candidate,))
            except Exception:  # another replica stored one first: use that
                pass
            rows = self._rows("SELECT value FROM meta WHERE key = 'salt'")
        self._salt = rows[0][0]

    # --- the API ---------------------------------------------------------------------------

    def user_hash(self, user_id: str | None) -> str | None:
        """A Slack user id as a salted hash (None stays None)."""
        if not user_id:
            return None
        return hashlib.sha256(f"{self._salt}:{user_id}".encode()).hexdigest()[:32]

    def claim(self, key: str) -> bool:
        """True for the first caller to claim a key, in this process or any replica (a
        claim for good: for what is done at once, or must never be done twice)."""
        return self._insert_once("INSERT INTO handled (key, at) VALUES (?, ?)", (key, time.time()))

    def lease(
        self, key: str, seconds: float, payload: str | None = None, holder: str | None = None
    ) -> str:
        """Claim a key for ``seconds``, until ``finish``: "mine" for the first caller; "again"
        for the first after a lease ran out unfinished (its holder died, perhaps after doing
        the work, or is still waiting to do it); "done" once finished; "busy" while another
        holds it. ``payload`` is what a taker needs to do the work; ``holder`` names this
        claim, for ``renew`` and ``finish``."""
        now = time.time()
        if self._insert_once(
            "INSERT INTO handled (key, at, done, lease_until, payload, holder)"
            " VALUES (?, ?, 0, ?, ?, ?)",
            (key, now, now + seconds, payload, holder),
        ):
            return "mine"
        with self._tx() as cur:  # take over a lease that ran out; one taker wins the update
            cur.execute(
                self._sql("UPDATE handled SET lease_until = ?, at = ?, holder = ? WHERE key = ?"
                          " AND done = 0 AND lease_until < ?"),
                (now + seconds, now, holder, key, now),
            )  # fmt: skip
            if cur.rowcount == 1:
                return "again"
            cur.execute(self._sql("SELECT done FROM handled WHERE key = ?"), (key,))
            row = cur.fetchone()
        return "done" if row is None or row[0] else "busy"

    def renew(self, key: str, holder: str, seconds: float) -> bool:
        """Hold a leased key ``seconds`` more, from now, if ``holder`` still holds it (even
        past its lease, as long as nobody took it over); False when another holder took it
        over or it is done."""
        with self._tx() as cur:
            cur.execute(
                self._sql("UPDATE handled SET lease_until = ? WHERE key = ? AND holder = ?"
                          " AND done = 0"),
                (time.time() + seconds, key, holder),
            )  # fmt: skip
            return cur.rowcount == 1

    def finish(self, key: str, holder: str | None = None) -> None:
        """Mark a leased key done: its work will not be taken over or done again. With
        ``holder``, only while that claim holds it (not once another took it over)."""
        sql = "UPDATE handled SET done = 1, payload = NULL WHERE key = ?"
        with self._tx() as cur:
            if holder is None:
                cur.execute(self._sql(sql), (key,))
            else:
                cur.execute(self._sql(sql + " AND holder = ?"), (key, holder))

    def lapsed(self, limit: int = 20) -> list[tuple[str, str]]:
        """Keys whose lease ran out unfinished, with their payloads: work a holder that died
        left undone (oldest first, at most ``limit``)."""
        return [
            (str(k), str(p))
            for k, p in self._rows(
                "SELECT key, payload FROM handled WHERE done = 0 AND lease_until < ?"
                " AND payload IS NOT NULL ORDER BY lease_until LIMIT ?",
                (time.time(), limit),
            )
        ]

    def ping(self) -> None:
        """One round trip to the database; raises when it cannot be reached."""
        self._rows("SELECT 1")

    def record(self, r: Record) -> None:
        """Store one question's outcome."""
        with self._tx() as cur:
            cur.execute(
                self._sql("INSERT INTO questions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                (r.id, r.asked_at, r.entry, r.question, r.decision, r.section_id, r.section,
                 r.score, r.latency_ms, r.user_hash),
            )  # fmt: skip

    def vote(self, question_id: str, user_hash: str, vote: str) -> bool:
        """Record a vote; False if this person already voted on this answer."""
        sql = "INSERT INTO votes (question_id, user_hash, vote, at) VALUES (?, ?, ?, ?)"
        return self._insert_once(sql, (question_id, user_hash, vote, time.time()))

    def comment(self, question_id: str, user_hash: str, comment: str) -> None:
        """Attach what was missing to this person's vote."""
        with self._tx() as cur:
            cur.execute(
                self._sql("UPDATE votes SET comment = ? WHERE question_id = ? AND user_hash = ?"),
                (comment, question_id, user_hash),
            )

    def history(self, since: float) -> list[dict]:
        """Questions asked since a time, each with its votes."""
        rows = self._rows(
            "SELECT q.id, q.asked_at, q.entry, q.question, q.decision, q.section_id, q.section,"
            " q.score, q.latency_ms, v.vote, v.comment FROM questions q"
            " LEFT JOIN votes v ON v.question_id = q.id WHERE q.asked_at >= ?"
            " ORDER BY q.asked_at",
            (since,),
        )
        keys = ("id", "asked_at", "entry", "question", "decision", "section_id", "section",
                "score", "latency_ms", "vote", "comment")  # fmt: skip
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def purge(self, older_than_days: float) -> int:
        """Delete records (and their votes and claimed keys) older than the retention."""
        cutoff = time.time() - older_than_days * 86400
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "DELETE FROM votes WHERE question_id IN"
                    " (SELECT id FROM questions WHERE asked_at < ?)"
                ),
                (cutoff,),
            )
            cur.execute(self._sql("DELETE FROM questions WHERE asked_at < ?"), (cutoff,))
            deleted = cur.rowcount
            cur.execute(self._sql("DELETE FROM handled WHERE at < ?"), (cutoff,))
        return deleted

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


#: What SQLite says of a file that is not a database, or a damaged one.
UNREADABLE_DB = ("SQLITE_NOTADB", "SQLITE_CORRUPT")


def _why(err: sqlite3.DatabaseError) -> str:
    """What to look at when SQLite cannot open or write the history."""
    name = getattr(err, "sqlite_errorname", "")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return "another process holds it (a second bot on this DATA_DIR?)"
    if name.startswith("SQLITE_FULL"):
        return "the disk is full"
    return "DATA_DIR must be a folder the bot's user can write (a read-only volume?)"


def open_store(
    database_url: str | None, data_dir: Path, *, migrate: bool = True, set_aside: bool = False
) -> Store:
    """Open (and migrate) the store: PostgreSQL for a postgresql:// URL, else SQLite in
    DATA_DIR. A SQLite file that is not a database (or a damaged one) is a StoreError naming
    it; with ``set_aside`` (`serve`, which must answer all the same) it is renamed beside
    itself, kept as it was, and a new history starts, with one error in the log."""
    if database_url:
        try:
            import psycopg
        except ImportError as err:  # pragma: no cover - psycopg is a dependency
            raise StoreError("DATABASE_URL needs psycopg installed") from err
        name = database_url.split("@")[-1]  # never the password

        def connect() -> Any:
            return psycopg.connect(database_url, connect_timeout=10)

        store = Store(connect, postgres=True, name=f"postgresql://{name}")
        try:
            store._conn()
        except psycopg.Error as err:
            raise StoreError(f"cannot connect to PostgreSQL at {name}: {err}") from err
    else:
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"DATA_DIR {data_dir}: cannot create it: {err.strerror}") from err
        path = data_dir / "history.sqlite3"

        def connect() -> Any:
            conn = sqlite3.connect(path, timeout=10, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            # WAL with NORMAL sync: never corrupt; a power cut may lose the last commits.
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn

        store = Store(connect, postgres=False, name=str(path))
    if migrate:
        try:
            store.migrate()
            store._load_salt()
        except sqlite3.DatabaseError as err:
            store.close()
            path = Path(store.name)
            if getattr(err, "sqlite_errorname", "") not in UNREADABLE_DB:  # not the file's fault
                raise StoreError(f"{path}: cannot open the history ({err}): {_why(err)}") from err
            if not set_aside:
                raise StoreError(f"{path}: not a database the bot can read ({err}); move it"
                                 " aside, and a new history starts") from err  # fmt: skip
            aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
            for suffix in ("", "-wal", "-shm"):  # its journal goes with it
                if Path(f"{path}{suffix}").exists():
                    Path(f"{path}{suffix}").rename(f"{aside}{suffix}")
            log.error("%s: not a database the bot can read (%s); kept as %s, and a new history"
                      " started", path, err, aside)  # fmt: skip
            return open_store(None, data_dir)
    return store
