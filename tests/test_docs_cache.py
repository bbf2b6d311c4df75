"""The docs cache: a restart takes the docs kept in DATA_DIR, parsing only what changed, and
answers exactly as a fresh start does; a file it cannot trust is left aside, not run."""

from __future__ import annotations

import logging
import pickle
import shutil
import time
from pathlib import Path

import pytest

import bot.content
from bot.config import ContentSettings
from bot.content import load_library
from bot.docs_cache import FILE_NAME, DocsCache, code_digest
from bot.engine.search import build_index
from bot.live import LiveDocs
from tests.conftest import KNOWLEDGEHUB, assert_indexes_equal

QUESTIONS = (
    "how do I get started",
    "what is the deployment process",
    "who do I ask about access",
    "what does the devops coach do",
)


def start(root: Path, data: Path, **settings) -> LiveDocs:
    """What `serve` does at start: read the cache, the docs with it, serve; wait for the
    docs to be kept."""
    content = ContentSettings(content_dir=root, **settings)
    cache = DocsCache(data, content)
    kept = cache.read()
    library = load_library(
        root,
        include_drafts=content.include_drafts,
        previous=kept.library if kept else None,
        name=content.docs_name,
    )
    live = LiveDocs.load(content, library, kept=kept, cache=cache)
    live.kept(timeout=60)
    return live


def answers(live: LiveDocs, questions) -> list:
    """What the bot answers to each question: decision, probability and sections shown."""
    out = []
    for q in questions:
        a = live.current.answer(q)
        shown = [m.section.id for m in (a.best, *a.alternatives) if m is not None]
        out.append((a.decision, a.probability, shown))
    return out


@pytest.fixture()
def hub(tmp_path) -> Path:
    if not KNOWLEDGEHUB.is_dir():
        pytest.skip("shared corpus not present")
    root = tmp_path / "hub"
    shutil.copytree(KNOWLEDGEHUB, root)
    return root


def test_a_restart_with_no_file_changed_takes_the_index_as_it_was_kept(hub, tmp_path, caplog):
    """Nothing changed: the second start parses no file and builds no index; what it serves
    equals a fresh start's, answer for answer."""
    data = tmp_path / "data"
    first = start(hub, data)
    assert (data / FILE_NAME).is_file()
    headings = [s.name for s in first.current.library.sections[::7]]
    written = (data / FILE_NAME).stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="bot.docs_cache"):
        second = start(hub, data)
    assert "docs cache read" in caplog.text
    assert (data / FILE_NAME).stat().st_mtime_ns == written  # no index built, none to keep
    fresh_library = load_library(hub)
    assert second.current.library.documents == fresh_library.documents
    assert second.current.library.problems == fresh_library.problems
    assert_indexes_equal(second.current.index, build_index(fresh_library))
    asked = [*QUESTIONS, *headings]
    assert answers(second, asked) == answers(first, asked)
    assert (data / FILE_NAME).stat().st_mode & 0o777 == 0o600


def test_a_restart_after_an_edit_parses_only_that_file(hub, tmp_path):
    """One file edited between runs: the others' sections come from the cache (the same
    objects as the kept library's), and the index equals a fresh build's."""
    data = tmp_path / "data"
    start(hub, data)
    kept = DocsCache(data, ContentSettings(content_dir=hub)).read()
    assert kept is not None
    changed = sorted(hub.rglob("*.md"))[3]
    rel = changed.relative_to(hub).as_posix()
    with changed.open("a", encoding="utf-8") as f:
        f.write("\n\n## Parking bays\n\nThe zorbulous parking bays are behind building C.\n")
    library = load_library(hub, previous=kept.library)
    before = {s.id: s for s in kept.library.sections}
    others = [s for s in library.sections if s.path != rel]
    assert others and all(before[s.id] is s for s in others)
    live = LiveDocs.load(ContentSettings(content_dir=hub), library, kept=kept)
    assert live.current.index is not kept.index
    assert_indexes_equal(live.current.index, build_index(load_library(hub)), ordered=False)
    best = live.current.answer("where are the zorbulous parking bays").best
    assert best is not None and best.section.name == "Parking bays"


