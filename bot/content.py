"""Read Markdown role documents (with YAML front matter) into documents and sections."""

from __future__ import annotations

import bisect
import functools
import hashlib
import json
import os
import re
import stat
import time
import tomllib
import unicodedata
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

import frontmatter
import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from bot.markup import ATX_HEADING, mkdocs_blocks, visible_lines
from bot.process import Apart, collector_paused

#: File suffixes read as documents; everything else (``_category_.json``, images) is ignored.
DOC_SUFFIXES = (".md", ".mdx", ".markdown")
#: Folders never read, whatever they hold: a site's installed packages (thousands of their
#: READMEs, when the docs folder setting names the site rather than its docs). Hidden
#: folders (``.git``) are not read either.
SKIPPED_FOLDERS = frozenset({"node_modules"})
#: A Docusaurus folder's sidebar category (its "label" names the folder for readers).
CATEGORY_FILE = "_category_.json"
#: Content-owner file with synonyms and extra phrasings, at the root of the content folder.
SYNONYMS_FILE = "synonyms.yml"
#: A document larger than this is refused: role docs are prose, not data dumps.
MAX_FILE_BYTES = 2_000_000
#: The owner's synonyms file is a few hundred lines; past this it is refused (an 8 MB one
#: took 52 s and 837 MB to index).
MAX_SYNONYMS_BYTES = 200_000
#: A folder's _category_.json is a label and a position.
MAX_CATEGORY_BYTES = 100_000

_MD = MarkdownIt("commonmark").enable("table")
#: The same parser's block rules alone: each inline token's text is read by ``_plain_inlines``,
#: which runs the inline rules only on a text that has markup.
_BLOCKS = MarkdownIt("commonmark").enable("table").disable(["inline", "text_join"])
#: An inline run (a paragraph, a heading, a table cell) longer than this is read as written,
#: its markup left unparsed: markdown-it's inline rules take superlinear time and memory on
#: long runs of brackets or emphasis, and no paragraph of prose comes near it.
MAX_INLINE_CHARS = 20_000
#: Where an inline rule of ``_MD`` can start (escapes, code, emphasis, links, images,
#: autolinks, raw HTML, entities): a text with none of these is its words as written.
_INLINE_MARKUP = re.compile(r"[\\`*_\[!<&]")
#: PyYAML's safe loader, on libyaml (C) where PyYAML was built with it: the same values,
#: read faster (the pure-Python loader was a large part of reading a big folder).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CUSTOM_ID = re.compile(r"\s*\{#([^}\s]+)\}\s*$")
_FM_BOUNDARY = re.compile(r"^-{3,}\s*$")
#: Hugo's TOML front matter, between two ``+++`` lines.
_TOML_BOUNDARY = re.compile(r"^\+{3}\s*$")
# Docusaurus numberPrefix.ts: a date-like prefix is kept, a number prefix is stripped.
_DATE_PREFIX = re.compile(r"^((\d{2}|\d{4})[-_.]\d{2}([-_.](\d{2}|\d{4}))?)(.*)$")
_NUMBER_PREFIX = re.compile(r"^(\d+)(\s*[-_.]+\s*)(.*)$")
#: What a file name that is not UTF-8 holds once Python has read it: its bytes as surrogates.
_BAD_NAME = re.compile("[\ud800-\udfff]")


class ContentError(Exception):
    """The content folder cannot be used at all (missing, or no usable section)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a content file, reported as ``file:line: message``.

    A warning is something the bot leaves aside without harm (a front matter key it cannot
    use, which may be meant for another tool); `check` fails only on the others."""

    path: str
    line: int
    message: str
    warning: bool = False

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def read_limited(path: str | Path, limit: int) -> bytes:
    """A regular file's bytes, at most ``limit`` of them; OSError for anything else.

    A device (a link to /dev/zero has size 0 and never ends) or a named pipe (opening it
    waits for a writer forever) is refused before it is read, and no more than ``limit``
    plus one byte is ever read, whatever the size says.
    """
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise OSError(f"not a regular file ({_file_kind(info.st_mode)}); skipped")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        opened = os.fstat(f.fileno())
        if not stat.S_ISREG(opened.st_mode):  # replaced since the stat
            raise OSError("not a regular file; skipped")
        # As many bytes as the file has, and one more to see whether it grew meanwhile:
        # asked for the limit at once, Python allocates (and the kernel maps) the whole
        # limit for every file.
        raw = f.read(min(opened.st_size, limit) + 1)
        if len(raw) > opened.st_size and len(raw) <= limit:  # it grew: the rest, up to the limit
            raw += f.read(limit + 1 - len(raw))
    if len(raw) > limit:
        raise OSError(f"file is over the {limit} byte limit; skipped")
    return raw


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a folder")):  # fmt: skip
        if test(mode):
            return name
    return "a special file"


@dataclass(frozen=True, slots=True)
class Section:
    """A heading and what is under it: the unit the bot answers with."""

    id: str
    document: str
    path: str
    heading_path: tuple[str, ...]
    name: str
    level: int
    line: int
    anchor: str | None
    url: str | None
    own_text: str
    #: Its document's visible Markdown, one string shared by all its sections; its own
    #: Markdown is ``body[span_start:span_end]`` (all of it with span_end -1), see ``markdown``.
    body: str
    parent: str | None
    phrasings: tuple[str, ...] = ()
    context: tuple[str, ...] = field(default=())
    updated: str | None = None  # front matter last_update (Docusaurus), as YYYY-MM-DD
    #: Two numbers, not a tuple of them: a tuple held per section cost more than its numbers.
    span_start: int = 0
    span_end: int = -1

    @property
    def markdown(self) -> str:
        """What is under its heading, as Markdown: its own text and its subsections'. Cut
        from the document's text when asked for: each section holding its own copy kept a
        page's text once per heading level."""
        if self.span_end < 0:
            return self.body
        return self.body[self.span_start : self.span_end]


@dataclass(frozen=True, slots=True)
class Document:
    """One Markdown file: its title and its sections in reading order."""

    path: str
    title: str
    sections: tuple[Section, ...]

    def has_section(self, key: str) -> bool:
        """True if a section is named ``key``, by name or heading path (case ignored)."""
        return any(names_section(key, s.name, s.heading_path) for s in self.sections)


def names_section(key: str, name: str, heading_path: tuple[str, ...]) -> bool:
    """True if a phrasings key names this section: its name or its heading path, case ignored."""
    return key.casefold() in (name.casefold(), " > ".join(heading_path).casefold())


class Parsed(NamedTuple):
    """One file's parse: what it was parsed from (its bytes' digest and the parse's other
    inputs), the document it gave (None: a draft or an empty page), its problems, and the
    file's stamp when it was read (``file_stamp``)."""

    source: tuple
    document: Document | None
    problems: tuple[Problem, ...]
    stamp: tuple | None = None


