"""The docs in service: the current library and index, reloaded when the content changes."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.config import ContentSettings
from bot.content import (
    CATEGORY_FILE,
    DOC_SUFFIXES,
    SYNONYMS_FILE,
    ContentError,
    Library,
    load_library,
)
from bot.engine.search import Index, build_index

log = logging.getLogger("bot.live")

#: How often the content folder is checked for changes, in seconds.
WATCH_INTERVAL = 2.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A library and the index built from it, always swapped together."""

    library: Library
    index: Index


def fingerprint(root: Path) -> tuple:
    """What changes when a document, a folder's _category_.json or the synonyms file is added,
    edited or removed."""
    items = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.lower().endswith(DOC_SUFFIXES) or name in (SYNONYMS_FILE, CATEGORY_FILE):
                path = os.path.join(dirpath, name)
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                items.append((path, st.st_mtime_ns, st.st_size))
    return tuple(items)


class LiveDocs:
    """Serves the last good snapshot; a reload that fails keeps it and logs why."""

    def __init__(self, settings: ContentSettings, snapshot: Snapshot) -> None:
        self._settings = settings
        self._snapshot = snapshot
        self._lock = threading.Lock()  # one reload at a time; readers never wait
        self._stop = threading.Event()
        self._seen = fingerprint(settings.content_dir)
        self.reloads = 0
        self.on_reload: Callable[[bool], None] = lambda ok: None

    @classmethod
    def load(cls, settings: ContentSettings, library: Library) -> LiveDocs:
        """Start serving an already loaded library."""
        return cls(settings, Snapshot(library, build_index(library)))

    @property
    def current(self) -> Snapshot:
        """The snapshot to answer this request with (read once per request)."""
        return self._snapshot

    def reload(self, reason: str = "requested") -> bool:
        """Read the content again; swap it in only if it has usable sections."""
        ok = self._reload(reason)
        self.on_reload(ok)
        return ok

    def _reload(self, reason: str) -> bool:
        with self._lock:
            root = self._settings.content_dir
            self._seen = fingerprint(root)
            try:
                library = load_library(
                    root,
                    include_drafts=self._settings.include_drafts,
                    base_url=self._settings.docs_base_url,
                    previous=self._snapshot.library,
                    name=self._settings.docs_name,
                )
            except (ContentError, OSError) as err:
                log.error("reload (%s) failed, still serving the previous docs: %s", reason, err)
                return False
            for problem in library.problems:
                log.warning("reload (%s): skipped %s", reason, problem)
            if not library.sections:
                log.error(
                    "reload (%s) found no usable sections in %s; still serving the previous docs",
                    reason,
                    root,
                )
                return False
            self._snapshot = Snapshot(library, build_index(library))
            self.reloads += 1
            log.info("reloaded (%s): %d sections", reason, len(library.sections))
            return True

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

    def stop(self) -> None:
        """Stop watching."""
        self._stop.set()