def test_the_cache_follows_reloads(make_content, tmp_path):
    """A reload that changes the docs is kept too: the next start serves what the last
    reload read, not what the first start did."""
    root = make_content({"ops.md": "# Ops\n\n## Pager rota\n\nWho is on call.\n"})
    data = tmp_path / "data"
    live = start(root, data)
    (root / "ops.md").write_text("# Ops\n\n## Pager rota\n\nWho is on call.\n\n## Zorbs\n\nz\n")
    assert live.reload("test")
    live.kept(timeout=60)
    kept = DocsCache(data, ContentSettings(content_dir=root)).read()
    assert kept is not None
    assert [s.name for s in kept.library.sections] == ["Ops", "Pager rota", "Zorbs"]


def test_a_reload_that_changes_nothing_keeps_the_index(make_content, caplog):
    """A file written again with the same bytes (a checkout, a touch): the reload keeps the
    index it has instead of building the same one again."""
    root = make_content({"ops.md": "# Ops\n\n## Pager rota\n\nWho is on call.\n"})
    live = LiveDocs.load(ContentSettings(content_dir=root), load_library(root))
    index = live.current.index
    (root / "ops.md").write_text((root / "ops.md").read_text())
    with caplog.at_level(logging.INFO, logger="bot.live"):
        assert live.reload("test")
    assert live.current.index is index
    assert "reloaded (test): nothing changed" in caplog.text


def test_a_cache_of_other_settings_is_not_used(make_content, tmp_path, caplog):
    """Docs kept with drafts left out are not served to a bot that includes them."""
    root = make_content({
        "ops.md": "# Ops\n\n## Pager rota\n\nWho is on call.\n",
        "wip.md": "---\ndraft: true\n---\n# Work in progress\n\nSoon.\n",
    })  # fmt: skip
    data = tmp_path / "data"
    start(root, data)
    with caplog.at_level(logging.INFO, logger="bot.docs_cache"):
        live = start(root, data, include_drafts=True)
    assert "from other code or settings: not used" in caplog.text
    assert "Work in progress" in [s.name for s in live.current.library.sections]