@dataclass(frozen=True, slots=True)
class Library:
    """Everything read from a content folder, with the problems found on the way."""

    documents: tuple[Document, ...]
    synonyms: dict[str, tuple[str, ...]]
    problems: tuple[Problem, ...]
    owner: OwnerFile | None = None  # the synonyms file in use: kept when it breaks later
    name: str = ""  # what the docs are called in replies (DOCS_NAME); docs_name() defaults it
    #: How many sections and documents bear each name (case ignored), for the names more
    #: than one bears: a button names the page too where the name alone is ambiguous.
    name_counts: dict[str, int] = field(default_factory=dict)
    #: How many documents bear each title (case ignored), for the titles more than one
    #: bears: a page's folder tells two apart.
    title_counts: dict[str, int] = field(default_factory=dict)
    #: What each file gave when last parsed, by its path: a reload parses again only the files
    #: whose bytes (or whatever else their parse reads) changed.
    parsed: dict[str, Parsed] = field(default_factory=dict)

    @property
    def sections(self) -> tuple[Section, ...]:
        """All sections of all documents, in document order (a new tuple each time)."""
        return tuple(s for d in self.documents for s in d.sections)

    @property
    def section_count(self) -> int:
        """How many sections there are, without making the tuple of ``sections``."""
        return sum(len(d.sections) for d in self.documents)


def load_library(
    root: Path,
    *,
    include_drafts: bool = False,
    base_url: str | None = None,
    previous: Library | None = None,
    name: str | None = None,
) -> Library:
    """Read every document (DOC_SUFFIXES) below ``root`` and the synonyms file into a Library.

    Files with problems are skipped and their problems recorded; the caller
    decides whether that is fatal. Raises ContentError when ``root`` is not a
    readable folder. With ``previous`` (a reload), a document or a synonyms file that can
    no longer be read at all keeps what was last read from it, and the problem says so.
    """
    with collector_paused():
        return _load_library(root, include_drafts, base_url, previous, name)


def _load_library(
    root: Path,
    include_drafts: bool,
    base_url: str | None,
    previous: Library | None,
    name: str | None,
) -> Library:
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "content folder not found"
        raise ContentError(f"{root}: {what} (set --content or CONTENT_DIR to the docs' folder)")
    problems: list[Problem] = []
    documents: list[Document] = []
    synonyms = default_synonyms()
    syn_path = root / SYNONYMS_FILE
    owner = read_synonyms_file(syn_path, SYNONYMS_FILE) if syn_path.exists() else None
    if owner is not None and owner.broken and previous is not None and previous.owner:
        kept = previous.owner
        problems += [
            replace(
                p,
                message=f"{p.message}; still using the {len(kept.synonyms)} synonym(s)"
                " and the phrasings read from it before",
            )
            for p in owner.problems
        ]
        owner = kept
    elif owner is not None:
        problems += owner.problems
    if owner is not None:
        for key, values in owner.synonyms.items():
            synonyms[key] = tuple(dict.fromkeys(synonyms.get(key, ()) + values))
    labels: dict[str, str] = {}
    found: set[str] = set()
    parsed: dict[str, Parsed] = {}
    started = time.time_ns()
    top = os.fspath(root)
    # First what each file needs (its bytes read only when they may have changed), then the
    # parses (in two processes when there are many), then the documents in the files' order.
    steps: list[tuple[str, list[Problem], Parsed | _Skip | tuple[tuple, int | None]]] = []
    jobs: list[_Job] = []
    for rel in find_documents(root, problems):
        file = os.path.join(top, rel)
        found.add(rel)
        mine: list[Problem] = []  # this file's problems before its parse (its folder's label)
        try:
            categories = categories_of(root, rel, labels, mine)
            questions = owner.questions.get(rel, {}) if owner else {}
            inputs = (
                include_drafts,
                base_url,
                tuple((k, tuple(v)) for k, v in questions.items()),
                categories,
            )
            before = previous.parsed.get(rel) if previous is not None else None
            stamp = file_stamp(file, started)
            raw = None
            if before is not None and stamp is not None and before.stamp == stamp:
                digest = before.source[0]  # the same bytes: not read again
            else:
                raw = read_source(file, rel)
                digest = hashlib.blake2b(raw, digest_size=16).digest()
            source = (digest, *inputs)
            if before is None or before.source != source:
                if raw is None:  # the same bytes, with other questions or folder labels
                    raw = read_source(file, rel)
                jobs.append(_Job(rel, raw, questions, categories))
                steps.append((rel, mine, (source, stamp)))
            else:
                if before.stamp != stamp:
                    before = before._replace(stamp=stamp)  # touched, or read too soon
                steps.append((rel, mine, before))
        except _Skip as skip:
            steps.append((rel, mine, skip))
    done = iter(parse_all(jobs, include_drafts, base_url))
    for rel, mine, step in steps:
        problems += mine
        if isinstance(step, Parsed):  # kept from the last load
            problems += step.problems
        elif not isinstance(step, _Skip):  # parsed now
            source, stamp = step
            doc, doc_problems, skipped = next(done)
            problems += doc_problems
            step = skipped or Parsed(source, doc, doc_problems, stamp)
        if isinstance(step, _Skip):
            before = previous_document(previous, rel)
            if before is None:
                problems.append(step.problem)
                continue
            keep = "; still answering from the version read before"
            problems.append(replace(step.problem, message=step.problem.message + keep))
            doc = before
        else:
            parsed[rel] = step
            doc = step.document
        if doc is not None:
            documents.append(doc)
    if owner is not None:
        problems += unmatched_questions(owner, found, documents)
    counts: dict[str, int] = {}
    titles: dict[str, int] = {}
    for doc in documents:
        titles[doc.title.casefold()] = titles.get(doc.title.casefold(), 0) + 1
        in_doc: dict[str, int] = {}
        for s in doc.sections:
            in_doc[s.name.casefold()] = in_doc.get(s.name.casefold(), 0) + 1
        in_doc[doc.title.casefold()] = max(in_doc.get(doc.title.casefold(), 0), 1)
        for key, n in in_doc.items():  # twice in one page counts too ('Conclusion' x 2)
            counts[key] = counts.get(key, 0) + n
    # Only names borne more than once are kept: most are borne once (a dict entry a section).
    shared = {k: n for k, n in counts.items() if n > 1}
    shared_titles = {k: n for k, n in titles.items() if n > 1}
    return Library(
        tuple(documents),
        synonyms,
        tuple(problems),
        owner,
        name or "",
        shared,
        shared_titles,
        parsed,
    )


