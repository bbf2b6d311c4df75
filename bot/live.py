"""The docs in service: the current library, its index and (with a sentence model) its
sections' vectors, reloaded when the content changes (in `serve`, built in a child process
and passed back through the docs cache). Vectors the cache lacks are embedded in the
background; until they are ready the docs are answered lexically."""

from __future__ import annotations

import atexit
import gc
import logging
import os
import pickle
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

from bot.config import ContentSettings
from bot.content import (
    CATEGORY_FILE,
    DOC_SUFFIXES,
    SYNONYMS_FILE,
    ContentError,
    Library,
    is_read_folder,
    load_library,
    same_docs,
)
from bot.docs_cache import UNUSABLE, DocsCache, Kept, discard, restricted_loads
from bot.engine.embed import (
    OFF,
    Model,
    ModelError,
    Texts,
    VectorCache,
    embed_library,
    load_model,
)
from bot.engine.search import Answer, Dense, Index, build_index
from bot.process import (
    close_inherited,
    collector_paused,
    give_back_memory,
    map_large_blocks_apart,
)

log = logging.getLogger("bot.live")

#: How often the content folder is checked for changes, in seconds.
WATCH_INTERVAL = 2.0


#: How much lower than the bot's a reload's child process is scheduled (see os.nice).
CHILD_NICENESS = 10
#: A reload that finds more document files than this added, changed or removed is done in a
#: child process where `serve` allows it (``_read_apart``): the index is then mostly built
#: again, seconds of interpreter time at 100,000 sections. Fewer are updated in the process,
#: where the unchanged sections' postings are kept (bot.engine.index): a fraction of a second.
APART_FILES = 50
#: ... and so is any reload of more sections than this: updating 100,000 sections in the
#: process kept the acknowledgements waiting (bench/load.py --open 10 30 --reload 100000:
#: DM p99 67 ms, against 15 in a child).
APART_SECTIONS = 20_000

#: While embedding, progress is logged at most this often, in seconds.
PROGRESS_EVERY = 10.0


@contextmanager
def built_to_last() -> Iterator[None]:
    """Pause the cyclic garbage collector while the docs are read and indexed, and take
    what was built out of its rounds (``gc.freeze``) before it resumes. A round walks every
    object it tracks while no other thread runs: a full one over the docs took 0.38 s at
    100,000 sections, 0.002 s once they were frozen (bench/pauses.py), and no Slack request
    is acknowledged meanwhile. Frozen objects are still freed when nothing
    refers to them any more (the index a reload replaces holds no reference cycle); only a
    cycle alive at the moment of freezing is never collected."""
    with collector_paused():
        try:
            yield
        finally:
            gc.freeze()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A library, the index built from it and its sections' vectors (once embedded), always
    swapped together."""

    library: Library
    index: Index
    dense: Dense | None = None

    def answer(self, question: str) -> Answer:
        """The engine's answer: hybrid once the vectors are ready, lexical until then (and
        for a question the model fails on, logged)."""
        if self.dense is not None:
            try:
                return self.index.answer(question, dense=self.dense)
            except Exception:  # onnxruntime's and tokenizers' own errors: answer anyway
                log.exception("the sentence model failed on a question; answered lexically")
        return self.index.answer(question)


#: Objects a replaced snapshot's parts are freed by at a time (see release_gradually).
RELEASE_CHUNK = 200
#: How long release_gradually waits for requests still answering with the replaced docs.
RELEASE_WAIT = 60.0


def release_gradually(box: list[Snapshot]) -> threading.Thread:
    """Free the docs a reload replaced (the one snapshot in ``box``, taken out of it) a little
    at a time, in a background thread. Freed at once, the replaced index (and the sections
    of the files that changed) hold the interpreter while their objects are freed one by
    one, and every acknowledgement due then waits.

    The thread first waits (up to RELEASE_WAIT) until no request still answers with the old
    docs, then holds their parts itself, lets the containers go, and drops the parts a chunk
    at a time."""
    thread = threading.Thread(target=_release, args=(box,), name="release-docs", daemon=True)
    thread.start()
    return thread


def _release(box: list[Snapshot]) -> None:
    snapshot = box.pop()  # now the only reference but the requests' still answering with it
    waited = time.monotonic() + RELEASE_WAIT
    while sys.getrefcount(snapshot) > 2 and time.monotonic() < waited:
        time.sleep(0.01)
    parts: list = []
    library = snapshot.library
    for value in (library.documents, library.parsed, library.name_counts,
                  library.title_counts, *vars(snapshot.index).values()):  # fmt: skip
        if isinstance(value, dict):
            parts += value
            parts += value.values()
        elif isinstance(value, (list, tuple, set, frozenset)):
            parts += value
    del snapshot, library, value  # the containers go; what they held is still in parts
    while parts:
        del parts[-RELEASE_CHUNK:]
        time.sleep(0)  # let a waiting thread (an acknowledgement) run
    give_back_memory()


def _tell(fd: int, what: tuple) -> None:
    """Write ``what`` (pickled) to a reload's pipe, all of it (a write may take part)."""
    data = memoryview(pickle.dumps(what))
    while data:
        data = data[os.write(fd, data) :]