def test_the_code_digest_changes_with_the_code(tmp_path):
    """A cache written by other code is never read: the digest covers every code and data
    file of the package."""
    import bot

    package = tmp_path / "bot"
    shutil.copytree(Path(bot.__file__).parent, package)
    assert code_digest(package) == code_digest()
    search = package / "engine" / "search.py"
    search.write_text(search.read_text() + "\n# changed\n")
    assert code_digest(package) != code_digest()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_damaged_cache_is_read_around(make_content, tmp_path, caplog, damage):
    """A cache cut short (a full disk, a kill mid-write would leave the temporary file, but
    a copy can cut it), or not a pickle at all: one warning naming it, and the docs are read
    afresh."""
    root = make_content({"ops.md": "# Ops\n\n## Pager rota\n\nWho is on call.\n"})
    data = tmp_path / "data"
    start(root, data)
    path = data / FILE_NAME
    raw = path.read_bytes()
    path.write_bytes(
        {"truncated": raw[: len(raw) // 2], "garbage": b"\x00not a pickle" * 50, "empty": b""}[
            damage
        ]
    )
    with caplog.at_level(logging.INFO, logger="bot.docs_cache"):
        live = start(root, data)
    assert f"docs cache {path} not used, reading the docs afresh" in caplog.text
    assert [s.name for s in live.current.library.sections] == ["Ops", "Pager rota"]
    assert DocsCache(data, ContentSettings(content_dir=root)).read() is not None  # rewritten


class _Planted:
    """What someone with write access to DATA_DIR could plant: a pickle that runs code."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        import os

        return (os.mkdir, (str(self.target),))


def test_a_cache_naming_anything_else_is_not_run(make_content, tmp_path, caplog):
    """A cache file that would call anything but the docs' own types is refused before it
    calls it: nothing it asks for happens, and the warning names what it asked for."""
    root = make_content({"ops.md": "# Ops\n\n## Pager rota\n\nWho is on call.\n"})
    data = tmp_path / "data"
    data.mkdir()
    cache = DocsCache(data, ContentSettings(content_dir=root))
    target = tmp_path / "planted"
    with (data / FILE_NAME).open("wb") as f:
        pickle.dump(cache.key, f, protocol=5)
        pickle.dump(("whole", "idf", _Planted(target)), f, protocol=5)
    with caplog.at_level(logging.INFO, logger="bot.docs_cache"):
        assert cache.read() is None
    assert not target.exists()
    assert "which a docs cache never holds" in caplog.text and "mkdir" in caplog.text


def test_a_data_dir_it_cannot_write_leaves_the_bot_serving(make_content, tmp_path, caplog):
    """DATA_DIR not writable: one warning, and the docs are served all the same."""
    root = make_content({"ops.md": "# Ops\n\n## Pager rota\n\nWho is on call.\n"})
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="bot.docs_cache"):
        live = start(root, blocker / "data")
    assert "could not keep the docs in" in caplog.text
    best = live.current.answer("who is on call").best
    assert best is not None and best.section.name == "Pager rota"


def test_serve_starts_again_on_the_docs_it_kept(fake, make_content, tmp_path):
    """`serve` keeps the docs in DATA_DIR, and reloads an edit in a child process, which
    keeps the edited docs there too; started again on the same folder, it reads them from
    there (one log line), is healthy, and leaves no secret in the cache file."""
    from tests.slack_standin import SocketModeServer, wait_until
    from tests.test_slack_app import TOKEN, free_port, health, serve_process

    def healthy(port: int) -> bool:
        try:
            return health(port) == 200
        except OSError:  # not listening yet
            return False

    root = make_content({"ops.md": "# Ops\n\n## Pager rota\n\nWho is on call.\n"})
    data = tmp_path / "data"
    data.mkdir()
    ws = SocketModeServer()
    fake.ws_url = ws.url
    try:
        for run in ("first", "second"):
            port = free_port()
            proc, err = serve_process(data, fake.api_url, port, CONTENT_DIR=str(root))
            log = Path(err.name)
            try:
                assert wait_until(lambda p=port: healthy(p), timeout=30), log.read_text()
                line = "docs kept in" if run == "first" else "docs cache read: 3 sections"
                said = lambda x=line, f=log: x in f.read_text()  # noqa: E731
                assert wait_until(said, timeout=30), log.read_text()
                if run == "first":
                    (root / "ops.md").write_text("# Ops\n\n## Pager rota\n\nWho.\n\n## Z\n\nz\n")
                    said = lambda f=log: "reloaded (content changed): 3 sections" in f.read_text()  # noqa: E731
                    assert wait_until(said, timeout=30), log.read_text()
                    # A child process keeps the reloaded docs after the bot serves them:
                    # stopped before that, the next start would read the docs before it.
                    kept = lambda f=log: f.read_text().count("docs kept in") == 2  # noqa: E731
                    assert wait_until(kept, timeout=30), log.read_text()
                    assert "child process failed" not in log.read_text()
            finally:
                proc.terminate()
                proc.wait(10)
                err.close()
            assert "Traceback" not in log.read_text()
    finally:
        ws.close()
    raw = (data / FILE_NAME).read_bytes()
    assert TOKEN.encode() not in raw and b"xapp-test-never-real" not in raw


def test_what_a_bot_killed_mid_write_left_is_removed(make_content, tmp_path):
    """A temporary file left by a bot killed while writing (untouched for ten minutes) is
    removed by the next write; one another bot is writing now is left alone."""
    import os

    root = make_content({"ops.md": "# Ops\n\n## Pager rota\n\nWho is on call.\n"})
    data = tmp_path / "data"
    data.mkdir()
    left = data / f"{FILE_NAME}.old-host.4242.tmp"
    writing = data / f"{FILE_NAME}.other-host.1.tmp"
    for path in (left, writing):
        path.write_bytes(b"half a pickle")
    hour_ago = time.time() - 3600
    os.utime(left, (hour_ago, hour_ago))
    start(root, data)
    assert not left.exists() and writing.exists()
    assert (data / FILE_NAME).is_file()


def apart_on(root: Path, data: Path) -> LiveDocs:
    """Docs served as `serve` serves them: reloads built in a child process."""
    live = start(root, data)
    live.apart = 0  # whatever changed
    return live


def test_a_reload_apart_serves_what_a_fresh_start_would(hub, tmp_path, caplog):
    """A reload built in a child process: the index read back equals a fresh start's, the
    edit is answered, a broken file's problem is logged, and the cache holds the new docs;
    what the index makes again of an edit that moves no section is the served index's."""
    data = tmp_path / "data"
    live = apart_on(hub, data)
    before = {s.id: s for s in live.current.library.sections}
    served = live.current.index
    names = dict(served._by_doc)
    (hub / "odd.md").write_text("---\ntitle: [a, list]\n---\n# Odd\n\nx\n")
    changed = sorted(hub.rglob("*.md"))[10]
    rel = changed.relative_to(hub).as_posix()
    with changed.open("a", encoding="utf-8") as f:
        f.write("\n\n## Parking bays\n\nThe zorbulous parking bays are behind building C.\n")
    with caplog.at_level(logging.WARNING, logger="bot.live"):
        assert live.reload("test")
    assert "odd.md:2: front matter 'title' must be text; ignored" in caplog.text
    fresh_library = load_library(hub)
    assert live.current.library.documents == fresh_library.documents
    assert_indexes_equal(live.current.index, build_index(fresh_library), ordered=False)
    # The unchanged files' sections are still the objects served before (not copies read
    # back from the child): memory stays as with a reload in the process.
    unchanged = [s for s in live.current.library.sections if s.path not in (rel, "odd.md")]
    assert unchanged and all(before[s.id] is s for s in unchanged)
    index = live.current.index
    assert all(index._by_doc[s.path] is names[s.path] for s in unchanged)
    best = live.current.answer("where are the zorbulous parking bays").best
    assert best is not None and best.section.name == "Parking bays"
    # An edit that moves no section and says no new word: the ids, parents and terms the
    # index read back makes again or reads are the served index's own (no second copy held).
    served = live.current.index
    with changed.open("a", encoding="utf-8") as f:
        f.write("\nThe zorbulous bays are behind building C.\n")
    assert live.reload("test")
    index = live.current.index
    assert index.ids is served.ids and index.parents is served.parents
    assert index.typo_vocab is served.typo_vocab
    assert all(
        getattr(index, t).terms is getattr(served, t).terms for t in ("postings", "form_postings")
    )
    fresh_library = load_library(hub)
    assert_indexes_equal(index, build_index(fresh_library), ordered=False)
    live.kept(timeout=60)
    kept = DocsCache(data, ContentSettings(content_dir=hub)).read()
    assert kept is not None and kept.library.documents == fresh_library.documents
    assert not list(data.glob("*.tmp"))


def test_a_reload_apart_keeps_the_documents_it_read_too_soon_to_trust(
    make_content, tmp_path, monkeypatch
):
    """Files written just before the start (a fresh checkout) are read again at the next
    reload, once their stamps can be trusted: the same bytes, so the same documents, which
    the reload's child names instead of sending them back (sent, the bot would hold a copy of
    every such file's sections, made while the served ones are still held)."""
    pages = {f"page{i}.md": f"# Page {i}\n\n## Part {i}\n\nText {i}.\n" for i in range(5)}
    root = make_content(pages)
    monkeypatch.setattr(bot.content, "RACY_NS", 10**18)  # every file read too soon
    live = apart_on(root, tmp_path / "data")
    before = {d.path: d for d in live.current.library.documents}
    assert len(before) == 5 and not any(p.stamp for p in live.current.library.parsed.values())
    monkeypatch.setattr(bot.content, "RACY_NS", 0)
    (root / "page0.md").write_text("# Page 0\n\n## Part 0\n\nOther text.\n")
    assert live.reload("test")
    library = live.current.library
    assert all(library.parsed[rel].stamp for rel in before)  # trusted now: not read again
    kept = [d for d in library.documents if d.path != "page0.md"]
    assert len(kept) == 4 and all(before[d.path] is d for d in kept)
    assert live.current.answer("other text").best.section.path == "page0.md"


def test_a_reload_apart_that_changes_nothing_keeps_the_index(make_content, tmp_path, caplog):
    """Nothing changed: the child says so and the index stays."""
    root = make_content({"ops.md": "# Ops\n\n## Pager rota\n\nWho is on call.\n"})
    live = apart_on(root, tmp_path / "data")
    index = live.current.index
    (root / "ops.md").write_text((root / "ops.md").read_text())
    with caplog.at_level(logging.INFO, logger="bot.live"):
        assert live.reload("test")
    assert live.current.index is index and "nothing changed" in caplog.text


def test_a_reload_apart_that_fails_keeps_the_docs_and_says_why(make_content, tmp_path, caplog):
    """The content folder gone, or left with no usable section: the child's reason is
    logged, the docs served stay, and no temporary file is left."""
    root = make_content({"ops.md": "# Ops\n\n## Pager rota\n\nWho is on call.\n"})
    data = tmp_path / "data"
    live = apart_on(root, data)
    (root / "ops.md").write_text("")
    with caplog.at_level(logging.ERROR, logger="bot.live"):
        assert not live.reload("emptied")
    assert "reload (emptied) found no usable sections" in caplog.text
    shutil.rmtree(root)
    with caplog.at_level(logging.ERROR, logger="bot.live"):
        assert not live.reload("gone")
    assert "reload (gone) failed, still serving the previous docs" in caplog.text
    assert "content folder not found" in caplog.text
    best = live.current.answer("who is on call").best
    assert best is not None and best.section.name == "Pager rota"
    assert not list(data.glob("*.tmp"))


def test_a_reload_whose_child_cannot_write_is_done_in_the_process(make_content, tmp_path, caplog):
    """The child cannot write what it built (here its file's name is taken by a folder; a
    full disk would do the same): one warning saying so, and the reload is done in the
    bot's own process instead."""
    import os
    import socket

    root = make_content({"ops.md": "# Ops\n\n## Pager rota\n\nWho is on call.\n"})
    data = tmp_path / "data"
    live = apart_on(root, data)
    (data / f"{FILE_NAME}.reload.{socket.gethostname()}.{os.getpid()}.tmp").mkdir()
    (root / "ops.md").write_text("# Ops\n\n## Pager rota\n\nWho is on call.\n\n## Zorbs\n\nz\n")
    with caplog.at_level(logging.WARNING, logger="bot.live"):
        assert live.reload("test")
    assert "reload (test): its child process failed (IsADirectoryError" in caplog.text
    assert "reloading in this one" in caplog.text
    assert [s.name for s in live.current.library.sections] == ["Ops", "Pager rota", "Zorbs"]


def test_a_cache_the_reload_child_cannot_write_is_written_by_another(
    make_content, tmp_path, caplog
):
    """The reload's child builds the docs but cannot write the whole cache (its file's name
    is taken by a folder; a full disk would do the same): the reload is served all the same,
    the failure is logged, and a child of its own writes the cache instead."""
    import os
    import socket

    root = make_content({"ops.md": "# Ops\n\n## Pager rota\n\nWho is on call.\n"})
    data = tmp_path / "data"
    live = apart_on(root, data)
    blocked = data / f"{FILE_NAME}.reloaded1.{socket.gethostname()}.{os.getpid()}.tmp"
    blocked.mkdir()
    (root / "ops.md").write_text("# Ops\n\n## Pager rota\n\nWho is on call.\n\n## Zorbs\n\nz\n")
    with caplog.at_level(logging.WARNING, logger="bot.live"):
        assert live.reload("test")
        assert [s.name for s in live.current.library.sections] == ["Ops", "Pager rota", "Zorbs"]
        live.kept(timeout=60)
    assert "the reload's process writing the docs cache failed" in caplog.text
    kept = DocsCache(data, ContentSettings(content_dir=root)).read()
    assert kept is not None
    assert [s.name for s in kept.library.sections] == ["Ops", "Pager rota", "Zorbs"]


def test_reloads_faster_than_the_cache_is_kept_leave_the_latest_docs_in_it(
    make_content, tmp_path, monkeypatch, caplog
):
    """Reloads apart come while the cache of an earlier one is still being put in place
    (slowed here): the files of those a later reload supersedes are removed, every reload's
    child is waited for, and the cache ends with the docs served last."""
    import os

    import bot.live

    root = make_content({"ops.md": "# Ops\n\n## Pager rota\n\nWho is on call.\n"})
    data = tmp_path / "data"
    live = apart_on(root, data)
    real_wait = bot.live._Writing.wait

    def slow_wait(self, keep):
        time.sleep(0.5)
        return real_wait(self, keep)

    monkeypatch.setattr(bot.live._Writing, "wait", slow_wait)
    with caplog.at_level(logging.WARNING, logger="bot.live"):
        for k, word in enumerate(("quorvex", "glimmer", "plimsoll", "tidewater")):
            (root / "ops.md").write_text(f"# Ops\n\n## Rota {k}\n\nThe {word} rota.\n")
            assert live.reload(f"edit {k}")
        live.kept(timeout=60)
    assert not caplog.text
    kept = DocsCache(data, ContentSettings(content_dir=root)).read()
    assert kept is not None and [s.name for s in kept.library.sections] == ["Ops", "Rota 3"]
    assert_indexes_equal(kept.index, live.current.index)
    assert not list(data.glob("*.tmp"))
    with pytest.raises(ChildProcessError):  # every child waited for: none left
        os.waitpid(-1, os.WNOHANG)


def test_a_reload_of_a_few_files_stays_in_the_process_and_of_many_goes_to_a_child(
    make_content, tmp_path, monkeypatch
):
    """Where `serve` reloads apart, a reload of no more files than ``apart`` says updates the
    index in the process (no child started: a fraction of a second), and a child of its own
    writes the docs cache; one of more, or of a folder of more than APART_SECTIONS
    sections, builds it in a child, which then writes the cache too (no second child).
    Each then answers from the edits."""
    import os
    import sys

    from bot.live import changed_files, fingerprint

    root = make_content({f"p{k}.md": f"# Page {k}\n\nWords of page {k}.\n" for k in range(5)})
    live = start(root, tmp_path / "data")
    live.apart = 2
    forks: list[str] = []  # who forked
    real_fork = os.fork

    def counted_fork() -> int:
        forks.append(sys._getframe(1).f_code.co_name)
        return real_fork()

    monkeypatch.setattr(os, "fork", counted_fork)
    before = fingerprint(root)
    (root / "p0.md").write_text("# Page 0\n\nThe quorvex rota.\n")
    (root / "p5.md").write_text("# Page 5\n\nThe glimmer rota.\n")
    assert changed_files(before, fingerprint(root)) == 2
    assert live.reload("two files")
    assert live.current.answer("where is the quorvex rota").best.section.path == "p0.md"
    assert live.current.answer("where is the glimmer rota").best.section.path == "p5.md"
    live.kept()  # by a child: the file holds the docs served now
    assert forks == ["_write_apart"]
    kept = DocsCache(tmp_path / "data", ContentSettings(content_dir=root)).read()
    assert kept is not None and kept.library.parsed.keys() == live.current.library.parsed.keys()
    assert_indexes_equal(kept.index, live.current.index)
    before = fingerprint(root)
    for k, word in ((1, "zentral"), (2, "plimsoll")):
        (root / f"p{k}.md").write_text(f"# Page {k}\n\nThe {word} rota.\n")
    (root / "p5.md").unlink()
    assert changed_files(before, fingerprint(root)) == 3
    forks.clear()
    assert live.reload("three files") and forks == ["_read_apart"]
    assert live.current.answer("where is the plimsoll rota").best.section.path == "p2.md"
    assert live.current.answer("where is the glimmer rota").best.section.path != "p5.md"
    live.kept()
    assert forks == ["_read_apart"]  # the reload's child wrote the cache: no other forked
    kept = DocsCache(tmp_path / "data", ContentSettings(content_dir=root)).read()
    assert kept is not None
    assert_indexes_equal(kept.index, live.current.index)
    import bot.live

    monkeypatch.setattr(bot.live, "APART_SECTIONS", 3)  # a large folder: one file apart too
    (root / "p3.md").write_text("# Page 3\n\nThe tidewater rota.\n")
    assert live.reload("one file of many sections") and forks == ["_read_apart"] * 2
    assert live.current.answer("where is the tidewater rota").best.section.path == "p3.md"
