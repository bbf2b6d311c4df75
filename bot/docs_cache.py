"""The docs as last read and indexed, kept in DATA_DIR between runs: a restart reads again
only the files whose stamp changed and parses only those whose bytes did; it takes the index
as it was when none did, and updates it when some did.

The file is a pickle, read with only the classes the docs are made of (any other name in it
makes it unusable, like a file from other code or other settings: it is then left aside with
one log line and the docs are read afresh). It is written in small self-contained pieces,
each holding the interpreter briefly (by a background thread, or in `serve` by a child
process: bot.live), so that serving never waits long on the write."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

import bot
from bot.config import ContentSettings
from bot.content import Library, Parsed
from bot.engine.search import Index
from bot.process import collector_paused

log = logging.getLogger("bot.docs_cache")

#: The file's name in DATA_DIR.
FILE_NAME = "docs.pickle"
#: Bumped when what the file holds changes shape beyond what the code digest catches.
FORMAT = 3
#: Files' parses, and items of the index's large collections, written in one piece.
FILES_PER_PIECE = 50
ITEMS_PER_PIECE = 2000
#: What ends the file.
END = "end"
#: Names the library's collections written in parts go by (the index's go by their own).
LIBRARY = "library."
#: A temporary file older than this (seconds) was left by a bot killed while writing it.
STALE_SECONDS = 600

#: The only globals a cache file may name: the docs' own types and what numpy (2.x, or 1.x
#: as ``numpy.core``) rebuilds a contiguous numeric array with. Nothing else is needed (the
#: names asked for on the shipped docs, the three corpora and 10,000 synthetic sections).
ALLOWED = {
    "bot.content": {"Library", "Document", "Section", "Parsed", "Problem", "OwnerFile"},
    "bot.engine.index": {"Postings", "DocNames"},
    "numpy": {"dtype"},
    "numpy._core.numeric": {"_frombuffer"},
    "numpy.core.numeric": {"_frombuffer"},
}


class Kept(NamedTuple):
    """The docs read from a cache file: the library and the index built from it."""

    library: Library
    index: Index


class _Unusable(Exception):
    """A cache file that cannot be used as it is."""


class OtherKey(Exception):
    """A cache file written by other code or for other settings."""


#: What reading a file that cannot be used raises.
UNUSABLE = (OSError, EOFError, pickle.UnpicklingError, _Unusable, ValueError, TypeError,
            AttributeError, ImportError, IndexError, KeyError)  # fmt: skip


class _Restricted(pickle.Unpickler):
    """An unpickler that builds nothing but the docs' own types (see ALLOWED)."""

    def find_class(self, module: str, name: str) -> Any:
        if name in ALLOWED.get(module, ()):
            return super().find_class(module, name)
        raise _Unusable(f"it names {module}.{name}, which a docs cache never holds")


def restricted_loads(data: bytes) -> Any:
    """A pickle of the docs' own types (see ALLOWED) read back; anything else refused."""
    return _Restricted(io.BytesIO(data)).load()


def discard(path: Path) -> None:
    """Remove a temporary file, if it can be (it may be gone, or not a file)."""
    with suppress(OSError):
        path.unlink(missing_ok=True)