class _Job(NamedTuple):
    """A file to parse: its path, bytes, owner questions and folder labels."""

    rel: str
    raw: bytes
    questions: dict[str, list[str]]
    categories: tuple[str, ...]


#: A load parses in two processes (this one and a child forked for it, each about half the
#: bytes) when it has at least this many bytes of documents to parse: below that, starting
#: the child and reading its parses back cost more than they save. 0: never.
PARSE_APART_BYTES = 8_000_000
#: The share of the bytes the child parses: less than half, since this process then reads
#: its parses back.
CHILD_SHARE = 0.45


def parse(jobs: list[_Job], include_drafts: bool, base_url: str | None) -> list[tuple]:
    """Each file parsed: (document or None, its problems, None), or (None, the problems met
    before, _Skip) for a file that cannot be used. Empties ``jobs`` (each file's bytes are
    let go once parsed)."""
    out: list[tuple] = []
    jobs.reverse()
    while jobs:
        job = jobs.pop()
        found: list[Problem] = []
        try:
            doc = read_document(job.raw, job.rel, include_drafts=include_drafts,
                                base_url=base_url, extra_questions=job.questions,
                                problems=found, categories=job.categories)  # fmt: skip
        except _Skip as skip:
            out.append((None, tuple(found), skip))
        else:
            out.append((doc, tuple(found), None))
    return out


def parse_all(jobs: list[_Job], include_drafts: bool, base_url: str | None) -> list[tuple]:
    """``parse``, in this process and a forked child (``Apart``) when the files are many (at
    least PARSE_APART_BYTES): the child parses the last files (CHILD_SHARE of the bytes).
    Where no child can start or it fails, this process parses its files too. The parses are
    the same either way. Empties ``jobs``."""
    total = sum(len(job.raw) for job in jobs)
    if not PARSE_APART_BYTES or total < PARSE_APART_BYTES:
        return parse(jobs, include_drafts, base_url)
    split, theirs_bytes = len(jobs), 0
    while split > 1 and theirs_bytes < CHILD_SHARE * total:
        split -= 1
        theirs_bytes += len(jobs[split].raw)
    ours, theirs = jobs[:split], jobs[split:]
    jobs.clear()
    child = Apart(lambda: parse(theirs, include_drafts, base_url))
    mine = parse(ours, include_drafts, base_url)
    back = child.result()
    if isinstance(back, list) and len(back) == len(theirs):
        return mine + back
    return mine + parse(theirs, include_drafts, base_url)


def same_docs(library: Library, before: Library) -> bool:
    """Whether a library read again (with ``previous=before``) is what ``before`` was: the
    same documents (the same objects: no file parsed again, none added or gone), synonyms,
    problems and name. Its index can then be taken as it is."""
    return (
        len(library.documents) == len(before.documents)
        and all(a is b for a, b in zip(library.documents, before.documents, strict=True))
        and library.synonyms == before.synonyms
        and library.problems == before.problems
        and library.name == before.name
    )


def previous_document(previous: Library | None, rel: str) -> Document | None:
    """The document read from ``rel`` by the last load, if any."""
    if previous is None:
        return None
    return next((d for d in previous.documents if d.path == rel), None)


def categories_of(
    root: Path, rel: str, labels: dict[str, str], problems: list[Problem]
) -> tuple[str, ...]:
    """The labels of the folders between ``root`` and the file at ``rel`` (relative to it,
    '/'-separated): a folder's ``_category_.json`` label (Docusaurus), else its name without
    number prefixes ('01_01_DevOps' -> 'DevOps'). ``labels`` caches them per folder (by
    its path relative to ``root``); a bad ``_category_.json`` is reported once."""
    out: list[str] = []
    folder = ""
    for part in rel.split("/")[:-1]:
        folder = f"{folder}/{part}" if folder else part
        if folder not in labels:
            labels[folder] = _category_label(root, root / folder, problems)
        out.append(labels[folder])
    return tuple(out)


