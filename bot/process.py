"""What the bot asks of its own process for its large builds: work done in a forked child
while it does its own, the cyclic collector paused, memory given back to the system."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import pickle
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: Above every file descriptor a forked child may have inherited.
MAX_FD = os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 65536


def close_inherited(keep: int | None = None) -> None:
    """In a forked child: close every inherited descriptor but the standard streams (and
    ``keep``): a copy of a Slack connection or of an HTTP request's socket held here would
    keep it open after the bot closes it, until the child exits."""
    if keep is None:
        os.closerange(3, MAX_FD)
    else:
        os.closerange(3, keep)
        os.closerange(keep + 1, MAX_FD)


class Apart:
    """Work done in a forked child while this process does its own: ``result()`` is what the
    work returned, pickled back through a pipe, or None when no child could start or it
    failed (the caller then does the work itself). The child closes every descriptor it
    inherited but its pipe (``close_inherited``)."""

    def __init__(self, work: Callable[[], object]) -> None:
        self._pid: int | None = None
        if not hasattr(os, "fork"):  # no child processes here (Windows): the caller's work
            return
        try:
            reader, writer = os.pipe()
        except OSError:  # no descriptor left
            return
        try:
            pid = os.fork()
        except OSError:  # no memory or process left for a child
            os.close(reader)
            os.close(writer)
            return
        if pid == 0:  # the child: nothing here may return to the caller
            code = 1
            try:
                close_inherited(keep=writer)
                data = pickle.dumps(work(), pickle.HIGHEST_PROTOCOL)
                with os.fdopen(writer, "wb") as out:
                    out.write(data)
                code = 0
            finally:
                os._exit(code)
        os.close(writer)
        self._pid, self._reader = pid, reader

    def result(self) -> object | None:
        """What the work returned (waiting for the child), or None."""
        if self._pid is None:
            return None
        with os.fdopen(self._reader, "rb") as f:
            data = f.read()  # until the child is done (and has closed its end)
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        if status:
            return None
        try:
            return pickle.loads(data)  # our own child's: this process's own types
        except Exception:  # unreadable after all: done by the caller
            return None


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector (reference counting still frees memory): for
    building many long-lived objects, which it would scan again and again for nothing (a
    tenth of a 100,000-section load's time, a tenth to a quarter of an index build's)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _glibc(name: str) -> Callable[..., int] | None:
    """A function of glibc's allocator, or None (another C library, say macOS's)."""
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None


_TRIM = _glibc("malloc_trim")
_MALLOPT = _glibc("mallopt")
_M_MMAP_THRESHOLD = -3  # mallopt's parameter (malloc.h)
#: Blocks of at least this many bytes (an index's arrays) are mapped apart from the heap, and
#: so given back to the system as soon as they are freed.
MMAP_THRESHOLD = 1 << 20


def map_large_blocks_apart() -> None:
    """Fix glibc's mmap threshold at MMAP_THRESHOLD for this process. glibc's own rises to
    the size of each mapped block freed (up to 32 MB): once a reload had freed the replaced
    index's arrays, the next index's came from the heap, and part of what they left there
    once freed stayed the process's (see "Memory and reloads" in docs/operations.md). Set
    after the first build: fixed before it, the build's many large temporaries, each mapped
    and unmapped, made the start slower."""
    if _MALLOPT is not None:
        _MALLOPT(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def give_back_memory() -> None:
    """Return to the system the memory a build used and freed. glibc keeps freed memory for
    the process's next allocations (Python's own objects then take new memory beside it),
    so each reload (a new index built while the old one still serves) left the process
    larger (`bench/memory.py --rev efd0a28`, 10,000 sections: 182 MB after ten reloads
    against 237 without this)."""
    if _TRIM is not None:
        _TRIM(0)