class _Writing(NamedTuple):
    """A reload's child process writing the whole docs cache to ``path`` (see _read_apart)."""

    pid: int
    path: Path

    def wait(self, keep: Path | None) -> bool:
        """Wait for the child to end; then put its file at ``keep`` if it wrote it whole
        (True), else remove it (False; a failure said in the log)."""
        _, status = os.waitpid(self.pid, 0)
        if keep is not None and status == 0:
            try:
                size = self.path.stat().st_size
                os.replace(self.path, keep)
                log.info("docs kept in %s (%.0f MB) by the reload's process", keep, size / 1e6)
                return True
            except OSError as err:
                log.warning("could not keep the docs in %s: %s", keep, err)
        elif status:
            log.warning("the reload's process writing the docs cache failed (wait status %d)",
                        status)  # fmt: skip
        discard(self.path)
        return False


class _NotApart(Exception):
    """A reload's child process could not do its part (the docs themselves may be fine)."""


class _Superseded(Exception):
    """The docs being embedded were replaced by a reload."""


class Semantic:
    """A sentence model and its vector cache, shared by every snapshot of the docs."""

    def __init__(self, model: Model, cache_dir: Path | None) -> None:
        self.model = model
        self.cache = VectorCache(cache_dir, model.digest)
        self.embedded, self.total = 0, 0  # texts of the docs being embedded
        self.failed = False  # the model failed on the docs: answered lexically from then on

    def vectors(
        self,
        library: Library,
        progress: Callable[[int, int], None] | None = None,
        texts: Texts | None = None,
    ):
        """The library's section vectors (embedding what the cache lacks)."""

        def tick(done: int, total: int) -> None:
            self.embedded, self.total = done, total
            if progress:
                progress(done, total)

        return embed_library(self.model, library, self.cache, tick, texts=texts)

    def share(self) -> float:
        """The share of the current docs' texts embedded (1.0 when nothing is left)."""
        return self.embedded / self.total if self.total else 1.0


def fingerprint(root: Path) -> tuple:
    """What changes when a document, a folder's _category_.json or the synonyms file is added,
    edited or removed."""
    items = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if is_read_folder(d))
        for name in sorted(filenames):
            if name.lower().endswith(DOC_SUFFIXES) or name in (SYNONYMS_FILE, CATEGORY_FILE):
                path = os.path.join(dirpath, name)
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                items.append((path, st.st_mtime_ns, st.st_size))
    return tuple(items)


def become_child(keep: int | None = None) -> None:
    """In a process forked to do the bot's heavy work: close every inherited descriptor but
    the standard streams and ``keep`` (``close_inherited``), then step below the bot in the
    CPU's queue: on a busy machine its acknowledgements and answers come first, and the
    child's work takes longer."""
    close_inherited(keep)
    os.nice(CHILD_NICENESS)