def code_digest(root: Path | None = None) -> str:
    """A digest of the bot's code and data files (the package at ``root``, this one by
    default), Python's and numpy's versions: a cache written by other code is never read."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{FORMAT} {sys.version} {np.__version__}".encode())
    root = root or Path(bot.__file__).parent
    for file in sorted(root.rglob("*")):
        if file.suffix in (".py", ".yml", ".json") and "__pycache__" not in file.parts:
            h.update(file.relative_to(root).as_posix().encode())
            h.update(file.read_bytes())
    return h.hexdigest()


class DocsCache:
    """Where the docs are kept between runs: ``data_dir/docs.pickle`` (nothing without a
    data_dir). Its key names the code and the content settings it was written with."""

    def __init__(
        self,
        data_dir: Path | None,
        settings: ContentSettings,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.path = data_dir / FILE_NAME if data_dir is not None else None
        self.warn = warn or log.warning  # the CLI says it its own way
        self.key = (
            code_digest(),
            str(settings.content_dir.resolve()),
            settings.include_drafts,
            settings.docs_base_url,
            settings.docs_name,
        )

    def read(self) -> Kept | None:
        """The docs kept by the last run with this code and these settings, or None (said in
        one log line when a file was there but could not be used)."""
        if self.path is None or not self.path.exists():
            return None
        started = time.perf_counter()
        try:
            kept = self.load(self.path)
        except OtherKey:
            log.info("docs cache %s is from other code or settings: not used", self.path)
            return None
        except UNUSABLE as err:
            self.warn(f"docs cache {self.path} not used, reading the docs afresh: {err}")
            return None
        log.info(
            "docs cache read: %d sections in %.1f s",
            len(kept.index.sections),
            time.perf_counter() - started,
        )
        return kept

    def load(self, path: Path, previous: Kept | None = None) -> Kept:
        """The docs in the file at ``path`` (written by ``dump``, with the same ``previous``).
        Raises OtherKey for a file of other code or settings, one of UNUSABLE for a file
        that cannot be used."""
        with path.open("rb", buffering=1 << 20) as f, collector_paused():
            if _Restricted(f).load() != self.key:
                raise OtherKey(path)
            # Each piece stands alone (see dump): one unpickler a piece.
            return _assemble(iter(lambda: _Restricted(f).load(), END), previous)

    def dump(
        self, path: Path, library: Library, index: Index, previous: Kept | None = None
    ) -> None:
        """Write these docs to a new file at ``path``, readable by the owner alone. With
        ``previous`` (the docs a reload read and indexed them with), what is previous's (the
        same objects: a file's parse, a document's names) is written as a reference only,
        which ``load`` given the same ``previous`` takes from it."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb", buffering=1 << 20) as f:
            writer = pickle.Pickler(f, protocol=5)
            writer.dump(self.key)
            writer.clear_memo()
            for piece in _pieces(library, index, previous):
                writer.dump(piece)
                # Each piece stands alone: the pickler's memo of everything written so far
                # would grow to millions of entries, and each time it grows (a copy of the
                # whole table), it holds the interpreter.
                writer.clear_memo()
                time.sleep(0)  # let a waiting thread (an acknowledgement) run
            writer.dump(END)

    def scratch(self, what: str) -> Path:
        """A temporary file beside the cache, named by host and process: replicas sharing
        DATA_DIR never write one file (each container's bot is process 1), and a bot killed
        mid-write overwrites its own."""
        assert self.path is not None
        return self.path.with_name(f"{FILE_NAME}.{what}.{socket.gethostname()}.{os.getpid()}.tmp")

    def write(self, library: Library, index: Index) -> None:
        """Keep these docs for the next run: written to a temporary file, then put in place
        at once. A failure is logged and leaves the last file as it was."""
        if self.path is None:
            return
        started = time.perf_counter()
        tmp = self.scratch("write")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._remove_stale(tmp)
            self.dump(tmp, library, index)
            os.replace(tmp, self.path)
        except (OSError, pickle.PicklingError, RuntimeError) as err:
            self.warn(f"could not keep the docs in {self.path}: {err}")
            discard(tmp)
            return
        log.info(
            "docs kept in %s (%.0f MB) in %.1f s",
            self.path,
            self.path.stat().st_size / 1e6,
            time.perf_counter() - started,
        )

    def _remove_stale(self, mine: Path) -> None:
        """Remove what bots killed while writing left (another's temporary file, untouched
        for STALE_SECONDS: a write takes seconds)."""
        assert self.path is not None
        for other in self.path.parent.glob(f"{FILE_NAME}.*.tmp"):
            try:
                if other != mine and time.time() - other.stat().st_mtime > STALE_SECONDS:
                    other.unlink()
                    log.info("removed %s, left by a bot stopped while writing it", other)
            except OSError:  # gone meanwhile, or not ours to remove: harmless
                continue


