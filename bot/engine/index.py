"""The index: every section's postings (term frequencies in its text and the strength of its
heading words, by stem and by plural form; BM25 strengths are computed from them when a
question asks for a term), the idf of each stem, the vocabulary for typo correction and the
sections' keys for phrase similarity (made when asked for). Built once per library, or
updated from the index it replaces (a reload): only the sections of the files that changed
are read again. Immutable after (but for its caches)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from sys import intern
from typing import NamedTuple, Self

import numpy as np

from bot.content import Library, Section
from bot.engine.words import (
    FILLER,
    QUESTION_WORDS,
    ROLE_STEMS,
    common_english_words,
    heading_aliases,
    heading_key_words,
    key_words,
    sentences_of,
    stem,
    term_keys,
    topic_words,
    words_of,
)
from bot.process import Apart, collector_paused, give_back_memory

# How strongly a section holds a query word, by where the word is.
IN_HEADING = 1.0  # the section's own heading or an owner phrasing
IN_CONTEXT = 0.6  # the document title or a parent heading
IN_TEXT = 0.4  # the section's own text: at least this much ...
IN_TEXT_MAX = 0.9  # ... rising towards this the more it says the word (BM25 tf, below)
BM25_K1 = 1.2
BM25_B = 0.75
#: A posting's heading strength, by its code (Postings keep the code, one byte).
NAMED = np.array([0.0, IN_CONTEXT, IN_HEADING], dtype=np.float32)
CONTEXT_CODE, HEADING_CODE = 1, 2
#: Sections whose sentences an index remembers before it starts over.
SENTENCE_CACHE = 20_000
#: Sections whose phrase keys an index remembers before it starts over (see SectionIndex.keys).
KEYS_CACHE = 20_000
#: Postings whose strengths an index remembers before it starts over (4 bytes each).
STRENGTH_CACHE = 2_000_000
#: Sections whose words the build counts at a time.
CHUNK = 2_000
#: A build of at least this many sections counts the words of its last sections in a forked
#: child (``process.Apart``) while it counts the others: below it, the fork and reading the
#: counts back cost more than they save. 0: never.
COUNT_APART_SECTIONS = 20_000
#: The share of the sections the child counts (it starts at a chunk's bound).
COUNT_CHILD_SHARE = 0.45
#: An index is updated from the one it replaces when at most this share of its sections is
#: new (a reload after an edit); else built afresh, which is then quicker.
UPDATE_SHARE = 0.5
#: Postings one numpy call takes at a time, where an update renumbers them and a build
#: splits their keys into terms and sections (a few milliseconds each, no full-size copy).
POSTINGS_STEP = 1 << 19
#: A build sorts each posting as one int64 (its term and section, frequency and heading
#: code packed) where they fit in this many bits (see Tables.sorted).
PACKED_BITS = 63


class Keys(NamedTuple):
    """What phrase similarity and heading naming need of one section (see SectionIndex.keys).
    Tuples, not lists and sets: held for every section, a frozenset costs 216 bytes or more
    where a tuple of three stems costs 64. Their weights (``SectionIndex.weights``) are
    computed when asked for: they change with every other section's words."""

    keys: tuple[str, ...]  # heading, its aliases, document + heading, phrasings, title
    stem_keys: tuple[str, ...]  # the same as stems
    head: tuple[str, ...]  # stems of its heading path, each once
    own: tuple[str, ...]  # stems of its own heading, each once