def changed_files(before: tuple, after: tuple) -> int:
    """How many files two fingerprints (``fingerprint``) say were added, changed or removed."""
    old = {path: rest for path, *rest in before}
    new = {path: rest for path, *rest in after}
    return sum(old.get(path) != rest for path, rest in new.items()) + len(old.keys() - new)


def open_semantic(
    settings: ContentSettings,
    data_dir: Path | None,
    threads: int = 1,
    warn: Callable[[str], None] | None = None,
) -> Semantic | None:
    """The sentence model EMBEDDING_MODEL names, with its vector cache in
    ``data_dir/embeddings``; None, said in one line (to the log, or to ``warn``), when it is
    off or cannot be used."""
    if settings.embedding_model == OFF:
        log.info("semantic search off (EMBEDDING_MODEL=off): answering lexically")
        return None
    try:
        model = load_model(settings.embedding_model, threads)
    except ModelError as err:
        message = f"semantic search off, answering lexically: {err}"
        (warn or log.warning)(message)
        return None
    log.info("semantic search with %s", model.name)
    return Semantic(model, data_dir / "embeddings" if data_dir else None)


class LiveDocs:
    """Serves the last good snapshot; a reload that fails keeps it and logs why."""

    def __init__(
        self,
        settings: ContentSettings,
        snapshot: Snapshot,
        semantic: Semantic | None = None,
        cache: DocsCache | None = None,
    ) -> None:
        self._settings = settings
        self._snapshot = snapshot
        self.semantic = semantic
        self._cache = cache
        self._keeping = threading.Lock()
        #: The docs the cache is to be written with next, and the reload's child writing them.
        self._to_keep: tuple[Snapshot, _Writing | None] | None = None
        self._superseded: list[_Writing] = []  # reloads' children whose file is not wanted
        self._apart_runs = 0  # reloads done in a child process
        self._keeper: threading.Thread | None = None
        #: Reload in a child process (``_read_apart``) when more files than this changed:
        #: `serve` sets it (APART_FILES) where it can fork; None: never.
        self.apart: int | None = None
        self._releasing: threading.Thread | None = None  # freeing the docs last replaced
        self._embedding = threading.Lock()  # one embedding run at a time
        self._lock = threading.Lock()  # one reload at a time; readers never wait
        self._stop = threading.Event()
        self._embedder: threading.Thread | None = None
        self._seen = fingerprint(settings.content_dir)
        self.reloads = 0
        self.on_reload: Callable[[bool], None] = lambda ok: None

    @classmethod
    def load(
        cls,
        settings: ContentSettings,
        library: Library,
        semantic: Semantic | None = None,
        *,
        wait: bool = False,
        progress: Callable[[int, int], None] | None = None,
        kept: Kept | None = None,
        cache: DocsCache | None = None,
    ) -> LiveDocs:
        """Start serving an already loaded library. With a sentence model, its vectors are
        embedded now (``wait``: one-shot commands, so that they answer as the warm bot does)
        or in the background (``serve``: answered lexically meanwhile).

        ``kept`` is what ``cache`` held (the library was read with ``previous=kept.library``):
        its index is taken as it is when no file changed, else each unchanged section's keys
        are. The docs are then kept in ``cache`` for the next start (in the background)."""
        with built_to_last():
            if kept is not None and same_docs(library, kept.library):
                snapshot, built = Snapshot(kept.library, kept.index), False
            else:
                index = build_index(library, kept.index if kept is not None else None)
                snapshot, built = Snapshot(library, index), True
            live = cls(settings, snapshot, semantic, cache)
        give_back_memory()
        # From here on (the build's many temporaries made), the arrays of every index a
        # reload replaces are given back to the system as soon as they are freed.
        map_large_blocks_apart()
        if built:
            live._keep(snapshot)
        if semantic is not None:
            if wait:
                live._embed(live._snapshot, progress)
            else:
                live._embed_later(live._snapshot)
        return live

    @property
    def semantic_state(self) -> str:
        """ "off" (no sentence model), "warming" (vectors being embedded) or "ready"."""
        if self.semantic is None or self.semantic.failed:
            return "off"
        return "ready" if self._snapshot.dense is not None else "warming"

    def _embed_later(self, snapshot: Snapshot) -> None:
        """Embed a snapshot's sections in a daemon thread (or at once when all are cached)."""
        assert self.semantic is not None
        texts = Texts.of(snapshot.library)
        missing = len(texts.missing(self.semantic.cache))
        if not missing:
            self._embed(snapshot, texts=texts)
            return
        self.semantic.embedded, self.semantic.total = 0, missing
        if self._embedder is None:
            # The model must not be running when the interpreter exits (onnxruntime then
            # aborts the process): stop and wait for the embedder first.
            atexit.register(self.stop)
        self._embedder = threading.Thread(
            target=self._embed, args=(snapshot, None, texts), name="embedder", daemon=True
        )
        self._embedder.start()

    def _embed(
        self,
        snapshot: Snapshot,
        progress: Callable[[int, int], None] | None = None,
        texts: Texts | None = None,
    ) -> None:
        """Embed a snapshot's sections and swap its vectors in, unless a reload replaced it
        meanwhile. Progress goes to the log (and to ``progress``)."""
        assert self.semantic is not None
        start = last = time.monotonic()

        def tick(done: int, total: int) -> None:
            nonlocal last
            if self._snapshot.library is not snapshot.library or self._stop.is_set():
                raise _Superseded
            if progress:
                progress(done, total)
            if total and time.monotonic() - last >= PROGRESS_EVERY:
                last = time.monotonic()
                log.info("embedding sections: %d of %d texts (%d%%)", done, total,
                         100 * done // total)  # fmt: skip

        with self._embedding:
            try:
                vectors = self.semantic.vectors(snapshot.library, tick, texts)
            except _Superseded:
                return
            except Exception:  # a model that fails leaves the docs answered lexically
                log.exception("embedding the sections failed; semantic search off")
                self.semantic.failed = True
                return
            with self._lock:
                if self._snapshot is not snapshot:
                    return
                self._snapshot = replace(snapshot, dense=Dense(self.semantic.model, vectors))
        log.info(
            "semantic search ready: %d sections, %d vectors (%.1f MB) in %.1f s",
            len(snapshot.library.sections),
            vectors.matrix.shape[0],
            vectors.nbytes / 1e6,
            time.monotonic() - start,
        )

    @property
    def current(self) -> Snapshot:
        """The snapshot to answer this request with (read once per request)."""
        return self._snapshot

    def reload(self, reason: str = "requested") -> bool:
        """Read the content again; swap it in only if it has usable sections."""
        ok = self._reload(reason)
        self.on_reload(ok)
        return ok

    def _read(self) -> tuple[Library, Index | None]:
        """The docs read again and, unless they are the same or have no section, indexed."""
        library = load_library(
            self._settings.content_dir,
            include_drafts=self._settings.include_drafts,
            base_url=self._settings.docs_base_url,
            previous=self._snapshot.library,
            name=self._settings.docs_name,
        )
        if not library.sections or same_docs(library, self._snapshot.library):
            return library, None
        return library, build_index(library, self._snapshot.index)

    def _read_apart(self) -> tuple[Library, Index | None, _Writing | None]:
        """``_read`` in a child process (forked: it starts from this one's docs), which
        writes what it built in the docs cache's format for this process, naming only the
        files' parses it already holds; this process then reads it a piece at a time (the
        unchanged sections stay the objects they are, as in ``_read``). The build's seconds
        of interpreter time are the child's, not taken from the threads acknowledging
        Slack's requests. Once it has said so, the child goes on to write the whole docs
        cache (the _Writing returned, which ``_keep`` waits for): the reload does not wait on
        it, and no other process is forked to write it. Raises ContentError for docs that
        cannot be read (as ``_read`` does), _NotApart when the child cannot do its part (a
        full disk, say)."""
        assert self._cache is not None and self._cache.path is not None
        # The whole cache's file is one a reload: a child may still be writing the last's.
        self._apart_runs += 1
        out = self._cache.scratch("reload")
        whole = self._cache.scratch(f"reloaded{self._apart_runs}")
        served = Kept(self._snapshot.library, self._snapshot.index)  # the child's previous
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            reader, writer = os.pipe()
            pid = os.fork()
        except OSError as err:  # no memory or process left for a child
            raise _NotApart(f"cannot start it: {err}") from err
        if pid == 0:  # the child: nothing here may return to the caller
            code, told = 1, False
            try:
                become_child(keep=writer)
                with collector_paused():
                    try:
                        library, index = self._read()
                    except (ContentError, OSError) as err:
                        said: tuple = ("unreadable", str(err))
                    else:
                        if index is not None:
                            self._cache.dump(out, library, index, served)
                            said = ("built",)
                        else:
                            said = ("read", library.problems, bool(library.sections))
                    _tell(writer, said)
                    told = True
                    os.close(writer)  # the bot reads on from here
                    if said[0] == "built":
                        self._cache.dump(whole, library, index)
                code = 0
            except BaseException as err:  # told to the parent, which logs it
                if not told:
                    _tell(writer, ("failed", f"{type(err).__name__}: {err}"))
                else:  # the docs cache, after the bot has the docs: said here, it waits
                    log.warning("could not keep the docs in %s: %s: %s", self._cache.path,
                                type(err).__name__, err)  # fmt: skip
            finally:
                os._exit(code)
        os.close(writer)
        with os.fdopen(reader, "rb") as f:
            message = f.read()  # until the child has said it (and closed its end)
        try:
            said = restricted_loads(message) if message else ("failed", "it said nothing")
        except UNUSABLE as err:
            said = ("failed", f"it said something unreadable ({err})")
        if said[0] != "built":
            _, status = os.waitpid(pid, 0)
            if not message:
                said = ("failed", f"it said nothing (wait status {status})")
        if said[0] in ("failed", "unreadable"):
            discard(out)
            if said[0] == "unreadable":
                raise ContentError(said[1])
            raise _NotApart(said[1])
        if said[0] == "read":
            _, problems, has_sections = said
            library = replace(self._snapshot.library, problems=problems)
            return (library if has_sections else replace(library, documents=())), None, None
        writing = _Writing(pid, whole)
        try:
            library, index = self._cache.load(out, served)
        except Exception as err:
            writing.wait(keep=None)
            raise _NotApart(f"could not read back what it built: {err}") from err
        finally:
            discard(out)
        return library, index, writing

    def _read_somewhere(
        self, reason: str, changed: int
    ) -> tuple[Library, Index | None, _Writing | None]:
        """``_read_apart`` where ``apart`` is set, more files than it says ``changed`` (or
        more sections than APART_SECTIONS are served) and the child can do its part; else,
        or when it cannot (said in the log), ``_read`` in this process."""
        large = len(self._snapshot.index) > APART_SECTIONS
        if self.apart is not None and (changed > self.apart or large):
            try:
                return self._read_apart()
            except _NotApart as why:
                log.warning("reload (%s): its child process failed (%s); reloading in this one",
                            reason, why)  # fmt: skip
        return (*self._read(), None)

    def _reload(self, reason: str) -> bool:
        with self._lock:
            root = self._settings.content_dir
            before, self._seen = self._seen, fingerprint(root)
            try:
                with built_to_last():
                    changed = changed_files(before, self._seen)
                    library, index, writing = self._read_somewhere(reason, changed)
                unchanged = index is None and same_docs(library, self._snapshot.library)
            except (ContentError, OSError) as err:
                log.error("reload (%s) failed, still serving the previous docs: %s", reason, err)
                return False
            # The problems this reload found: each once, when it is new (a docs folder with
            # hundreds of warnings would repeat them all at every edit), the rest counted.
            known = set(self._snapshot.library.problems)
            new = [p for p in library.problems if p not in known]
            for problem in new:
                log.warning("reload (%s): %s", reason, problem)
            if len(new) < len(library.problems):
                log.info("reload (%s): %d problem(s) logged before still stand (`check` lists"
                         " them all)", reason, len(library.problems) - len(new))  # fmt: skip
            if unchanged:
                self.reloads += 1
                log.info("reloaded (%s): nothing changed", reason)
                return True
            if index is None:
                log.error(
                    "reload (%s) found no usable sections in %s; still serving the previous docs",
                    reason,
                    root,
                )
                return False
            replaced = [self._snapshot]
            self._snapshot = Snapshot(library, index)
            self._releasing = release_gradually(replaced)
            give_back_memory()
            self.reloads += 1
            self._keep(self._snapshot, writing)
            log.info("reloaded (%s): %d sections", reason, len(index))
        if self.semantic is not None:
            self._embed_later(self._snapshot)
        return True

    def _keep(self, snapshot: Snapshot, writing: _Writing | None = None) -> None:
        """Write these docs to the cache in a background thread (in `serve`, by a child
        process: ``_write_apart``), or put in place the file ``writing`` (a reload's child)
        writes them to: after the write under way (if any), and only the latest docs when
        several reloads came meanwhile."""
        if self._cache is None:
            return
        with self._keeping:
            if self._to_keep is not None and self._to_keep[1] is not None:
                self._superseded.append(self._to_keep[1])  # its file is not wanted now
            self._to_keep = (snapshot, writing)
            if self._keeper is None:
                self._keeper = threading.Thread(target=self._keep_all, name="docs-cache",
                                                daemon=True)  # fmt: skip
                self._keeper.start()

    def _keep_all(self) -> None:
        assert self._cache is not None
        while True:
            with self._keeping:
                job, self._to_keep = self._to_keep, None
                superseded, self._superseded = self._superseded, []
                if job is None and not superseded:
                    self._keeper = None
                    return
            for writing in superseded:
                writing.wait(keep=None)
            if job is None:
                continue
            snapshot, writing = job
            try:
                if writing is not None and writing.wait(keep=self._cache.path):
                    continue
                if self.apart is not None:
                    self._write_apart(snapshot)
                else:
                    self._cache.write(snapshot.library, snapshot.index)
            except Exception:  # the docs are served all the same; the next start reads them
                log.exception("could not keep the docs in %s", self._cache.path)

    def _write_apart(self, snapshot: Snapshot) -> None:
        """``DocsCache.write`` in a child process (forked, it holds these docs as they are):
        written here, the pickling would hold the interpreter for a second at 100,000
        sections, in slices of tens of milliseconds that acknowledgements wait on. Written
        here when no child can start."""
        assert self._cache is not None
        try:
            pid = os.fork()
        except OSError as err:
            log.warning("no process to keep the docs in (%s): kept by this one", err)
            self._cache.write(snapshot.library, snapshot.index)
            return
        if pid == 0:  # the child: nothing here may return to the caller
            code = 1
            try:
                become_child()
                with collector_paused():
                    self._cache.write(snapshot.library, snapshot.index)
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if status:
            log.warning("the process keeping the docs in %s failed (wait status %d)",
                        self._cache.path, status)  # fmt: skip

    def released(self, timeout: float | None = None) -> None:
        """Wait until the docs the last reload replaced are freed (for benchmarks)."""
        if self._releasing is not None:
            self._releasing.join(timeout)

    def kept(self, timeout: float | None = None) -> None:
        """Wait until the docs are written to the cache (for tests and benchmarks)."""
        while (keeper := self._keeper) is not None:
            keeper.join(timeout)
            if keeper.is_alive():
                return

    def watch(self, interval: float = WATCH_INTERVAL) -> threading.Thread:
        """Poll the content folder in a daemon thread and reload when it changes."""

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    if fingerprint(self._settings.content_dir) != self._seen:
                        self.reload("content changed")
                except Exception:  # the watcher must outlive any one bad reload
                    log.exception("content watcher failed; it keeps watching")

        thread = threading.Thread(target=loop, name="content-watcher", daemon=True)
        thread.start()
        return thread

    def stop(self, timeout: float = 30) -> None:
        """Stop watching, and embedding (waiting up to ``timeout`` seconds for the batch the
        model is on)."""
        self._stop.set()
        embedder = self._embedder
        if embedder is not None and embedder is not threading.current_thread():
            embedder.join(timeout)
