"""Shared fixtures: the shipped content, a folder builder for edge cases, the real corpora."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import SHIPPED_CONTENT
from bot.content import Library, load_library
from bot.engine.search import Index, build_index

# The shared corpora sit next to the checkout (../shared); CI clones elsewhere, so also
# look where the workplace keeps them.
CORPUS = next(
    (
        p
        for p in (
            Path(__file__).resolve().parent.parent.parent / "shared" / "corpus",
            Path("/work/shared/corpus"),
        )
        if p.is_dir()
    ),
    Path("/work/shared/corpus"),
)
KNOWLEDGEHUB = CORPUS / "knowledgehub" / "docs"


@pytest.fixture(autouse=True)
def private_home(tmp_path_factory, monkeypatch):
    """No test writes history into the real home folder (the CLI's default DATA_DIR)."""
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)


@pytest.fixture(autouse=True)
def collected_after():
    """What a test's bot froze out of the garbage collector's rounds (bot.live's
    freeze_long_lived, at every load) is handed back to it afterwards: a test suite is not
    one long-running bot, and cycles its tests leave must still be collected."""
    yield
    gc.unfreeze()


@pytest.fixture
def fake(monkeypatch):
    """The Slack stand-in; SLACK_* cleared so Bolt cannot read the real environment."""
    from bot.demo.standin import FakeSlack

    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    standin = FakeSlack()
    yield standin
    standin.close()


@pytest.fixture(scope="session")
def shipped_library() -> Library:
    """The role documents shipped in content/."""
    return load_library(SHIPPED_CONTENT)


@pytest.fixture(scope="session")
def shipped_index(shipped_library: Library) -> Index:
    """The index over the shipped content."""
    return build_index(shipped_library)


@pytest.fixture
def make_content(tmp_path: Path) -> Callable[[dict[str, str | bytes]], Path]:
    """Write {relative path: text or bytes} into a fresh content folder and return it."""

    def make(files: dict[str, str | bytes]) -> Path:
        root = tmp_path / "content"
        root.mkdir(exist_ok=True)
        for rel, data in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, bytes):
                path.write_bytes(data)
            else:
                path.write_text(data, encoding="utf-8", newline="")
        return root

    return make


def _initdb() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1] if found else None


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A real PostgreSQL server (Debian's) on 127.0.0.1, started for the test session."""
    import os
    import shutil
    import socket
    import subprocess
    import tempfile

    initdb = _initdb()
    if initdb is None:
        if os.environ.get("CI"):
            raise RuntimeError(
                "CI needs PostgreSQL for the store tests (apt-get install postgresql)"
            )
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    bin_dir = initdb.parent
    data = Path(tempfile.mkdtemp(prefix="pg-", dir="/tmp"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(data, "postgres", "postgres")
    subprocess.run([*as_postgres, str(initdb), "-D", str(data), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)  # fmt: skip
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-l",
                    str(data / "log"), "-o", options, "-w", "start"], check=True,
                   capture_output=True)  # fmt: skip
    yield f"postgresql://postgres@127.0.0.1:{port}"
    subprocess.run([*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast",
                    "stop"], capture_output=True)  # fmt: skip
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty database on the session's PostgreSQL server."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{postgres_server}/{name}"


def assert_indexes_equal(got: Index, fresh: Index, *, ordered: bool = True) -> None:
    """Two indexes hold the same sections, lengths, weights, keys, vocabulary and postings
    (each term's arrays element for element; the terms in the same order unless not
    ``ordered``)."""
    import numpy as np

    assert got.sections == fresh.sections and got.ids == fresh.ids
    assert got.idf == fresh.idf and got.words == fresh.words
    assert np.array_equal(got.lengths, fresh.lengths) and np.array_equal(got.k, fresh.k)
    assert got.parents == fresh.parents
    assert all(got.keys(i) == fresh.keys(i) for i in range(len(got.sections)))
    assert got.aliases == fresh.aliases and got.typo_vocab == fresh.typo_vocab
    assert got.capital_aliases == fresh.capital_aliases and got._by_doc == fresh._by_doc
    assert got.vocab_stems == fresh.vocab_stems and got.max_idf == fresh.max_idf
    assert got.max_alias == fresh.max_alias
    for table in ("postings", "form_postings"):
        mine, theirs = getattr(got, table), getattr(fresh, table)
        assert list(mine) == list(theirs) if ordered else set(mine) == set(theirs)
        for term in theirs:
            assert all(np.array_equal(a, b) for a, b in zip(mine[term], theirs[term], strict=True))
            assert all(
                np.array_equal(a, b)
                for a, b in zip(got.holding(mine, term), fresh.holding(theirs, term), strict=True)
            )


@pytest.fixture(params=["works", "fails", "cannot start"])
def forks(request, monkeypatch) -> list[str]:
    """A child forked for work apart (``bot.process.Apart``) that works, fails (cannot send
    its result back) or cannot start; the forks tried, listed."""
    import os

    import bot.process as process

    tried: list[str] = []
    real_fork = os.fork

    def fork() -> int:
        tried.append(request.param)
        if request.param == "cannot start":
            raise OSError(11, "Resource temporarily unavailable")
        return real_fork()

    monkeypatch.setattr(process.os, "fork", fork)
    if request.param == "fails":  # pickled in the child only: not called here
        monkeypatch.setattr(process.pickle, "dumps", lambda *_: 1 / 0)
    return tried
