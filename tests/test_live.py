"""Content reload without restart: on change, on SIGHUP; a failed reload keeps the last good."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from bot.config import ContentSettings
from bot.content import load_library
from bot.live import LiveDocs
from bot.slack.server import reload_on_sighup
from tests.slack_standin import wait_until


def live_on(root: Path) -> LiveDocs:
    settings = ContentSettings(content_dir=root)
    return LiveDocs.load(settings, load_library(root))


def best_name(live: LiveDocs, question: str) -> str | None:
    answer = live.current.index.answer(question)
    return answer.best.section.name if answer.best else None


def test_edit_is_picked_up_by_the_watcher(make_content):
    """Editing a document changes the answers within a few seconds, no restart."""
    root = make_content({"ops.md": "# Ops\n\n## Pager rota\n\nWho is on call.\n"})
    live = live_on(root)
    live.watch(interval=0.1)
    try:
        assert best_name(live, "budget") is None
        (root / "ops.md").write_text("# Ops\n\n## Pager rota\n\nx\n\n## Budget\n\nMoney.\n")
        assert wait_until(lambda: best_name(live, "budget") == "Budget")
        (root / "new.md").write_text("# Holidays\n\nVacation rules.\n")
        assert wait_until(lambda: best_name(live, "holidays vacation") == "Holidays")
    finally:
        live.stop()


def test_category_label_edit_is_picked_up(make_content):
    """Renaming a folder's sidebar category (its _category_.json) reloads too."""
    root = make_content(
        {"team/_category_.json": '{"label": "Platform"}', "team/ops.md": "# Ops\n\n## Rota\n\nx\n"}
    )
    live = live_on(root)
    live.watch(interval=0.1)
    try:
        rota = next(s for s in live.current.library.sections if s.name == "Rota")
        assert rota.context[0] == "Platform"
        (root / "team/_category_.json").write_text('{"label": "Infrastructure crew"}')
        assert wait_until(
            lambda: (
                next(s for s in live.current.library.sections if s.name == "Rota").context[0]
                == "Infrastructure crew"
            )
        )
    finally:
        live.stop()


def test_failed_reload_keeps_last_good_and_logs(make_content, caplog):
    """Content with no usable section does not replace the index; the log says why."""
    root = make_content({"ops.md": "# Ops\n\n## Pager rota\n\nWho is on call.\n"})
    live = live_on(root)
    before = live.current
    (root / "ops.md").unlink()
    (root / "empty.md").write_text("---\ntitle: Nothing\n---\n")
    with caplog.at_level(logging.WARNING, logger="bot.live"):
        assert live.reload("test") is False
    assert live.current is before
    assert best_name(live, "pager rota") == "Pager rota"
    assert "empty.md:4: empty document" in caplog.text and "previous docs" in caplog.text


def test_sighup_reloads(make_content):
    """SIGHUP makes the bot read its content again."""
    root = make_content({"a.md": "# Alpha\n\nFirst.\n"})
    live = live_on(root)
    previous = signal.getsignal(signal.SIGHUP)
    try:
        reload_on_sighup(live)
        (root / "b.md").write_text("# Bravo\n\nSecond.\n")
        os.kill(os.getpid(), signal.SIGHUP)
        assert wait_until(lambda: live.reloads == 1)
        assert best_name(live, "bravo") == "Bravo"
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_requests_never_see_a_half_built_index(make_content):
    """While reloads run, every read gets a complete library+index pair."""
    root = make_content({"a.md": "# Alpha\n\nFirst.\n"})
    live = live_on(root)

    stop = threading.Event()
    errors: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            snap = live.current
            if len(snap.index) != len(snap.library.sections):
                errors.append("mismatch")
            time.sleep(0.0005)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for n in range(20):
        (root / f"d{n}.md").write_text(f"# Doc {n}\n\nText {n}.\n")
        live.reload("test")
    stop.set()
    for t in threads:
        t.join()
    assert errors == [] and live.reloads == 20
    assert len(live.current.library.documents) == 21