def _category_label(root: Path, folder: Path, problems: list[Problem]) -> str:
    name = re.sub(r"^(\d+[-_.\s]+)+", "", folder.name)  # '01_01_DevOps' -> 'DevOps'
    fallback = name.replace("_", " ").strip() or folder.name
    meta = folder / CATEGORY_FILE
    if not meta.is_file():
        return fallback
    rel = meta.relative_to(root).as_posix()
    try:
        data = json.loads(read_limited(meta, MAX_CATEGORY_BYTES).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        problems.append(Problem(rel, getattr(err, "lineno", 1), f"not valid JSON: {err}"))
        return fallback
    label = data.get("label") if isinstance(data, dict) else None
    return label.strip() if isinstance(label, str) and label.strip() else fallback


def find_documents(root: Path, problems: list[Problem]) -> list[str]:
    """Every document file below ``root``, as its path relative to it ('/'-separated),
    sorted folder by folder (as paths sort), following no symlink loop twice; hidden folders
    and SKIPPED_FOLDERS are not read."""
    found: list[str] = []
    seen_dirs: set[tuple[int, int]] = set()
    top = os.fspath(root)

    def on_error(err: OSError) -> None:
        where = Path(err.filename).relative_to(root).as_posix() if err.filename else "."
        problems.append(Problem(where, 0, f"unreadable: {err.strerror}"))

    def named_in_utf8(rel: str, what: str) -> bool:
        if not _BAD_NAME.search(rel):
            return True
        problems.append(Problem(shown_name(rel), 0, f"{what} name is not UTF-8; skipped"
                                " (rename it to be read)"))  # fmt: skip
        return False

    for dirpath, dirnames, filenames in os.walk(root, onerror=on_error, followlinks=True):
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen_dirs:
            dirnames[:] = []
            continue
        seen_dirs.add((st.st_dev, st.st_ino))
        folder = os.path.relpath(dirpath, top).replace(os.sep, "/")
        at = "" if folder == "." else folder + "/"
        dirnames[:] = sorted(
            d for d in dirnames if is_read_folder(d) and named_in_utf8(at + d, "folder")
        )
        found += [
            at + f
            for f in filenames
            if f.lower().endswith(DOC_SUFFIXES) and named_in_utf8(at + f, "file")
        ]
    return sorted(found, key=lambda rel: rel.split("/"))


def is_read_folder(name: str) -> bool:
    """Whether a folder of this name is read (and watched): not hidden (``.git``), not one of
    SKIPPED_FOLDERS."""
    return not name.startswith(".") and name not in SKIPPED_FOLDERS


def shown_name(rel: str) -> str:
    """A path as it can be printed: the bytes of a name that is not UTF-8 as \\xNN."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class _Skip(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


#: A file changed this little (nanoseconds) before it was read may change again within its
#: stamp's resolution: its stamp is not trusted (as git treats a "racily clean" file).
RACY_NS = 2_000_000_000


def file_stamp(file: str | Path, read_at: int) -> tuple | None:
    """What changes whenever a file's bytes do: its size, modification and status-change
    times, inode and device (a copy that keeps the modification time still gets a new
    status-change time). A file whose stamp is the one its parse was read with is not read
    again. None (read it) for a file changed within RACY_NS of ``read_at`` or not a
    regular file."""
    try:
        st = os.stat(file)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or max(st.st_mtime_ns, st.st_ctime_ns) >= read_at - RACY_NS:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def read_source(file: str | Path, rel: str) -> bytes:
    """A document file's bytes. Raises _Skip on a file too big or that cannot be read."""
    try:
        size = os.stat(file).st_size
        if size > MAX_FILE_BYTES:
            raise _Skip(Problem(rel, 0, f"file is {size} bytes, over the {MAX_FILE_BYTES} limit"))
        return read_limited(file, MAX_FILE_BYTES)
    except OSError as err:
        raise _Skip(Problem(rel, 0, f"unreadable: {err.strerror or err}")) from err


def read_document(
    raw: bytes,
    rel: str,
    *,
    include_drafts: bool = False,
    base_url: str | None = None,
    extra_questions: dict[str, list[str]] | None = None,
    problems: list[Problem] | None = None,
    categories: tuple[str, ...] = (),
) -> Document | None:
    """Parse one file's bytes into a Document; None for a skipped draft. Raises _Skip on a
    bad file.

    ``categories`` are the labels of the folders it sits in (Docusaurus' sidebar categories):
    context for matching, as the breadcrumbs are for a reader.
    """
    problems = problems if problems is not None else []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise _Skip(Problem(rel, line, f"not UTF-8 (byte {err.start})")) from err
    if "\x00" in text:
        raise _Skip(Problem(rel, 1, "binary file (contains NUL bytes)"))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    meta, body, body_line = split_front_matter(text, rel, problems)
    for key in ("title", "id", "slug"):
        value = meta.get(key)
        if value is not None and not isinstance(value, str | int | float):
            line = front_matter_line(text, key)
            problems.append(
                Problem(rel, line, f"front matter {key!r} must be text; ignored", warning=True)
            )
            meta = {k: v for k, v in meta.items() if k != key}
    if meta.get("draft") is True and not include_drafts:
        return None
    if not body.strip():
        problems.append(
            Problem(rel, body_line + 1, "empty document (no text after front matter)", warning=True)
        )  # a placeholder page harms no answer
        return None
    questions = dict(extra_questions or {})
    fm_questions = meta.get("questions")
    if fm_questions is not None:
        parsed, bad = _parse_questions(fm_questions)
        for key, what in bad:
            # Not a mapping: the key is someone else's (18F's handbook lists channels in it).
            line = front_matter_line(text, "questions", key or None)
            problems.append(Problem(rel, line, f"front matter 'questions': {what}",
                                    warning=not key))  # fmt: skip
        for key, values in parsed.items():
            questions[key] = questions.get(key, []) + values
    sections = split_sections(
        body,
        rel=rel,
        meta=meta,
        body_line=body_line,
        base_url=base_url,
        questions=questions,
        problems=problems,
        categories=categories,
    )
    if not sections:
        problems.append(
            Problem(rel, body_line + 1, "empty document (nothing a reader would see)", warning=True)
        )
        return None
    document = Document(rel, sections[0].document, tuple(sections))
    if isinstance(fm_questions, dict):
        for key in fm_questions:
            if not document.has_section(str(key)):
                line = front_matter_line(text, "questions", str(key))
                problems.append(Problem(rel, line, f"front matter 'questions': no section {key!r}"))
    return document


def front_matter_line(text: str, key: str, inner: str | None = None) -> int:
    """The 1-based line of a top-level front matter key (or of ``inner``, a key indented
    under it), for a problem's line; 1 when it is not written on a line of its own."""
    lines = text.split("\n")
    top = re.compile(rf"^['\"]?{re.escape(key)}['\"]?\s*[:=]")  # (YAML, or TOML)
    nested = re.compile(rf"^\s+['\"]?{re.escape(inner or '')}['\"]?\s*[:=]")
    found = 1
    for i, line in enumerate(lines[1:], start=2):
        if _FM_BOUNDARY.match(line) or _TOML_BOUNDARY.match(line):
            break
        if found == 1 and top.match(line):
            found = i
            if inner is None:
                return i
        elif found > 1 and inner is not None:
            if line[:1] not in (" ", "\t", "-"):
                break  # past the key's block
            if nested.match(line):
                return i
    return found


def split_front_matter(
    text: str, rel: str, problems: list[Problem] | None = None
) -> tuple[dict, str, int]:
    """Front matter as a dict, the body, and the 0-based line where the body starts.

    A key that is not text once YAML has read it ('on', 'yes', '1', 'null') is left out,
    with a warning in ``problems``: no key the bot uses is one."""
    problems = problems if problems is not None else []
    lines = text.split("\n")
    if _TOML_BOUNDARY.match(lines[0]):
        return _toml_front_matter(lines, rel)
    if not lines or not _FM_BOUNDARY.match(lines[0]) or lines[0].strip() != "---":
        return {}, text, 0
    end = next((i for i in range(1, len(lines)) if _FM_BOUNDARY.match(lines[i])), None)
    if end is None:
        raise _Skip(Problem(rel, 1, "front matter block opened with '---' is never closed"))
    block = "\n".join(lines[1:end])
    # python-frontmatter's own loader, called directly: its Post(**metadata) dies on a key
    # that YAML does not read as text ('on:' is True, '1:', 'null:').
    handler = frontmatter.YAMLHandler()
    try:
        try:
            raw = handler.load(block, Loader=_YAML_LOADER) if block.strip() else None
        except yaml.YAMLError as first:  # read again by PyYAML's own loader, whose marks are
            try:  # the line at fault (libyaml's later)
                raw = handler.load(block, Loader=yaml.SafeLoader)
            except RecursionError:  # (nested deeper than Python's stack: libyaml's own error)
                raise first from None
    except (yaml.YAMLError, RecursionError) as err:
        raise _Skip(Problem(rel, *_yaml_problem(err, 2, "bad YAML front matter"))) from err
    if raw is not None and not isinstance(raw, dict):
        raise _Skip(Problem(rel, 2, "front matter is not a mapping of keys to values"))
    meta: dict[str, object] = {}
    for key, value in (raw or {}).items():
        if isinstance(key, str):
            meta[key] = value
            continue
        line = _key_line(lines[1:end], key)
        problems.append(
            Problem(
                rel,
                line,
                f"front matter key {_written(lines, line, key)} is"
                f" read by YAML as {key!r}, not a name; ignored",
                warning=True,
            )
        )
    return meta, "\n".join(lines[end + 1 :]), end + 1


def _toml_front_matter(lines: list[str], rel: str) -> tuple[dict, str, int]:
    """``split_front_matter`` of a page whose front matter is TOML, between ``+++`` lines
    (Hugo's)."""
    end = next((i for i in range(1, len(lines)) if _TOML_BOUNDARY.match(lines[i])), None)
    if end is None:
        raise _Skip(Problem(rel, 1, "front matter block opened with '+++' is never closed"))
    try:
        meta = tomllib.loads("\n".join(lines[1:end]))
    except tomllib.TOMLDecodeError as err:
        at = re.search(r"\(at line (\d+)", str(err))
        line = int(at[1]) + 1 if at else end + 1  # (else "at end of document")
        problem = str(err).split(" (at ")[0] + ("" if at else " (by the closing '+++')")
        raise _Skip(Problem(rel, line, f"bad TOML front matter: {problem}")) from err
    except RecursionError as err:
        raise _Skip(Problem(rel, 2, "bad TOML front matter: nested too deeply")) from err
    return meta, "\n".join(lines[end + 1 :]), end + 1


def _key_line(block: list[str], key: object) -> int:
    """The 1-based file line of a top-level front matter key that YAML reads as ``key``."""
    for n, line in enumerate(block, start=2):
        name = re.match(r"^([^\s#:-][^:]*):(\s|$)", line)
        if name is None:
            continue
        try:
            read = yaml.safe_load(f"{name.group(1)}: 0")
        except yaml.YAMLError:
            continue
        if isinstance(read, dict) and key in read and type(key) is type(next(iter(read))):
            return n
    return 2


def _written(lines: list[str], line: int, key: object) -> str:
    """A key as the file writes it ('on'), for a message about how YAML read it."""
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    written = text.split(":", 1)[0].strip().strip("'\"") if ":" in text else ""
    return repr(written or str(key))


@dataclass(slots=True)
class _Heading:
    line: int  # 0-based line in body
    level: int
    name: str
    anchor: str
    end: int  # the line after it (a setext heading's underline is its second line)


def split_sections(
    body: str,
    *,
    rel: str,
    meta: dict,
    body_line: int,
    base_url: str | None,
    questions: dict[str, list[str]],
    problems: list[Problem],
    categories: tuple[str, ...] = (),
) -> list[Section]:
    """Split a document body into sections: each heading owns the lines up to the next heading."""
    described = _described(meta)
    written = body.split("\n")
    lines = mkdocs_blocks(written)
    if lines is not written:  # (MkDocs' blocks, read in place: the same lines, less indented)
        body = "\n".join(lines)
    tokens, env = parse_blocks(body)
    plains = _plain_inlines(tokens, env)
    problems += _markup_warnings(tokens, lines, rel, body_line)
    keep = visible_lines(lines, tokens)
    headings = _headings(tokens, plains)
    first_h1 = next((h for h in headings if h.level == 1), None)
    title = str(meta.get("title") or "").strip() or (first_h1.name if first_h1 else Path(rel).stem)
    doc_url = doc_url_for(rel, meta, base_url)
    updated = last_update(meta)
    # Root: the first heading when it is an H1, else the leading text named after the title.
    root_is_h1 = bool(headings) and headings[0].level == 1
    if root_is_h1:
        for i in range(headings[0].line, headings[0].end):
            keep[i] = None  # the root's own heading is the title, not its text
    lead_end = headings[0].line if headings else len(lines)

    # The visible lines joined once: the lines from ``start`` to ``end`` are a slice of it.
    visible = "\n".join(x for x in keep if x is not None)
    offsets: list[int] = []  # where each line starts in ``visible`` (or would, if hidden)
    at = 0
    for x in keep:
        offsets.append(at)
        if x is not None:
            at += len(x) + 1
    offsets.append(at)

    def span_of(start: int, end: int) -> tuple[int, int]:
        """Where the visible lines from ``start`` to ``end`` are in ``visible``, blank lines
        at either end left out."""
        a, b = offsets[start], max(offsets[start], offsets[end] - 1)
        while a < b and visible[a] == "\n":
            a += 1
        while b > a and visible[b - 1] == "\n":
            b -= 1
        return a, b

    def text_of(start: int, end: int) -> str:
        a, b = span_of(start, end)
        return visible[a:b]

    # Plain text from the body's own tokens where the lines are the reader's as written
    # (markdown-it once a document, not again a section); else from the visible lines.
    plain_at = _PlainText(tokens, plains, lines, keep, headings[0].line if root_is_h1 else None)

    def plain_of(start: int, end: int) -> str:
        found = plain_at.of(start, end)
        return plain_text(text_of(start, end)) if found is None else found

    spans: list[tuple[_Heading | None, int, int, int]] = []  # heading, own_end, full_end, level
    if root_is_h1:
        h = headings[0]
        own_end = headings[1].line if len(headings) > 1 else len(lines)
        spans.append((h, own_end, len(lines), 0))
    elif plain_of(0, lead_end).strip():
        spans.append((None, lead_end, len(lines), 0))
    rest = headings[1:] if root_is_h1 else headings
    # Where each heading's whole section ends: at the first later heading of its level or
    # above. Found in one pass (the headings still open, levels rising): looked for from
    # each heading in turn, a page of many headings took quadratic time.
    full_ends = [len(lines)] * len(rest)
    still_open: list[int] = []
    for j, h in enumerate(rest):
        while still_open and rest[still_open[-1]].level >= h.level:
            full_ends[still_open.pop()] = h.line
        still_open.append(j)
    for i, h in enumerate(rest):
        own_end = rest[i + 1].line if i + 1 < len(rest) else len(lines)
        spans.append((h, own_end, full_ends[i], h.level))

    sections: list[Section] = []
    stack: list[tuple[int, Section]] = []  # (level, section)
    seen_paths: dict[tuple[str, ...], int] = {}
    # Siblings have the same context: one tuple held for all of them, not one each.
    contexts: dict[tuple[str, ...], tuple[str, ...]] = {}
    for h, own_end, full_end, level in spans:
        if h is None or (root_is_h1 and h is headings[0]):
            start = 0
            full = span_of(0, full_end)
            name = h.name if h else title
            heading_path: tuple[str, ...] = (title,)
            parent = None
            anchor = None
            line = body_line + (h.line if h else 0) + 1
        else:
            start = h.end
            full = span_of(start, full_end)
            while stack and stack[-1][0] >= level:
                stack.pop()
            parent_section = stack[-1][1] if stack else None
            name = h.name
            base_path = parent_section.heading_path if parent_section else (title,)
            heading_path = (*base_path, name)
            parent = parent_section.id if parent_section else None
            anchor = h.anchor
            line = body_line + h.line + 1
        count = seen_paths.get(heading_path, 0)
        if count:
            problems.append(Problem(rel, line, f"duplicate heading {' > '.join(heading_path)!r}"))
        seen_paths[heading_path] = count + 1
        sid = hashlib.sha1(f"{rel}#{'/'.join(heading_path)}#{count}".encode()).hexdigest()[:12]
        phr = _phrasings_for(questions, name, heading_path)
        context = (*categories, *heading_path[:-1], *(described if parent is None else ()))
        section = Section(
            id=sid,
            document=title,
            path=rel,
            heading_path=heading_path,
            name=name,
            level=level,
            line=line,
            anchor=anchor,
            url=(f"{doc_url}#{anchor}" if anchor else doc_url) if doc_url else None,
            own_text=plain_of(start, own_end),
            body=visible,
            span_start=full[0],
            span_end=full[1],
            parent=parent,
            phrasings=tuple(phr),
            context=contexts.setdefault(context, context),
            updated=updated,
        )
        sections.append(section)
        stack.append((level, section))
    return sections


def _markup_warnings(
    tokens: list[Token], lines: list[str], rel: str, body_line: int
) -> list[Problem]:
    """Warnings about a page's Markdown that the bot reads as written but its author likely
    did not mean: a paragraph past MAX_INLINE_CHARS (read as written), an HTML comment never
    closed (it hides the rest of the page), a code block never closed that swallows
    headings (the rest of the page is code)."""
    out: list[Problem] = []
    for t in tokens:
        if t.map is None:
            continue
        at = body_line + t.map[0] + 1
        if t.type == "inline" and len(t.content) > MAX_INLINE_CHARS:
            out.append(Problem(rel, at, f"a paragraph of {len(t.content):,} characters is read"
                               " and shown as written: its Markdown is not parsed past"
                               f" {MAX_INLINE_CHARS:,}", warning=True))  # fmt: skip
        elif (
            t.type == "html_block" and "-->" not in t.content
            and t.content.lstrip().startswith("<!--")
            and any(x.strip() for x in lines[t.map[0] + 1 : t.map[1]])
        ):  # fmt: skip
            out.append(Problem(rel, at, "an HTML comment (<!--) is never closed: the"
                               f" {t.map[1] - t.map[0] - 1} line(s) after it are hidden, as a"
                               " browser hides them; close it with -->", warning=True))  # fmt: skip
        elif t.type == "fence" and t.level == 0:
            last = lines[t.map[1] - 1].strip() if t.map[1] - 1 > t.map[0] else ""
            if last.startswith(t.markup) and not last.strip(t.markup[0]):
                continue  # closed
            inside = lines[t.map[0] + 1 : t.map[1]]
            if headings := sum(1 for x in inside if ATX_HEADING.match(x)):
                out.append(Problem(rel, at, f"a code block ({t.markup}) is never closed: the"
                                   f" {len(inside)} line(s) after it, {headings} heading(s)"
                                   " among them, are shown as code; close it with"
                                   f" {t.markup}", warning=True))  # fmt: skip
    return out


#: Front matter that says what a whole document is about (Docusaurus' description and
#: sidebar label; keywords): context for its top sections, as its title is. Not tags: tags
#: that many pages share ("role", "FAQ") pulled questions to one page's overview.
DESCRIBING_KEYS = ("description", "keywords", "sidebar_label")


def _described(meta: dict) -> tuple[str, ...]:
    """The describing front matter's words, one text per key (lists and comma lists joined)."""
    out = []
    for key in DESCRIBING_KEYS:
        value = meta.get(key)
        if isinstance(value, list):
            value = " ".join(str(v) for v in value if isinstance(v, str | int | float))
        if isinstance(value, str | int | float) and str(value).strip():
            out.append(str(value).replace(",", " "))
    return tuple(out)


def _phrasings_for(
    questions: dict[str, list[str]], name: str, heading_path: tuple[str, ...]
) -> list[str]:
    named = [values for key, values in questions.items() if names_section(key, name, heading_path)]
    return [v for values in named for v in values]


def parse_blocks(markdown: str) -> tuple[list[Token], dict]:
    """markdown-it's tokens of a text with its block rules alone, and the parse's env (its
    reference links): each inline token is read by ``parse_inline`` where needed."""
    env: dict = {}
    return _BLOCKS.parse(markdown, env), env


def parse_inline(token: Token, env: dict) -> list[Token]:
    """An inline token's children (from ``parse_blocks``), as markdown-it's whole parse
    gives them; a run longer than MAX_INLINE_CHARS is one text, as written."""
    if len(token.content) > MAX_INLINE_CHARS:
        token.children = [Token("text", "", 0, content=" ".join(token.content.split()))]
        return token.children
    token.children = []
    _MD.inline.parse(token.content, _MD, env, token.children)
    for child in token.children:
        if child.type == "text_special":  # (an escape: markdown-it's text_join makes it text)
            child.type = "text"
    return token.children


def _plain_inlines(tokens: list[Token], env: dict) -> list[str | None]:
    """The plain text (``inline_plain``) of each inline token of a block parse
    (``parse_blocks``), None for the other tokens: the inline rules run only on a text that
    has markup, the rest is its words as written."""
    out: list[str | None] = []
    for t in tokens:
        if t.type != "inline":
            out.append(None)
        elif _INLINE_MARKUP.search(t.content) is None:
            out.append(" ".join(t.content.split()))
        else:
            parse_inline(t, env)
            out.append(inline_plain(t))
    return out


def _headings(tokens: list[Token], plains: list[str | None]) -> list[_Heading]:
    """Top-level ATX/setext headings with their Docusaurus anchors (github-slugger rules),
    their names from ``plains`` (``_plain_inlines``)."""
    out: list[_Heading] = []
    used: dict[str, int] = {}
    for i, t in enumerate(tokens):
        if t.type != "heading_open" or t.level != 0 or t.map is None:
            continue
        name = plains[i + 1] or ""
        custom = _CUSTOM_ID.search(name)
        if custom:
            name = name[: custom.start()].strip()
            anchor = custom.group(1)
        else:
            base = slugify(name)
            n = used.get(base, 0)
            anchor = base if n == 0 else f"{base}-{n}"
            used[base] = n + 1
        out.append(_Heading(t.map[0], int(t.tag[1]), name or "(untitled)", anchor, t.map[1]))
    return out


class _PlainText:
    """The plain text (as ``plain_text`` gives it) of a document's lines, from the tokens
    of its whole body: each text block is put at the line its block starts on. Read in its
    document, a reference link defined in another section reads as its text, and a setext
    title's underline is no text (parsed alone, each stayed as written)."""

    def __init__(
        self,
        tokens: list[Token],
        plains: list[str | None],
        lines: list[str],
        keep: list[str | None],
        title: int | None,
    ) -> None:
        self.starts: list[int] = []
        self.texts: list[str] = []
        line = 0
        for t, plain in zip(tokens, plains, strict=True):
            if t.map is not None:
                line = t.map[0]
            if plain is not None and line != title:  # (the title's heading is not text)
                self.starts.append(line)
                self.texts.append(plain)
            elif t.type in ("fence", "code_block"):
                self.starts.append(line)
                self.texts.append(t.content.strip())
        # Lines not as written (hidden or cut: comments, MDX, raw HTML; ``keep`` holds the
        # very string of a line it leaves as it is): where there are some, the block
        # structure may differ and the text is parsed again.
        self.altered = [
            i
            for i, (line_, kept) in enumerate(zip(lines, keep, strict=True))
            if kept is not line_ and i != title
        ]

    def of(self, start: int, end: int) -> str | None:
        """The plain text of lines ``start`` to ``end``, or None where a line in them is
        not as written."""
        altered = self.altered
        if bisect.bisect_left(altered, start) != bisect.bisect_left(altered, end):
            return None
        a, b = bisect.bisect_left(self.starts, start), bisect.bisect_left(self.starts, end)
        return "\n".join(x for x in self.texts[a:b] if x)


def inline_plain(token: Token) -> str:
    """The text a reader sees in an inline token: markup, images and raw HTML removed."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak") or (
            child.type == "html_inline" and child.content.lower().startswith("<br")
        ):
            parts.append(" ")
    return " ".join("".join(parts).split())  # (runs of whitespace as one space, as \s+)


def plain_text(markdown: str) -> str:
    """Markdown as plain words, for indexing: one line per block, markup removed."""
    out: list[str] = []
    tokens, env = parse_blocks(markdown)
    for t, plain in zip(tokens, _plain_inlines(tokens, env), strict=True):
        if plain is not None:
            out.append(plain)
        elif t.type in ("fence", "code_block"):
            out.append(t.content.strip())
    return "\n".join(x for x in out if x)


def last_update(meta: dict) -> str | None:
    """The document's date from ``last_update`` (a date, or Docusaurus' {date: ...})."""
    value = meta.get("last_update")
    if isinstance(value, dict):
        value = value.get("date")
    if value is None:
        return None
    m = re.match(r"\d{4}-\d{2}-\d{2}", str(value))
    return m.group(0) if m else None


_NOT_SLUG_ASCII = re.compile(r"[^a-z0-9 _-]")


def slugify(text: str) -> str:
    """A heading anchor as Docusaurus computes it (github-slugger)."""
    if text.isascii():  # (letters, digits, ' ', '-' and '_' kept, as below; most headings)
        return _NOT_SLUG_ASCII.sub("", text.lower()).replace(" ", "-")
    kept = []
    for ch in text.lower():
        cat = unicodedata.category(ch)
        if ch in " -_" or cat[0] in "LMN":
            kept.append(ch)
    return "".join(kept).replace(" ", "-")


def strip_number_prefix(name: str) -> str:
    """Drop a Docusaurus number prefix ('01_Roles' -> 'Roles'), keeping date-like ones."""
    if _DATE_PREFIX.match(name):
        return name
    m = _NUMBER_PREFIX.match(name)
    return m.group(3) if m else name


def doc_url_for(rel: str, meta: dict, base_url: str | None) -> str | None:
    """The Docusaurus URL of a doc: folder path, ``id``/``slug`` front matter respected.
    None for a partial (a file or folder named ``_*``, which Docusaurus gives no page), but
    Hugo's ``_index.md`` is its folder's page."""
    if not base_url:
        return None
    parts = rel.split("/")
    if any(p.startswith("_") for p in parts[:-1]) or (
        parts[-1].startswith("_") and Path(parts[-1]).stem.lower() != "_index"
    ):
        return None  # (a link to it would be a 404)
    dirs = [strip_number_prefix(p) for p in parts[:-1]]
    stem = strip_number_prefix(Path(parts[-1]).stem)
    slug = meta.get("slug")
    doc_id = meta.get("id")
    if isinstance(slug, str) and slug.strip():
        slug = slug.strip()
        route = slug if slug.startswith("/") else "/" + "/".join([*dirs, slug])
    else:
        name = str(doc_id) if doc_id else stem
        parent = parts[-2] if len(parts) > 1 else ""
        is_index = not doc_id and (
            stem.lower() in ("index", "_index", "readme")
            or (parent and stem.lower() == parent.lower())
        )
        route = "/" + "/".join(dirs if is_index else [*dirs, name])
    route = re.sub(r"/+", "/", route)
    return base_url.rstrip("/") + quote(route, safe="/-_.~")


@dataclass(frozen=True, slots=True)
class OwnerFile:
    """What a content folder's synonyms.yml says, and what is wrong with it."""

    synonyms: dict[str, tuple[str, ...]]
    questions: dict[str, dict[str, list[str]]]  # file -> section -> phrasings
    problems: list[Problem]
    lines: dict[tuple[str, ...], int]  # the line of every key, by its path of keys
    broken: bool = False  # nothing could be read from it (unreadable, not YAML, too big)