class SectionIndex:
    """Sections indexed for fuzzy question matching (bot.engine.search.Index matches)."""

    def __init__(self, library: Library, previous: SectionIndex | None = None) -> None:
        # The build makes millions of small objects and frees few: the cyclic collector would
        # scan them again and again for nothing (a tenth to a quarter of a 10,000-section
        # build's time when measured).
        # The English word counts (read once per process, tens of MB at their peak while
        # read) before the build holds anything: the build's peak is then the lower.
        common_english_words()
        with collector_paused():
            if previous is None or not self._update(library, previous):
                self._build(library)
            self._finish(library, previous)

    def _build(self, library: Library) -> None:
        """Index a library."""
        self.sections: tuple[Section, ...] = library.sections
        n = len(self.sections)
        # Postings are gathered as numpy arrays of keys (term id * n + section), term
        # frequencies and heading codes, in a stem table and a form table. The sections'
        # words are counted a chunk of sections at a time: a string per word of the whole
        # corpus at once was most of a large build's peak, and left its memory in pieces once
        # freed. A chunk at a time also lets other threads (the Slack listener's
        # acknowledgements) run between chunks.
        tables = Tables(n)
        self.lengths = np.zeros(n, dtype=np.int32)
        split = n
        if COUNT_APART_SECTIONS and n >= COUNT_APART_SECTIONS:
            split = (n - int(COUNT_CHILD_SHARE * n)) // CHUNK * CHUNK
        sections = self.sections
        child = Apart(lambda: Tables.counted(n, sections, split)) if split < n else None
        tables.count_rows(sections, 0, split, self.lengths)
        counted = child.result() if child is not None else None
        if isinstance(counted, Counted):
            tables.merge(counted)
            self.lengths[split:] = counted.lengths
        else:  # no child (a small build), or it could not start or failed
            tables.count_rows(sections, split, n, self.lengths)
        del counted
        self.postings, self.form_postings = (
            Postings(tables.terms[t], *tables.sorted(t)) for t in (0, 1)
        )
        # The sort's temporaries, freed, stay the process's (glibc keeps them) while what
        # follows is made in new memory: returned now, they are not counted twice.
        give_back_memory()
        self.words = tables.word_counts()
        self._by_doc = {d.path: DocNames.of(d.sections) for d in library.documents}

    def _update(self, library: Library, previous: SectionIndex) -> bool:
        """Index a library from ``previous``, the index a reload replaces: the postings,
        words and names of the sections it holds too (the same objects: a file not parsed
        again) are taken from it, and only the new sections are read. False (nothing done)
        when most sections are new or the kept ones moved out of order: a build is then
        quicker, or needed."""
        sections = library.sections
        n = len(sections)
        old_to_new = np.full(len(previous.sections), -1, dtype=np.int64)
        new_to_old: list[int] = []
        last = -1
        for i, s in enumerate(sections):
            j = previous.ids.get(s.id, -1)
            if j >= 0 and previous.sections[j] is s:
                if j < last:
                    return False
                old_to_new[j], last = i, j
            else:
                j = -1
            new_to_old.append(j)
        fresh = [i for i, j in enumerate(new_to_old) if j < 0]
        if not n or len(fresh) > UPDATE_SHARE * n:
            return False
        self.sections = sections
        tables = Tables(n, (previous.postings, previous.form_postings))
        kept = old_to_new >= 0
        self.lengths = np.zeros(n, dtype=np.int32)
        self.lengths[old_to_new[kept]] = previous.lengths[kept]
        for start in range(0, len(fresh), CHUNK):
            rows = fresh[start : start + CHUNK]
            tables.count(rows, [sections[i] for i in rows], self.lengths)
        self.postings, self.form_postings = (
            table.updated(old_to_new, tables.terms[t], n, *tables.sorted(t))
            for t, table in enumerate((previous.postings, previous.form_postings))
        )
        words = dict(previous.words)
        for j in np.flatnonzero(~kept).tolist():
            for w in said_words(previous.sections[j]):
                if words[w] == 1:
                    del words[w]
                else:
                    words[w] -= 1
        for i in fresh:
            for w in said_words(sections[i]):
                words[w] = words.get(w, 0) + 1
        self.words = words
        is_fresh = np.zeros(n, dtype=bool)
        is_fresh[fresh] = True
        self._by_doc = {}
        start = 0
        for d in library.documents:
            end = start + len(d.sections)
            names = previous._by_doc.get(d.path)
            if names is None or is_fresh[start:end].any():
                names = DocNames.of(d.sections)
            self._by_doc[d.path] = names
            start = end
        return True

    def _finish(self, library: Library, previous: SectionIndex | None) -> None:
        """What is made from the postings, words and sections as a whole: idf, the BM25
        length normalisation, abbreviations and synonyms, the typo vocabulary."""
        self._derive(previous)
        abbreviations = merged_abbreviations(self._by_doc[d.path] for d in library.documents)
        self.aliases = alias_table({**abbreviations.plain, **library.synonyms})
        # Abbreviations that are English words too, read only as typed in capitals ('AM').
        self.capital_aliases: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        for long, shorts in abbreviations.capitals.items():
            for typed in (a + plural for a in shorts for plural in ("", "s")):
                self.capital_aliases.setdefault((typed,), []).append(tuple(words_of(long)))
        self.max_alias = max((len(a) for a in self.aliases), default=1)
        self._derive_typos(previous)
        # Typo corrections remembered per word. A plain dict, not lru_cache around a bound
        # method: that would tie the index to itself in a reference cycle, and an index
        # replaced by a reload would then wait, whole, for the cyclic collector's next full
        # pass (and make that pass long) instead of being freed at once.
        self.typo_cache: dict[str, str | None] = {}
        # Sentence stems of the sections long questions re-rank, remembered likewise, and
        # the strengths of the terms questions ask for (how many postings: strengths_held).
        self.sentence_cache: dict[int, dict[str, int]] = {}
        self.strength_cache: dict[tuple[bool, str], tuple[np.ndarray, np.ndarray]] = {}
        self.strengths_held = 0
        # The phrase keys of the sections questions re-rank, likewise (see ``keys``).
        self.key_cache: dict[int, Keys] = {}

    def _derive(self, previous: SectionIndex | None = None) -> None:
        """What follows from the sections and postings alone, made again rather than kept in
        the docs cache (read back, each would be a second copy of the words and numbers the
        postings and sections hold): ids, parents, BM25's length normalisation and idf, and
        the stems the typo correction knows. Those of ``previous`` (the index a reload
        replaces) where they are the same: what a reload makes anew while the replaced
        index is still held stays in the process's memory after it (see bench/memory.py)."""
        n = len(self.sections)
        if previous is not None and _same_tree(previous.sections, self.sections):
            self.ids, self.parents = previous.ids, previous.parents
        else:
            self.ids = {s.id: i for i, s in enumerate(self.sections)}
            self.parents = [-1 if s.parent is None else self.ids[s.parent] for s in self.sections]
        self.k = bm25_k(self.lengths)
        # A word found in (or above) every section tells them apart least: BM25's idf.
        df = self.postings.frequencies()
        self.idf = {st: math.log(1 + (n - d + 0.5) / (d + 0.5)) for st, d in df.items()}
        if previous is not None and self.idf == previous.idf:
            self.idf = previous.idf
        self.max_idf = math.log(1 + (n + 0.5) / 0.5)
        self.vocab_stems = self.postings.terms.keys()

    def _derive_typos(self, previous: SectionIndex | None = None) -> None:
        """The typo correction's candidates (words and the synonyms' one-word spellings),
        made again rather than kept (as ``_derive``): by length and by first or second
        letter, since a word k edits away differs in length by at most k, and a typo rarely
        changes both of its first two letters ('sysadmn' -> 'sysadmin'). ``previous``'s where
        the same (see ``_derive``)."""
        one_word_aliases = {
            a[0]
            for a, canon in self.aliases.items()
            if len(a) == 1 and any(all(stem(w) in self.vocab_stems for w in c) for c in canon)
        }
        self.typo_vocab: dict[tuple[int, str], list[str]] = {}
        for w in sorted(self.words.keys() | one_word_aliases):
            if len(w) >= 3 and not w.isdigit():
                self.typo_vocab.setdefault((len(w), w[0]), []).append(w)
                self.typo_vocab.setdefault((len(w), "2" + w[1]), []).append(w)
        if previous is not None and self.typo_vocab == previous.typo_vocab:
            self.typo_vocab = previous.typo_vocab  # one copy held across a reload

    def __len__(self) -> int:
        return len(self.sections)

    def __getstate__(self) -> dict:
        """What the docs cache keeps of the index (bot.docs_cache): all but its sections
        (kept with the library), what is quick to make again from them, and its caches,
        which questions asked meanwhile may be changing."""
        dropped = ("sections", "ids", "parents", "k", "idf", "max_idf", "vocab_stems",
                   "typo_vocab", "typo_cache", "sentence_cache", "strength_cache",
                   "strengths_held", "key_cache")  # fmt: skip
        return {k: v for k, v in self.__dict__.items() if k not in dropped}

    @classmethod
    def restored(
        cls, state: dict, sections: tuple[Section, ...], previous: SectionIndex | None = None
    ) -> Self:
        """The index ``__getstate__`` gave ``state`` of, built from ``sections``; what it
        makes again is ``previous``'s where the same (see ``_derive``)."""
        index = cls.__new__(cls)
        index.__dict__.update(state)
        index.sections = sections
        if len(index.lengths) != len(sections):
            raise ValueError(f"an index of {len(index.lengths)} sections for {len(sections)}")
        index._derive(previous)
        index._derive_typos(previous)
        index.typo_cache, index.sentence_cache, index.strength_cache = {}, {}, {}
        index.key_cache = {}
        index.strengths_held = 0
        return index

    def section(self, section_id: str) -> Section | None:
        """The section with this id, or None."""
        i = self.ids.get(section_id)
        return self.sections[i] if i is not None else None

    def keys(self, i: int) -> Keys:
        """Section i's keys (see ``_make_keys``), made when a question first re-ranks it;
        KEYS_CACHE sections' kept. Made for every section at the build, they were the largest
        part of what a section costs held, for the few sections questions re-rank."""
        found = self.key_cache.get(i)
        if found is None:
            if len(self.key_cache) >= KEYS_CACHE:
                self.key_cache.clear()
            found = self.key_cache[i] = self._make_keys(self.sections[i])
        return found

    def weights(self, keys: Keys) -> tuple[float, float]:
        """A section's heading path's and own heading's weights: the sums of their stems'
        idf in this index."""
        idf = self.idf.get
        return sum(idf(h, 0.0) for h in keys.head), sum(idf(h, 0.0) for h in keys.own)

    def holding(self, table: Postings, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The sections that hold a term of ``table`` (the postings or the form postings),
        in ascending order, and how strongly (0..1): the greatest of its heading code's
        strength and BM25's saturating, length-normalised term frequency in its text,
        scaled into IN_TEXT..IN_TEXT_MAX (a word said often in a short section is stronger
        evidence than once in a long table). None when no section does. Remembered
        (STRENGTH_CACHE): questions ask for the same terms again and again."""
        key = (table is self.postings, term)
        held = self.strength_cache.get(key)
        if held is not None:
            return held
        found = table.get(term)
        if found is None:
            return None
        rows, tf, named = found
        text = IN_TEXT + (IN_TEXT_MAX - IN_TEXT) * tf / (tf + self.k[rows])
        text[tf == 0] = 0.0
        strengths = np.maximum(text.astype(np.float32), NAMED[named])
        strengths.flags.writeable = False
        if self.strengths_held + len(rows) > STRENGTH_CACHE:
            self.strength_cache.clear()
            self.strengths_held = 0
        self.strength_cache[key] = rows, strengths
        self.strengths_held += len(rows)
        return rows, strengths

    def _make_keys(self, s: Section) -> Keys:
        """A section's heading and phrasings as words and as stems, its heading path's stems
        and its own heading's."""
        name = heading_key_words(s.name)
        # Its heading first, then the other names the heading gives it, its document's
        # title and heading, the owner's phrasings, and last (for a root section) the
        # document's title alone.
        in_doc = () if s.parent is None else (heading_key_words(s.document) + name,)
        keys = [
            " ".join(name),
            *heading_aliases(s.name, name),
            *(" ".join(k) for k in in_doc),
            *(" ".join(key_words(k)) for k in (*s.phrasings, *titles(s))),
        ]
        stemmed = (" ".join(map(stem, k.split())) for k in keys)
        stem_keys = tuple(sk if sk != k else k for sk, k in zip(stemmed, keys, strict=True))
        # Stems interned: each is one string however many sections' keys hold it (a tenth
        # of what a section costs held, at 100,000 synthetic sections).
        own = frozenset(intern(stem(w)) for w in name if w not in QUESTION_WORDS)
        head = own.union(
            *(
                (intern(stem(w)) for w in heading_key_words(part) if w not in QUESTION_WORDS)
                for part in s.context
            )
        )
        return Keys(tuple(keys), stem_keys, tuple(head), tuple(own))

    def sentences(self, i: int) -> dict[str, int]:
        """Which sentences of section i's own text say each stem (list items and lines
        count as sentences), as a bit mask per stem: bit k is sentence k. Made when first
        asked for; SENTENCE_CACHE sections kept."""
        found = self.sentence_cache.get(i)
        if found is None:
            if len(self.sentence_cache) >= SENTENCE_CACHE:
                self.sentence_cache.clear()
            found = self.sentence_cache[i] = {}
            for k, words in enumerate(sentences_of(self.sections[i].own_text)):
                bit = 1 << k
                for w in words:
                    st = stem(w)
                    found[st] = found.get(st, 0) | bit
        return found

    def docs_name_alias(self, word: str) -> bool:
        """Whether the docs define or name an abbreviation that a synonym, too, gives a
        meaning ('sre': the docs' Site Reliability Engineer, the shipped synonyms' system
        administrator): then it means what the docs mean in any case. Not for two-letter
        ones nor English words ('it', 'am'), which only capitals mark as abbreviations."""
        return (
            len(word) >= 3
            and (word,) in self.capital_aliases
            and (word,) in self.aliases
            and word not in common_english_words()
        )

    def names(self, i: int, asked: set[str]) -> bool:
        """Whether a question's stems name section i's own heading, role words aside."""
        own = self.keys(i).own
        return not ROLE_STEMS.issuperset(own) and asked.issuperset(own)

    def is_ancestor(self, a: Section, b: Section) -> bool:
        parent = b.parent
        while parent is not None:
            if parent == a.id:
                return True
            parent = self.sections[self.ids[parent]].parent
        return False


def titles(section: Section) -> tuple[str, ...]:
    """A document's root section stands for the whole document: its title asks for it."""
    if section.parent is None and section.document != section.name:
        return (section.document,)
    return ()


#: "Account Managers (AMs)": an abbreviation in parentheses: two capitals or more, at most 8
#: letters ("(Git)", "(Panel)" are names, not abbreviations).
_ABBREVIATION = re.compile(r"\(([A-Z][A-Za-z]{1,7})\)")
#: The words before it, markdown emphasis and links aside ("**Account Manager** (AM)").
_TEXT_WORD = re.compile(r"[A-Za-z0-9]+(?:['\u2019-][A-Za-z0-9]+)*")
#: Punctuation that ends a name in a heading.
_PUNCTUATION = re.compile(r"[,;:.!?()\[\]/|\u2013\u2014]")
#: Words a long form does not start with ("of Management and Budget" is not OMB's).
_NOT_FIRST = frozenset({"of", "the", "and", "for", "a", "an", "to", "in", "on", "at", "by", "or"})


class Abbreviations(NamedTuple):
    """The abbreviations the docs define (see ``defined_abbreviations``)."""

    plain: dict[str, tuple[str, ...]]  # long form -> abbreviations, read in any case
    capitals: dict[str, tuple[str, ...]]  # ... read only as typed in capitals ('AM', 'IT')


def long_form(short: str, before: str) -> str | None:
    """The long form an abbreviation in parentheses stands for, from the text before it
    (Schwartz and Hearst's algorithm, 2003): the fewest words ending the text that hold the
    abbreviation's letters in order, its first letter starting a word. "interagency agreement
    (IAA)" and "Office of Management and Budget (OMB)" are found; so is a plural ("AMs")."""
    words = _TEXT_WORD.findall(before)[-(min(len(short) + 5, 2 * len(short))) :]
    text = " ".join(words).lower()
    letters = short.lower()
    at = len(text) - 1
    for k in range(len(letters) - 1, -1, -1):
        c = letters[k]
        while at >= 0 and (text[at] != c or (k == 0 and not _starts_word(text, at))):
            at -= 1
        if at < 0:
            return None
        at -= 1
    long = text[at + 1 :]
    return long if " " in long else None


def _starts_word(text: str, at: int) -> bool:
    """Whether a word that may start a long form starts at ``at``."""
    if at > 0 and text[at - 1] != " ":
        return False
    end = text.find(" ", at)
    return text[at : end if end >= 0 else len(text)] not in _NOT_FIRST


class DocNames(NamedTuple):
    """What one document gives the abbreviations the docs define (``merged_abbreviations``):
    kept per document by the index, so that a reload reads only the files that changed."""

    defined: tuple[tuple[str, frozenset[str]], ...]  # long form, its abbreviations; in order
    initialisms: tuple[tuple[str, str], ...]  # initialism, the name it stands for

    @classmethod
    def of(cls, sections: Sequence[Section]) -> DocNames:
        """The abbreviations these sections (a document's) define and their headings'
        initialisms."""
        found: dict[str, set[str]] = {}
        for s in sections:
            for text in (s.name, s.own_text):
                if "(" not in text:
                    continue
                for m in _ABBREVIATION.finditer(text):
                    abbr = m.group(1)
                    if sum(c.isupper() for c in abbr) < 2:
                        continue
                    if abbr.endswith("s") and abbr[:-1].isupper() and len(abbr) > 2:
                        abbr = abbr[:-1]
                    long = long_form(abbr, text[max(0, m.start() - 200) : m.start()])
                    if long is not None:
                        found.setdefault(long, set()).add(abbr.lower())
        names = {n for s in sections for n in (s.name, s.document)}
        seen = {pair for name in names for pair in _initialisms(name)}
        return cls(
            tuple((long, frozenset(shorts)) for long, shorts in found.items()),
            tuple(sorted(seen)),
        )


def merged_abbreviations(documents: Iterator[DocNames] | Sequence[DocNames]) -> Abbreviations:
    """The abbreviations the docs define, as synonyms: "Account Managers (AMs)" makes "am"
    stand for "account managers" (a plural 's' dropped; the long form by ``long_form``). An
    abbreviation that is also a common English word or filler ('AM', 'IT', 'FAR') would take
    that word's questions: it is read only where a question types it in capitals, as are the
    initialisms of names in headings that the docs never define (``heading_initialisms``)."""
    found: dict[str, set[str]] = {}
    seen: dict[str, set[str]] = {}
    for doc in documents:
        for long, shorts in doc.defined:
            found.setdefault(long, set()).update(shorts)
        for short, long in doc.initialisms:
            seen.setdefault(short, set()).add(long)
    common = common_english_words() | FILLER
    plain: dict[str, tuple[str, ...]] = {}
    capitals: dict[str, tuple[str, ...]] = {}
    defined = {a for shorts in found.values() for a in shorts}
    for long, short in _unshared(seen).items():
        if short not in defined:
            capitals[long] = (short,)
    for long, shorts in found.items():
        for table, kept in ((plain, shorts - common), (capitals, shorts & common)):
            if kept:
                table[long] = tuple(sorted(kept))
    return Abbreviations(plain, capitals)


def defined_abbreviations(sections: Sequence[Section]) -> Abbreviations:
    """``merged_abbreviations`` of these sections."""
    return merged_abbreviations([DocNames.of(sections)])


def heading_initialisms(sections: Sequence[Section]) -> dict[str, str]:
    """Initialisms of the names in headings and titles: "IT Site Reliability Engineer" makes
    "sre" stand for "site reliability engineer" (two to four capitalised words in a row; a
    word in capitals, itself an abbreviation, breaks the row). An initialism that two names
    share stands for neither. Read only where a question types it in capitals."""
    seen: dict[str, set[str]] = {}
    for short, long in DocNames.of(sections).initialisms:
        seen.setdefault(short, set()).add(long)
    return _unshared(seen)


def _unshared(seen: dict[str, set[str]]) -> dict[str, str]:
    """Each name an initialism stands for, where it stands for one name only."""
    return {next(iter(longs)): short for short, longs in seen.items() if len(longs) == 1}


def _initialisms(name: str) -> set[tuple[str, str]]:
    """The (initialism, name) pairs of one heading or title (see ``heading_initialisms``)."""
    out: set[tuple[str, str]] = set()
    runs: list[list[str]] = [[]]
    for phrase in _PUNCTUATION.split(name):  # "Vice President, Operations": two names
        for w in _TEXT_WORD.findall(phrase):
            if w[0].isupper() and not w.isupper() and w.lower() not in _NOT_FIRST:
                runs[-1].append(w.lower())
            elif runs[-1]:
                runs.append([])
        if runs[-1]:
            runs.append([])
    for run in runs:
        for size in range(2, min(4, len(run)) + 1):
            for k in range(len(run) - size + 1):
                part = run[k : k + size]
                out.add(("".join(w[0] for w in part), " ".join(part)))
    return out


def alias_table(
    synonyms: dict[str, tuple[str, ...]],
) -> dict[tuple[str, ...], list[tuple[str, ...]]]:
    """Map each typed word sequence to the documents' wordings it stands for."""
    table: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for canonical, aliases in synonyms.items():
        canon = tuple(words_of(canonical))
        if not canon:
            continue
        for alias in (canonical, *aliases):
            key = tuple(words_of(alias))
            if key and canon not in table.setdefault(key, []):
                table[key].append(canon)
    return table


def _same_tree(old: Sequence[Section], new: Sequence[Section]) -> bool:
    """Whether two indexes' sections have the same ids and parents, in the same order."""
    return len(old) == len(new) and all(
        a.id == b.id and a.parent == b.parent for a, b in zip(old, new, strict=True)
    )


class Counted(NamedTuple):
    """What a Tables counted for the sections from a row on (``Tables.counted``), with its
    own term ids and word numbers: their terms and words in id order, and per table the
    keys, frequencies and codes as one array each."""

    terms: tuple[list[str], list[str]]
    keys: tuple[np.ndarray, np.ndarray]
    tf: tuple[np.ndarray, np.ndarray]
    named: tuple[np.ndarray, np.ndarray]
    words: list[str]
    hits: np.ndarray
    lengths: np.ndarray  # of the sections from the row on


class Tables:
    """The stem table and the form table while an index is built or updated: term ids, and
    for keys term_id * n_sections + section, term frequencies and heading codes, gathered in
    bulk and grouped by term at the end; and how many sections say each word."""

    def __init__(self, n: int, previous: tuple[Postings, Postings] | None = None) -> None:
        self.n = n
        # An update adds to the terms of the postings it updates (new terms get new ids).
        self.terms: tuple[dict[str, int], ...] = (
            tuple(dict(p.terms) for p in previous) if previous else ({}, {})
        )
        self.size = [p.size for p in previous] if previous else [0, 0]
        self.word_ids: tuple[dict[str, int], dict[str, int]] = ({}, {})  # -1: no such term
        self.word_no: dict[str, int] = {}
        self.hits = np.zeros(0, dtype=np.int64)  # sections saying each word, by word_no
        self.keys: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
        self.tf: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
        self.named: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])

    def _term_id(self, table: int, term: str | None) -> int:
        if term is None:
            return -1
        terms = self.terms[table]
        j = terms.get(term)
        if j is None:
            j = terms[term] = self.size[table]
            self.size[table] += 1
        return j

    def ids(self, words: list[str]) -> list[np.ndarray]:
        """Each word's stem id, form id (-1 for a form that is its own stem, see term_keys)
        and word number."""
        distinct = list(dict.fromkeys(words))
        index = {w: i for i, w in enumerate(distinct)}
        for w in set(distinct).difference(self.word_no):
            self.word_no[w] = len(self.word_no)
            for table, term in enumerate(term_keys(w)):
                self.word_ids[table][w] = self._term_id(table, term)
        # One lookup per word of the text; the tables' ids are then taken by numpy.
        at = np.fromiter(map(index.__getitem__, words), np.int64, len(words))
        return [
            np.fromiter(map(ids.__getitem__, distinct), np.int64, len(distinct))[at]
            for ids in (*self.word_ids, self.word_no)
        ]

    def count(self, rows: Sequence[int], sections: Sequence[Section], lengths: np.ndarray) -> None:
        """Add these sections (at these rows) to the tables: their texts' term frequencies,
        their headings' and context's words, their lengths (into ``lengths``)."""
        n = self.n
        texts = [text_words(s) for s in sections]
        sizes = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        at = np.asarray(rows, dtype=np.int64)
        lengths[at] = sizes
        named: list[str] = []
        named_rows: list[int] = []
        codes: list[int] = []
        for i, s in zip(at.tolist(), sections, strict=True):
            context, heading = named_words(s)
            named += context + heading
            named_rows += [i] * (len(context) + len(heading))
            codes += [CONTEXT_CODE] * len(context) + [HEADING_CODE] * len(heading)
        words = [w for text in texts for w in text]
        said = len(words)
        text_rows = np.repeat(at, sizes)
        where = np.asarray(named_rows, dtype=np.int64)
        code = np.asarray(codes, dtype=np.uint8)
        *term_ids, word_nos = self.ids(words + named)
        del texts, words, named
        for table, ids in enumerate(term_ids):
            keys, tf = np.unique((ids[:said] * n + text_rows)[ids[:said] >= 0], return_counts=True)
            self._add(table, keys, tf.astype(np.int32), np.zeros(len(keys), dtype=np.uint8))
            keep = ids[said:] >= 0
            keys = (ids[said:] * n + where)[keep]
            self._add(table, keys, np.zeros(len(keys), dtype=np.int32), code[keep])
        heading = code == HEADING_CODE
        text_sayers = word_nos[:said] * n + text_rows
        sayers = np.concatenate([text_sayers, (word_nos[said:] * n + where)[heading]])
        sayers.sort()  # each (word, section) once: np.unique without counts hashes, slower
        sayers = sayers[np.append(True, sayers[1:] != sayers[:-1])[: len(sayers)]]
        hits = np.bincount(sayers // max(n, 1), minlength=len(self.word_no))
        hits[: len(self.hits)] += self.hits
        self.hits = hits

    def count_rows(
        self, sections: Sequence[Section], start: int, stop: int, lengths: np.ndarray
    ) -> None:
        """``count`` the sections from ``start`` to ``stop``, CHUNK at a time."""
        for at in range(start, stop, CHUNK):
            rows = range(at, min(stop, at + CHUNK))
            self.count(rows, sections[at : rows.stop], lengths)

    @staticmethod
    def counted(n: int, sections: Sequence[Section], start: int) -> Counted:
        """The words of ``sections[start:]`` (of ``n``) counted in new tables (``count``)."""
        tables = Tables(n)
        lengths = np.zeros(n, dtype=np.int32)
        tables.count_rows(sections, start, n, lengths)

        def joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

        return Counted(
            (list(tables.terms[0]), list(tables.terms[1])),
            (joined(tables.keys[0], np.int64), joined(tables.keys[1], np.int64)),
            (joined(tables.tf[0], np.int32), joined(tables.tf[1], np.int32)),
            (joined(tables.named[0], np.uint8), joined(tables.named[1], np.uint8)),
            list(tables.word_no),
            tables.hits,
            lengths[start:],
        )

    def merge(self, other: Counted) -> None:
        """Add what another Tables of the same ``n`` counted for other sections (``counted``):
        its terms and words take this one's ids (new ones get new ids), its keys with them."""
        n = max(self.n, 1)
        for table in (0, 1):
            terms = other.terms[table]
            ids = np.fromiter((self._term_id(table, t) for t in terms), np.int64, len(terms))
            keys = other.keys[table]
            self._add(table, ids[keys // n] * n + keys % n, other.tf[table], other.named[table])
        for w in other.words:
            if w not in self.word_no:
                self.word_no[w] = len(self.word_no)
                for table, term in enumerate(term_keys(w)):
                    self.word_ids[table][w] = self._term_id(table, term)
        numbers = np.fromiter(map(self.word_no.__getitem__, other.words), np.int64,
                              len(other.words))  # fmt: skip
        hits = np.zeros(len(self.word_no), dtype=np.int64)
        hits[: len(self.hits)] = self.hits
        hits[numbers] += other.hits[: len(numbers)]
        self.hits = hits

    def _add(self, table: int, keys: np.ndarray, tf: np.ndarray, named: np.ndarray) -> None:
        self.keys[table].append(keys)
        self.tf[table].append(tf)
        self.named[table].append(named)

    def sorted(self, table: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """A table's postings, by term and section: where each term id's postings start
        (``size`` + 1 bounds), their sections (int32), term frequencies and heading codes,
        each (term, section) once (a word in the text and the heading: its frequency in the
        text, the strongest heading code). Made with as few full-size temporaries as can be:
        this is a large build's peak of memory. Each posting's key, frequency and code are
        packed into one int64 sorted in place, where they fit in PACKED_BITS; else sorted
        apart (``_sorted_apart``)."""
        n, size = max(self.n, 1), self.size[table]
        top_tf = max((int(t.max()) for t in self.tf[table] if len(t)), default=0)
        shift = max(1, top_tf.bit_length()) + 8  # the code below the frequency: one byte
        if (size * n).bit_length() + shift > PACKED_BITS:
            return self._sorted_apart(table)
        packed = self._packed(table, shift)
        packed.sort()
        # A term's postings start at its first key: term id * n.
        bounds = np.searchsorted(packed, (np.arange(size + 1, dtype=np.int64) * n) << shift)
        rows = np.empty(len(packed), dtype=np.int32)
        tf = np.empty(len(packed), dtype=np.uint16 if top_tf <= 0xFFFF else np.uint32)
        named = np.empty(len(packed), dtype=np.uint8)
        repeats: list[np.ndarray] = []
        part = key = packed[:0]
        for start in range(0, len(packed), POSTINGS_STEP):  # no full-size int64 temporaries
            part = packed[start : start + POSTINGS_STEP]
            end = start + len(part)
            key = packed[max(0, start - 1) : end] >> shift  # with the key before, if any
            repeats.append(np.flatnonzero(key[1:] == key[:-1]) + max(1, start))
            rows[start:end] = key[-len(part) :] % n
            tf[start:end] = (part >> 8) & ((1 << (shift - 8)) - 1)
            named[start:end] = part & 0xFF
        del packed, part, key
        at = np.concatenate([*repeats, np.zeros(0, dtype=np.int64)])
        return self._merged(at, bounds, rows, tf, named)

    def _packed(self, table: int, shift: int) -> np.ndarray:
        """A table's pieces as one array of packed postings (see ``sorted``), each piece
        freed once packed (and their memory given back every few pieces: malloc keeps what
        comes back in small pieces, and the packed array is new memory)."""
        keys, tfs, codes = self.keys[table], self.tf[table], self.named[table]
        packed = np.empty(sum(map(len, keys)), dtype=np.int64)
        at = done = 0
        while keys:
            key, tf, code = keys.pop(0), tfs.pop(0), codes.pop(0)
            for start in range(0, len(key), POSTINGS_STEP):
                end = start + POSTINGS_STEP
                part = (key[start:end] << shift) | (tf[start:end].astype(np.int64) << 8)
                packed[at + start : at + start + len(part)] = part | code[start:end]
            at += len(key)
            done += len(key)
            if done >= POSTINGS_STEP or not keys:
                del key, tf, code
                give_back_memory()
                done = 0
        return packed

    @staticmethod
    def _merged(
        repeats: np.ndarray, bounds: np.ndarray, rows: np.ndarray, tf: np.ndarray,
        named: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """Sorted postings with their few repeats (a posting again right after itself, at
        ``repeats``: never a term's first) added to the first of their run and removed: no
        array of every run's start (as np.add.reduceat would need)."""
        if len(repeats):
            # Both ascending: membership by binary search and runs by comparing neighbours
            # (np.isin and np.unique hash them, several times slower).
            last = len(repeats) - 1
            first = repeats - 1
            while (
                back := repeats[np.minimum(np.searchsorted(repeats, first), last)] == first
            ).any():
                first[back] -= 1  # a run of three or more
            starts = np.empty(len(first), dtype=bool)
            starts[0] = True
            np.not_equal(first[1:], first[:-1], out=starts[1:])
            firsts, which = first[starts], np.cumsum(starts) - 1
            sums = tf[firsts].astype(np.int64)
            np.add.at(sums, which, tf[repeats])
            if sums.max() > np.iinfo(tf.dtype).max:
                tf = tf.astype(np.uint32)
            tf[firsts] = sums
            np.maximum.at(named, first, named[repeats])
            bounds = bounds - np.searchsorted(repeats, bounds)
            rows, tf, named = (np.delete(a, repeats) for a in (rows, tf, named))
        return bounds, rows, compact_counts(tf), named

    def _sorted_apart(self, table: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``sorted`` for postings whose key and frequency do not fit in one int64 (a folder
        of millions of sections and terms, or a word said millions of times): the keys are
        sorted and the frequencies and codes follow their order. At a larger peak."""
        key = np.concatenate([*self.keys[table], np.zeros(0, dtype=np.int64)])
        tf = np.concatenate([*self.tf[table], np.zeros(0, dtype=np.int32)])
        named = np.concatenate([*self.named[table], np.zeros(0, dtype=np.uint8)])
        for pieces in (self.keys, self.tf, self.named):
            pieces[table].clear()  # the pieces, freed before the sort's copies are made
        order = np.argsort(key, kind="stable")
        key = key[order]  # one at a time: each array's old order freed before the next
        tf = tf[order]
        named = named[order]
        del order
        repeats = np.flatnonzero(key[1:] == key[:-1]) + 1
        n = max(self.n, 1)
        terms = np.empty(len(key), dtype=np.int32)
        rows = np.empty(len(key), dtype=np.int32)
        for start in range(0, len(key), POSTINGS_STEP):  # no full-size int64 quotients
            part = key[start : start + POSTINGS_STEP]
            terms[start : start + POSTINGS_STEP] = part // n
            rows[start : start + POSTINGS_STEP] = part % n
        del key
        bounds = np.searchsorted(terms, np.arange(self.size[table] + 1, dtype=terms.dtype))
        del terms
        return self._merged(repeats, bounds, rows, tf, named)

    def word_counts(self) -> dict[str, int]:
        """How many sections say each word (in their text, heading or phrasings)."""
        counts = self.hits.tolist()
        return {w: counts[j] for w, j in self.word_no.items() if counts[j]}


def compact_counts(tf: np.ndarray) -> np.ndarray:
    """Term frequencies in the smallest unsigned type that holds them (not a copy where
    they are in it already)."""
    return tf.astype(np.uint16 if not len(tf) or tf.max() <= 0xFFFF else np.uint32, copy=False)


class Postings(Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]]):
    """A table of postings, term -> (section indexes in ascending order, the term's frequency
    in each one's text, its heading code there: see NAMED), held as four arrays and a term ->
    position dict: a term's triple is made (three views) when asked for. A dict of arrays held
    array objects per term, most of the index's memory on a large folder, and many small
    pieces for a reload to free. Strengths are not kept: they depend on the average section
    length, which every edit moves (SectionIndex.holding computes them)."""

    __slots__ = ("_at", "_bounds", "_named", "_rows", "_tf")

    def __init__(self, at: dict[str, int], bounds: np.ndarray, rows: np.ndarray,
                 tf: np.ndarray, named: np.ndarray) -> None:  # fmt: skip
        self._at, self._bounds, self._rows, self._tf, self._named = at, bounds, rows, tf, named

    @property
    def terms(self) -> dict[str, int]:
        """Each term's id."""
        return self._at

    @property
    def size(self) -> int:
        """How many term ids there are (a term gone from the docs leaves its id unused)."""
        return len(self._bounds) - 1

    def updated(self, old_to_new: np.ndarray, terms: dict[str, int], n: int,
                new_bounds: np.ndarray, rows: np.ndarray, tf: np.ndarray,
                named: np.ndarray) -> Postings:  # fmt: skip
        """These postings with each kept section renumbered (``old_to_new``: its new
        index, or -1 for a section gone) and the new sections' postings (``Tables.sorted``'s
        arrays, for ``n`` sections, with ``terms`` from the same Tables) put in their places.
        The kept sections must be in the order they were."""
        size = len(new_bounds) - 1
        term_of = np.repeat(np.arange(size, dtype=np.int32), np.diff(new_bounds))
        # A slice of the postings at a time: one numpy call over millions of them holds the
        # interpreter for tens of milliseconds, and a Slack acknowledgement would wait.
        total = len(self._rows)
        gone = np.zeros(total + 1, dtype=np.int64)  # sections gone before each posting
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for start in range(0, total, POSTINGS_STEP):
            end = min(total, start + POSTINGS_STEP)
            moved = old_to_new[self._rows[start:end]]
            keep = moved >= 0
            np.cumsum(~keep, out=gone[start + 1 : end + 1])
            gone[start + 1 : end + 1] += gone[start]
            parts.append((moved[keep].astype(np.int32), self._tf[start:end][keep],
                          self._named[start:end][keep]))  # fmt: skip
        bounds = self._bounds - gone[self._bounds]
        del gone
        kept_rows, kept_tf, kept_named = (
            np.concatenate([p[k] for p in parts]) if parts else empty[:0]
            for k, empty in enumerate((self._rows, self._tf, self._named))
        )
        del parts
        bounds = np.concatenate([bounds, np.full(size - self.size, bounds[-1])])
        if len(term_of):
            # Each new posting's place: in its term's kept sections, before the first later.
            at = np.empty(len(term_of), dtype=np.int64)
            firsts = np.flatnonzero(np.append(True, term_of[1:] != term_of[:-1]))
            for a, b in zip(firsts.tolist(), [*firsts[1:].tolist(), len(term_of)], strict=True):
                t = int(term_of[a])
                lo, hi = int(bounds[t]), int(bounds[t + 1])
                at[a:b] = lo + np.searchsorted(kept_rows[lo:hi], rows[a:b])
            if tf.dtype.itemsize > kept_tf.dtype.itemsize:
                kept_tf = kept_tf.astype(tf.dtype)
            kept_rows = np.insert(kept_rows, at, rows)
            kept_tf = np.insert(kept_tf, at, tf)
            kept_named = np.insert(kept_named, at, named)
            bounds += new_bounds
        counts = np.diff(bounds).tolist()
        at_term = {t: j for t, j in terms.items() if counts[j]}
        if at_term == self._at:  # no term new or gone: one dict held, not two
            at_term = self._at
        return Postings(at_term, bounds, kept_rows, kept_tf, kept_named)

    def get(self, term: str, default: object = None) -> tuple[np.ndarray, ...] | None:
        """The term's (section indexes, term frequencies, heading codes), or ``default``."""
        j = self._at.get(term)
        if j is None:
            return default  # type: ignore[return-value]
        start, end = int(self._bounds[j]), int(self._bounds[j + 1])
        return self._rows[start:end], self._tf[start:end], self._named[start:end]

    def __getitem__(self, term: str) -> tuple[np.ndarray, ...]:
        found = self.get(term)
        if found is None:
            raise KeyError(term)
        return found

    def __contains__(self, term: object) -> bool:
        return term in self._at

    def __iter__(self) -> Iterator[str]:
        return iter(self._at)

    def __len__(self) -> int:
        return len(self._at)

    def frequencies(self) -> dict[str, int]:
        """How many sections hold each term."""
        counts = np.diff(self._bounds).tolist()
        return {t: counts[j] for t, j in self._at.items()}

    def sharing(self, other: Postings) -> Postings:
        """These postings, holding ``other``'s term -> position dict where the two are equal
        (a reload's postings read back: one dict held, not two)."""
        if other._at is self._at or other._at != self._at:
            return self
        return Postings(other._at, self._bounds, self._rows, self._tf, self._named)


def bm25_k(lengths: np.ndarray) -> np.ndarray:
    """BM25's length normalisation of each section's term frequencies (k1 scaled by the
    section's length over the average)."""
    avg_len = max(1.0, float(lengths.sum(dtype=np.int64)) / max(1, len(lengths)))
    return BM25_K1 * (1 - BM25_B + BM25_B * lengths.astype(np.int64) / avg_len)


def text_words(section: Section) -> list[str]:
    """The words of a section's own text that can tell it apart (filler left out)."""
    return [w for w in words_of(section.own_text) if w not in FILLER]


def named_words(section: Section) -> tuple[list[str], list[str]]:
    """The words of a section's parent headings, title and folder labels, and of its own
    heading and owner phrasings."""
    context = [w for c in section.context for w in topic_words(c)]
    heading = [w for key in (section.name, *section.phrasings) for w in topic_words(key)]
    return context, heading


def said_words(section: Section) -> set[str]:
    """The words a section gives the vocabulary (typo correction's candidates): those of
    its text, heading and phrasings."""
    return set(text_words(section)).union(named_words(section)[1])