def test_a_reload_frees_the_previous_index_without_the_collector(make_content):
    """The index a reload replaces is freed (a chunk at a time, in the background) once no
    request holds it, without waiting for Python's cyclic collector (which would keep a big
    corpus's index twice in memory and then pause to scan it)."""
    import gc
    import weakref

    root = make_content({"ops.md": "# Ops\n\n## Pager rota\n\nWho is on call.\n"})
    live = live_on(root)
    old = live.current.index
    old.answer("pagre rota")  # a typo: fills the typo cache as a real question would
    gone = weakref.ref(old)
    del old
    enabled = gc.isenabled()
    gc.disable()
    try:
        (root / "ops.md").write_text("# Ops\n\n## Pager rota\n\nWho is on call at night.\n")
        assert live.reload("test")
        assert wait_until(lambda: gone() is None, timeout=10)
    finally:
        if enabled:
            gc.enable()


def test_a_broken_file_keeps_what_was_last_read_from_it(make_content, caplog):
    """A document or synonyms file that breaks (bad bytes, bad YAML) is not dropped on
    reload: the bot keeps answering from what it last read, and the log says so."""
    root = make_content({
        "ops.md": "# Ops\n\n## Pager rota\n\nWho is on call.\n",
        "team.md": "# Team\n\n## Lunch\n\nWhere we eat.\n",
        "synonyms.yml": "synonyms:\n  rota: [zorblax]\n",
    })  # fmt: skip
    live = live_on(root)
    assert best_name(live, "zorblax") == "Pager rota"
    (root / "ops.md").write_bytes(b"\xff\xfe not utf-8")
    (root / "synonyms.yml").write_text("synonyms: [unclosed\n")
    (root / "team.md").write_text("# Team\n\n## Lunch\n\nWhere we eat.\n\n## Gym\n\nDownstairs.\n")
    with caplog.at_level(logging.WARNING, logger="bot.live"):
        assert live.reload("test") is True
    assert best_name(live, "where is the gym") == "Gym"  # the good edit is in
    assert best_name(live, "pager rota") == "Pager rota"
    assert best_name(live, "zorblax") == "Pager rota"  # the owner's synonym is kept
    assert "ops.md:1: not UTF-8 (byte 0); still answering from the version read before" in (
        caplog.text
    )
    assert "synonyms.yml:2: not valid YAML" in caplog.text
    assert "still using the 1 synonym(s) and the phrasings read from it before" in caplog.text
    # Another edit: the problems still stand, and are not said again at every reload.
    caplog.clear()
    (root / "team.md").write_text("# Team\n\n## Lunch\n\nWhere we eat at noon.\n")
    with caplog.at_level(logging.INFO, logger="bot.live"):
        assert live.reload("test") is True
    assert "not UTF-8" not in caplog.text and "not valid YAML" not in caplog.text
    assert "problem(s) logged before still stand" in caplog.text
    assert best_name(live, "pager rota") == "Pager rota"