def read_synonyms_file(path: Path, rel: str) -> OwnerFile:
    """Read the content owner's synonyms file: ``synonyms`` and ``questions`` mappings, and the
    problems found, each naming the line of the key at fault."""
    problems: list[Problem] = []
    try:
        text = read_limited(path, MAX_SYNONYMS_BYTES).decode("utf-8")
        try:
            data = yaml.safe_load(text)
        except RecursionError:  # deeper than Python's stack: libyaml reads it, or names the line
            data = yaml.load(text, Loader=_YAML_LOADER)  # (a safe loader)
    except (yaml.YAMLError, RecursionError) as err:
        problem = Problem(rel, *_yaml_problem(err, 1, "not valid YAML"))
        return OwnerFile({}, {}, [problem], {}, True)
    except UnicodeDecodeError as err:
        return OwnerFile({}, {}, [Problem(rel, 1, f"not UTF-8 (byte {err.start})")], {}, True)
    except OSError as err:
        return OwnerFile({}, {}, [Problem(rel, 1, f"unreadable: {err.strerror or err}")], {}, True)
    if data is None:
        return OwnerFile({}, {}, [], {})
    if not isinstance(data, dict):
        problem = Problem(rel, 1, "must be a mapping with 'synonyms' and/or 'questions'")
        return OwnerFile({}, {}, [problem], {}, True)
    lines = key_lines(text)
    unknown = set(data) - {"synonyms", "questions"}
    for key in sorted(unknown, key=lambda k: (lines.get((str(k),), 1), str(k))):
        line = lines.get((str(key),), 1)
        problems.append(
            Problem(rel, line, f"unknown key {key!r} (expected 'synonyms', 'questions')")
        )
    synonyms: dict[str, tuple[str, ...]] = {}
    raw_syn = data.get("synonyms") or {}
    if not isinstance(raw_syn, dict):
        line = lines.get(("synonyms",), 1)
        problems.append(Problem(rel, line, "'synonyms' must map a term to a list of synonyms"))
    else:
        for key, values in raw_syn.items():
            line = lines.get(("synonyms", str(key)), 1)
            found = _texts(values)
            if found is None:
                problems.append(
                    Problem(rel, line, f"synonyms for {key!r} must be a list of strings")
                )
                continue
            kept, odd = found
            if odd:
                problems.append(Problem(rel, line, f"synonyms for {key!r}: {_not_text(odd)}"))
            if kept:
                synonyms[str(key)] = tuple(kept)
    questions: dict[str, dict[str, list[str]]] = {}
    raw_q = data.get("questions") or {}
    if not isinstance(raw_q, dict):
        line = lines.get(("questions",), 1)
        problems.append(Problem(rel, line, "'questions' must map a document path to sections"))
    else:
        for doc, sections in raw_q.items():
            parsed, bad = _parse_questions(sections)
            for key, what in bad:
                line = lines.get(
                    ("questions", str(doc), key), lines.get(("questions", str(doc)), 1)
                )
                problems.append(Problem(rel, line, f"questions for {doc!r}: {what}"))
            questions[str(doc)] = parsed
    return OwnerFile(synonyms, questions, problems, lines)