def _pieces(library: Library, index: Index, previous: Kept | None = None) -> Iterator[tuple]:
    """The docs in pieces that stand alone: the files' parses (each document with its
    sections; only the name and stamp of those ``previous`` holds), the rest of the library (its
    documents named by their file where a parse holds them), then the index's state, its
    large collections a slice at a time (a document's names that are previous's as None)."""
    before = previous.library.parsed if previous is not None else {}
    same: list[tuple[str, tuple | None]] = []  # previous's parse, with the stamp it has now
    parsed: list[tuple[str, Parsed]] = []
    for rel, p in library.parsed.items():
        b = before.get(rel)
        # previous's parse, or previous's restamped (a file read too soon to trust its stamp,
        # read again with the same bytes: the same document): a name and its stamp.
        if b is p or (b is not None and b.document is p.document and b.source == p.source):
            same.append((rel, p.stamp))
        else:
            parsed.append((rel, p))
    for start in range(0, len(same), ITEMS_PER_PIECE):
        yield ("same", same[start : start + ITEMS_PER_PIECE])
    for start in range(0, len(parsed), FILES_PER_PIECE):
        yield ("parsed", parsed[start : start + FILES_PER_PIECE])
    documents = tuple(
        d.path if getattr(library.parsed.get(d.path), "document", None) is d else d
        for d in library.documents
    )
    shell = replace(library, documents=(), parsed={}, name_counts={}, title_counts={})
    yield ("library", shell, documents)
    counts = {LIBRARY + "name_counts": library.name_counts,
              LIBRARY + "title_counts": library.title_counts}  # fmt: skip
    for name, value in {**counts, **index.__getstate__()}.items():
        if name == "_by_doc" and previous is not None:
            value = _name_references(value, previous.index)
        if isinstance(value, (list, set, dict)) and len(value) > ITEMS_PER_PIECE:
            items = list(value.items() if isinstance(value, dict) else value)
            kind = type(value).__name__
            for start in range(0, len(items), ITEMS_PER_PIECE):
                yield ("part", name, kind, items[start : start + ITEMS_PER_PIECE])
        else:
            yield ("whole", name, value)


def _name_references(by_doc: dict, previous: Index) -> dict:
    """A document's names (abbreviations, initialisms) that are previous's (a reload keeps
    them for a document it did not parse again) as None instead."""
    kept = previous._by_doc
    return {path: None if kept.get(path) is names else names for path, names in by_doc.items()}


def _names_back(items: Any, previous: Kept | None) -> Any:
    """The documents' names ``_name_references`` gave (a dict or its items), each None made
    previous's names."""
    if previous is None:
        return items
    kept = previous.index._by_doc
    pairs = items.items() if isinstance(items, dict) else items
    back = [(path, kept[path] if names is None else names) for path, names in pairs]
    return dict(back) if isinstance(items, dict) else back


def _back(name: str, value: Any, previous: Kept | None) -> Any:
    """An index collection (or part of it) as written, its references made previous's."""
    if name == "_by_doc":
        return _names_back(value, previous)
    if name in ("postings", "form_postings") and previous is not None:
        return value.sharing(getattr(previous.index, name))
    return value


def _assemble(pieces: Iterator[tuple], previous: Kept | None = None) -> Kept:
    """The library and index ``_pieces`` wrote (with this ``previous``)."""
    parsed: dict = {}
    shell: Library | None = None
    documents: tuple = ()
    state: dict[str, Any] = {}
    kinds = {"list": (list, list.extend), "set": (set, set.update), "dict": (dict, dict.update)}
    for piece in pieces:
        if piece[0] == "parsed":
            parsed.update(piece[1])
        elif piece[0] == "same":
            if previous is None:
                raise _Unusable("it names parses of docs it was not given")
            for rel, stamp in piece[1]:
                kept = previous.library.parsed[rel]
                parsed[rel] = kept if kept.stamp == stamp else kept._replace(stamp=stamp)
        elif piece[0] == "library":
            _, shell, documents = piece
        elif piece[0] == "whole":
            _, name, value = piece
            state[name] = _back(name, value, previous)
        elif piece[0] == "part":
            _, name, kind, items = piece
            items = _back(name, items, previous)
            make, add = kinds[kind]
            add(state.setdefault(name, make()), items)
        else:
            raise _Unusable(f"a piece of an unknown kind: {piece[0]!r}")
    if not isinstance(shell, Library):
        raise _Unusable("it holds no library")
    library = replace(
        shell,
        documents=tuple(parsed[d].document if isinstance(d, str) else d for d in documents),
        parsed=parsed,
        name_counts=state.pop(LIBRARY + "name_counts"),
        title_counts=state.pop(LIBRARY + "title_counts"),
    )
    return Kept(
        library, Index.restored(state, library.sections, previous.index if previous else None)
    )