def test_a_reload_parses_only_what_changed_and_indexes_as_a_fresh_start(tmp_path, caplog):
    """A reload parses again only the files whose bytes changed, and keeps the sections of
    the others (the same objects), and their problems (counted in the log, not repeated);
    the index it builds holds exactly what a fresh start's does, so the answers are the
    same."""
    import shutil

    from bot.engine.search import build_index
    from tests.conftest import KNOWLEDGEHUB, assert_indexes_equal

    if not KNOWLEDGEHUB.is_dir():
        pytest.skip("shared corpus not present")
    root = tmp_path / "hub"
    shutil.copytree(KNOWLEDGEHUB, root)
    (root / "odd.md").write_text("---\ntitle: [a, list]\n---\n# Odd\n\nx\n")
    live = live_on(root)
    before = {s.id: s for s in live.current.library.sections}
    changed = sorted(root.rglob("*.md"))[10]
    rel = changed.relative_to(root).as_posix()
    with changed.open("a", encoding="utf-8") as f:
        f.write("\n\n## Parking bays\n\nThe zorbulous parking bays are behind building C.\n")
    with caplog.at_level(logging.INFO, logger="bot.live"):
        assert live.reload("test")
    assert "odd.md" not in caplog.text  # said at the start, and still so: counted
    assert "reload (test): 1 problem(s) logged before still stand" in caplog.text
    after = live.current
    kept = [s for s in after.library.sections if s.path != rel]
    assert kept and all(before[s.id] is s for s in kept)
    assert all(before.get(s.id) is not s for s in after.library.sections if s.path == rel)

    fresh_library = load_library(root)
    assert [str(p) for p in after.library.problems] == [str(p) for p in fresh_library.problems]
    assert_indexes_equal(after.index, build_index(fresh_library), ordered=False)
    assert best_name(live, "where are the zorbulous parking bays") == "Parking bays"


def test_a_reload_parses_a_file_again_when_its_questions_change(make_content):
    """A file's bytes are not all its parse reads: questions for it in synonyms.yml (and its
    folder's label, see above) change its sections too, and a reload picks them up."""
    root = make_content({
        "ops.md": "# Ops\n\n## Pager rota\n\nWho is on call.\n",
        "synonyms.yml": "questions:\n  ops.md:\n    Pager rota: [who carries the beeper]\n",
    })  # fmt: skip
    live = live_on(root)
    rota = next(s for s in live.current.library.sections if s.name == "Pager rota")
    assert rota.phrasings == ("who carries the beeper",)
    (root / "synonyms.yml").write_text("questions:\n  ops.md:\n    Pager rota: [who is paged]\n")
    assert live.reload("test")
    rota = next(s for s in live.current.library.sections if s.name == "Pager rota")
    assert rota.phrasings == ("who is paged",)


def test_the_docs_are_taken_out_of_the_collectors_rounds_at_load_and_reload(make_content):
    """The sections and the index (most of a big bot's objects) are out of the cyclic
    collector's rounds after a load and after each reload: a full round walks every object
    it tracks while no request can be acknowledged (a third of a second at 100,000
    sections). What a reload replaces is still freed (see above)."""
    import gc

    root = make_content({"ops.md": "# Ops\n\n## Pager rota\n\nWho is on call.\n"})
    live = live_on(root)

    def tracked() -> set[int]:
        return {id(o) for o in gc.get_objects()}

    def docs_objects() -> set[int]:
        held = live.current
        return {id(held.library.documents), id(held.library.documents[0].sections[-1]),
                id(held.index.lengths), id(held.index.idf)}  # fmt: skip

    assert docs_objects() and not docs_objects() & tracked()
    (root / "ops.md").write_text("# Ops\n\n## Pager rota\n\nx\n\n## Budget\n\nMoney.\n")
    assert live.reload("test")
    assert len(live.current.library.sections) == 3
    assert not docs_objects() & tracked()


def test_docs_a_request_still_answers_with_are_freed_only_after_it(make_content):
    """A request that read the docs before a reload keeps answering with them: they are
    freed only once it lets them go, and then without the cyclic collector."""
    import gc
    import weakref

    root = make_content({"ops.md": "# Ops\n\n## Pager rota\n\nWho is on call.\n"})
    live = live_on(root)
    in_flight = live.current  # a request answering while the reload swaps the docs
    gone = weakref.ref(in_flight.index)
    (root / "ops.md").write_text("# Ops\n\n## Pager rota\n\nWho is on call at night.\n")
    enabled = gc.isenabled()
    gc.disable()
    try:
        assert live.reload("test")
        time.sleep(0.2)
        assert gone() is not None
        best = in_flight.index.answer("who is on call").best
        assert best is not None and best.section.name == "Pager rota"
        del in_flight, best
        assert wait_until(lambda: gone() is None, timeout=10)
    finally:
        if enabled:
            gc.enable()