def unmatched_questions(
    owner: OwnerFile, files: set[str], documents: list[Document]
) -> list[Problem]:
    """Owner phrasings that would do nothing: for a file that is not in the content folder, or
    for a section that a loaded document does not have."""
    loaded = {d.path: d for d in documents}
    problems: list[Problem] = []
    for doc, sections in owner.questions.items():
        if doc not in files:
            line = owner.lines.get(("questions", doc), 1)
            problems.append(
                Problem(SYNONYMS_FILE, line, f"questions for {doc!r}: no such file in the folder")
            )
            continue
        if doc not in loaded:
            continue  # a draft, or skipped with its own problem
        for key in sections:
            if not loaded[doc].has_section(key):
                line = owner.lines.get(("questions", doc, key), 1)
                problems.append(
                    Problem(SYNONYMS_FILE, line, f"questions for {doc!r}: no section {key!r}")
                )
    return problems


def phrasing_place(root: Path, section: Section, phrasing: str) -> tuple[str, int]:
    """Where an owner phrasing of a section is written: the content folder's synonyms file or
    the section's document (front matter), as (file relative to ``root``, 1-based line)."""
    for rel in (SYNONYMS_FILE, section.path):
        try:
            limit = MAX_SYNONYMS_BYTES if rel == SYNONYMS_FILE else MAX_FILE_BYTES
            lines = read_limited(root / rel, limit).decode("utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for n, line in enumerate(lines, 1):
            if phrasing in line:
                return rel, n
    return section.path, 1


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """The 1-based line of every mapping key in a YAML text, by its path of keys.

    Each node is visited once, so anchors and aliases (even one that contains itself) cost
    no more than the text is long; libyaml reads it, and the walk keeps its own stack, so
    that no nesting is too deep for Python's.
    """
    out: dict[tuple[str, ...], int] = {}
    seen: set[int] = set()
    try:
        root = yaml.compose(text, Loader=_YAML_LOADER)
    except (yaml.YAMLError, RecursionError):
        return out
    todo: list[tuple[yaml.Node, tuple[str, ...]]] = [(root, ())] if root is not None else []
    while todo:
        node, path = todo.pop()
        if id(node) in seen or not isinstance(node, yaml.MappingNode):
            continue
        seen.add(id(node))
        for key, value in reversed(node.value):
            sub = (*path, str(key.value))
            out.setdefault(sub, key.start_mark.line + 1)
            todo.append((value, sub))
    return out


def _yaml_problem(err: Exception, first_line: int, what: str) -> tuple[int, str]:
    """A YAML error as (file line, message): ``first_line`` is the file line of the YAML's
    first; a text nested deeper than Python's stack (RecursionError) names no line."""
    if isinstance(err, RecursionError):
        return first_line, f"{what}: nested too deeply (lists or mappings within each other)"
    mark = getattr(err, "problem_mark", None)
    line = mark.line + first_line if mark is not None else 1
    return line, f"{what}: {getattr(err, 'problem', None) or 'invalid YAML'}"


def _parse_questions(value: object) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """Section -> phrasings, and each bad section key ("" for the whole value) with what is
    wrong with it: what can be used is kept (a bad entry costs only itself)."""
    if not isinstance(value, dict):
        kind = {list: "a list", str: "text"}.get(type(value), f"a {type(value).__name__}")
        return {}, [("", f"must map a section name to a list of questions, not {kind}; ignored")]
    out: dict[str, list[str]] = {}
    bad: list[tuple[str, str]] = []
    for key, qs in value.items():
        found = _texts(qs)
        if found is None:
            bad.append((str(key), f"section {key!r} must map to a list of questions"))
            continue
        kept, odd = found
        if odd:
            bad.append((str(key), f"section {key!r}: {_not_text(odd)}"))
        if kept:
            out[str(key)] = kept
    return out, bad


def _texts(value: object) -> tuple[list[str], list[object]] | None:
    """A text or a list's texts, and the list's other items (what YAML read as numbers,
    booleans, lists...); None for anything else."""
    if isinstance(value, str):
        return [value], []
    if not isinstance(value, list):
        return None
    return [v for v in value if isinstance(v, str)], [v for v in value if not isinstance(v, str)]


def _not_text(items: list[object]) -> str:
    """What a problem says of list items that are not text."""
    shown = ", ".join(repr(v)[:40] for v in items[:3]) + (", ..." if len(items) > 3 else "")
    return f"ignored {shown} (not text to YAML: put it in quotes); the rest is used"


def default_synonyms() -> dict[str, tuple[str, ...]]:
    """The synonyms shipped with the bot (``bot/synonyms.yml``), which any docs folder gets
    (a new dict each call, the file read once)."""
    return dict(_shipped_synonyms())


@functools.cache
def _shipped_synonyms() -> dict[str, tuple[str, ...]]:
    shipped = resources.files("bot").joinpath(SYNONYMS_FILE)
    data = yaml.safe_load(shipped.read_text(encoding="utf-8")) or {}
    return {str(k): tuple(v) for k, v in (data.get("synonyms") or {}).items()}
