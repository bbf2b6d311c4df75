"""The index build: every section's postings (BM25 strengths by stem and by plural form), the
idf of each stem, the vocabulary for typo correction and each section's keys for phrase
similarity. Built once per library; immutable after (but for its typo cache)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import NamedTuple, Self

import numpy as np

from bot.content import Library, Section, collector_paused
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

# How strongly a section holds a query word, by where the word is.
IN_HEADING = 1.0  # the section's own heading or an owner phrasing
IN_CONTEXT = 0.6  # the document title or a parent heading
IN_TEXT = 0.4  # the section's own text: at least this much ...
IN_TEXT_MAX = 0.9  # ... rising towards this the more it says the word (BM25 tf, below)
BM25_K1 = 1.2
BM25_B = 0.75
#: Sections whose sentences an index remembers before it starts over.
SENTENCE_CACHE = 20_000
#: Sections whose words the build counts at a time.
CHUNK = 2_000


class Keys(NamedTuple):
    """What phrase similarity and heading naming need of one section (see SectionIndex.keys).
    Tuples, not lists and sets: held for every section, a frozenset costs 216 bytes or more
    where a tuple of three stems costs 64."""

    keys: tuple[str, ...]  # heading, its aliases, document + heading, phrasings, title
    stem_keys: tuple[str, ...]  # the same as stems
    head: tuple[str, ...]  # stems of its heading path, each once
    own: tuple[str, ...]  # stems of its own heading, each once
    head_idf: float
    own_idf: float


class SectionIndex:
    """Sections indexed for fuzzy question matching (bot.engine.search.Index matches)."""

    def __init__(self, library: Library, previous: SectionIndex | None = None) -> None:
        # The build makes millions of small objects and frees few: the cyclic collector would
        # scan them again and again for nothing (a tenth to a quarter of a 10,000-section
        # build's time when measured).
        with collector_paused():
            self._build(library, previous)

    def _build(self, library: Library, previous: SectionIndex | None) -> None:
        """Index a library; the keys of sections ``previous`` (the index a reload replaces)
        holds too, the same objects (a file the reload did not parse again), are reused."""
        self.sections: tuple[Section, ...] = library.sections
        n = len(self.sections)
        self.ids = {s.id: i for i, s in enumerate(self.sections)}
        # Postings are gathered as numpy arrays of keys (term id * n + section) and strengths,
        # in a stem table and a form table. The sections' words are counted a chunk of
        # sections at a time: a string per word of the whole corpus at once was most of a
        # large build's peak, and left its memory in pieces once freed.
        tables = Tables(n)
        lengths = np.zeros(n, dtype=np.int64)
        vocab: set[str] = set()
        counted: tuple[list[tuple[np.ndarray, np.ndarray]], ...] = ([], [])
        for start in range(0, n, CHUNK):
            texts = [
                [w for w in words_of(s.own_text) if w not in FILLER]
                for s in self.sections[start : start + CHUNK]
            ]
            sizes = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
            lengths[start : start + len(texts)] = sizes
            vocab.update(*texts)
            words = [w for text in texts for w in text]
            rows = np.repeat(np.arange(start, start + len(texts), dtype=np.int64), sizes)
            for table, term_ids in enumerate(tables.ids(words)):
                keys, tf = np.unique((term_ids * n + rows)[term_ids >= 0], return_counts=True)
                counted[table].append((keys, tf.astype(np.int32)))
            del texts, words, rows
        avg_len = max(1.0, float(lengths.sum()) / max(1, n))
        # BM25's saturating, length-normalised term frequency, scaled into 0..1: a word said
        # often in a short section is stronger evidence than once in a long table.
        k = BM25_K1 * (1 - BM25_B + BM25_B * lengths / avg_len)
        for table, parts in enumerate(counted):
            while parts:  # each chunk's counts freed as soon as they are strengths
                keys, tf = parts.pop(0)
                tables.add(table, keys, IN_TEXT + (IN_TEXT_MAX - IN_TEXT) * tf / (tf + k[keys % n]))
        del counted
        # Headings and owner phrasings count fully; parent headings, titles and folder labels
        # at least IN_CONTEXT: a word's strength in a section is the most any place gives it.
        # A chunk of sections at a time too: one call over a million words would keep every
        # other thread (the Slack listener's acknowledgements) waiting for a reload.
        for start in range(0, n, CHUNK):
            named: list[str] = []
            named_rows: list[int] = []
            named_strengths: list[float] = []
            for i in range(start, min(n, start + CHUNK)):
                s = self.sections[i]
                context = [w for c in s.context for w in topic_words(c)]
                heading = [w for key in (s.name, *s.phrasings) for w in topic_words(key)]
                vocab.update(heading)
                named += context + heading
                named_rows += [i] * (len(context) + len(heading))
                named_strengths += [IN_CONTEXT] * len(context) + [IN_HEADING] * len(heading)
            for table, term_ids in enumerate(tables.ids(named)):
                keep = term_ids >= 0
                keys = term_ids * n + np.asarray(named_rows, dtype=np.int64)
                tables.add(table, keys[keep], np.asarray(named_strengths)[keep])
        self.postings, self.form_postings = tables.postings()
        # A word found in (or above) every section tells them apart least: BM25's idf.
        df = self.postings.frequencies()
        self.idf = {st: math.log(1 + (n - d + 0.5) / (d + 0.5)) for st, d in df.items()}
        self.max_idf = math.log(1 + (n + 0.5) / 0.5)
        self.words = vocab
        # Typo candidates by length and by first or second letter: a word k edits away differs
        # in length by at most k, and a typo rarely changes both of its first two letters.
        # The synonyms' one-word spellings are candidates too ('sysadmn' -> 'sysadmin').
        self.vocab_stems = set(self.postings)
        abbreviations = defined_abbreviations(self.sections)
        self.aliases = alias_table({**abbreviations.plain, **library.synonyms})
        # Abbreviations that are English words too, read only as typed in capitals ('AM').
        self.capital_aliases: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        for long, shorts in abbreviations.capitals.items():
            for typed in (a + plural for a in shorts for plural in ("", "s")):
                self.capital_aliases.setdefault((typed,), []).append(tuple(words_of(long)))
        one_word_aliases = {
            a[0]
            for a, canon in self.aliases.items()
            if len(a) == 1 and any(all(stem(w) in self.vocab_stems for w in c) for c in canon)
        }
        self.typo_vocab: dict[tuple[int, str], list[str]] = {}
        for w in sorted(vocab | one_word_aliases):
            if len(w) >= 3 and not w.isdigit():
                self.typo_vocab.setdefault((len(w), w[0]), []).append(w)
                self.typo_vocab.setdefault((len(w), "2" + w[1]), []).append(w)
        self.max_alias = max((len(a) for a in self.aliases), default=1)
        # Typo corrections remembered per word. A plain dict, not lru_cache around a bound
        # method: that would tie the index to itself in a reference cycle, and an index
        # replaced by a reload would then wait, whole, for the cyclic collector's next full
        # pass (and make that pass long) instead of being freed at once.
        self.typo_cache: dict[str, str | None] = {}
        # Sentence stems of the sections long questions re-rank, remembered likewise.
        self.sentence_cache: dict[int, dict[str, int]] = {}
        self.parents = [-1 if s.parent is None else self.ids[s.parent] for s in self.sections]
        # Every section's keys now, not when a question first re-ranks it: the first questions
        # after a (re)load would otherwise pay for them, a third of an answer's time.
        reused = previous.key_list if previous is not None else []
        at = previous.ids if previous is not None else {}
        self.key_list = []
        for s in self.sections:
            j = at.get(s.id)
            if j is not None and previous.sections[j] is s:  # type: ignore[union-attr]
                self.key_list.append(self._weighed(reused[j]))
            else:
                self.key_list.append(self._make_keys(s))

    def __len__(self) -> int:
        return len(self.sections)

    def __getstate__(self) -> dict:
        """What the docs cache keeps of the index (bot.docs_cache): all but its sections
        (kept with the library), what is quick to make again from them, and its caches,
        which questions asked meanwhile may be changing."""
        dropped = ("sections", "ids", "typo_cache", "sentence_cache")
        return {k: v for k, v in self.__dict__.items() if k not in dropped}

    @classmethod
    def restored(cls, state: dict, sections: tuple[Section, ...]) -> Self:
        """The index ``__getstate__`` gave ``state`` of, built from ``sections``."""
        index = cls.__new__(cls)
        index.__dict__.update(state)
        index.sections = sections
        index.ids = {s.id: i for i, s in enumerate(sections)}
        index.typo_cache, index.sentence_cache = {}, {}
        if len(index.key_list) != len(sections) or len(index.parents) != len(sections):
            raise ValueError(f"an index of {len(index.key_list)} sections for {len(sections)}")
        return index

    def section(self, section_id: str) -> Section | None:
        """The section with this id, or None."""
        i = self.ids.get(section_id)
        return self.sections[i] if i is not None else None

    def keys(self, i: int) -> Keys:
        """Section i's keys (see ``_make_keys``)."""
        return self.key_list[i]

    def _make_keys(self, s: Section) -> Keys:
        """A section's heading and phrasings as words and as stems, its heading path's stems
        and its own heading's, and their weights."""
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
        stem_keys = tuple(" ".join(map(stem, k.split())) for k in keys)
        own = frozenset(stem(w) for w in name if w not in QUESTION_WORDS)
        head = own.union(
            *(
                (stem(w) for w in heading_key_words(part) if w not in QUESTION_WORDS)
                for part in s.context
            )
        )
        return self._weighed(Keys(tuple(keys), stem_keys, tuple(head), tuple(own), 0.0, 0.0))

    def _weighed(self, keys: Keys) -> Keys:
        """Keys with their heading path's and own heading's weights by this index's idf."""
        idf = self.idf.get
        return keys._replace(
            head_idf=sum(idf(h, 0.0) for h in keys.head),
            own_idf=sum(idf(h, 0.0) for h in keys.own),
        )

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


def defined_abbreviations(sections: tuple[Section, ...]) -> Abbreviations:
    """The abbreviations the docs define, as synonyms: "Account Managers (AMs)" makes "am"
    stand for "account managers" (a plural 's' dropped; the long form by ``long_form``). An
    abbreviation that is also a common English word or filler ('AM', 'IT', 'FAR') would take
    that word's questions: it is read only where a question types it in capitals, as are the
    initialisms of names in headings that the docs never define (``heading_initialisms``)."""
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
    common = common_english_words() | FILLER
    plain: dict[str, tuple[str, ...]] = {}
    capitals: dict[str, tuple[str, ...]] = {}
    defined = {a for shorts in found.values() for a in shorts}
    for long, short in heading_initialisms(sections).items():
        if short not in defined:
            capitals[long] = (short,)
    for long, shorts in found.items():
        for table, kept in ((plain, shorts - common), (capitals, shorts & common)):
            if kept:
                table[long] = tuple(sorted(kept))
    return Abbreviations(plain, capitals)


def heading_initialisms(sections: tuple[Section, ...]) -> dict[str, str]:
    """Initialisms of the names in headings and titles: "IT Site Reliability Engineer" makes
    "sre" stand for "site reliability engineer" (two to four capitalised words in a row; a
    word in capitals, itself an abbreviation, breaks the row). An initialism that two names
    share stands for neither. Read only where a question types it in capitals."""
    seen: dict[str, set[str]] = {}
    for name in {n for s in sections for n in (s.name, s.document)}:
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
                    seen.setdefault("".join(w[0] for w in part), set()).add(" ".join(part))
    return {next(iter(longs)): short for short, longs in seen.items() if len(longs) == 1}


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


class Tables:
    """The stem table and the form table while an index is built: term ids, and strengths
    for keys term_id * n_sections + section, gathered in bulk and grouped by term at the end."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.terms: tuple[dict[str, int], dict[str, int]] = ({}, {})
        self.word_ids: tuple[dict[str, int], dict[str, int]] = ({}, {})  # -1: no such term
        self.keys: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
        self.values: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])

    def ids(self, words: list[str]) -> list[np.ndarray]:
        """Each word's stem id and form id (-1 for a form that is its own stem, see term_keys)."""
        distinct = list(dict.fromkeys(words))
        index = {w: i for i, w in enumerate(distinct)}
        for w in set(distinct).difference(self.word_ids[0]):
            for terms, ids, term in zip(self.terms, self.word_ids, term_keys(w), strict=True):
                ids[w] = -1 if term is None else terms.setdefault(term, len(terms))
        # One lookup per word of the text; the two tables' ids are then taken by numpy.
        at = np.fromiter(map(index.__getitem__, words), np.int64, len(words))
        return [
            np.fromiter(map(ids.__getitem__, distinct), np.int64, len(distinct))[at]
            for ids in self.word_ids
        ]

    def add(self, table: int, keys: np.ndarray, values: np.ndarray) -> None:
        """Strengths for keys of one table (0: stems, 1: forms), held as float32 (what the
        postings keep: rounding first and taking the greatest after gives the same)."""
        self.keys[table].append(keys)
        self.values[table].append(values.astype(np.float32))

    def postings(self) -> list[Postings]:
        """Each table as term -> (section indexes in ascending order, strengths), a term
        holding in a section the greatest strength it was given there."""
        out = []
        for terms, keys, values in zip(self.terms, self.keys, self.values, strict=True):
            key = np.concatenate([*keys, np.zeros(0, dtype=np.int64)])
            value = np.concatenate([*values, np.zeros(0, dtype=np.float32)])
            keys.clear()  # the pieces, freed before the sort's copies are made
            values.clear()
            order = np.argsort(key, kind="stable")
            key = key[order]
            value = value[order]
            del order
            first = np.flatnonzero(np.append(True, key[1:] != key[:-1])[: len(key)])
            key = key[first]  # each key once, holding the greatest strength given to it
            value = np.maximum.reduceat(value, first) if len(key) else value
            del first
            n = max(self.n, 1)
            rows = (key % n).astype(np.int32)
            bounds = np.searchsorted(key // n, np.arange(len(terms) + 1))
            out.append(Postings(terms, bounds, rows, value))
        return out


class Postings(Mapping[str, tuple[np.ndarray, np.ndarray]]):
    """A table of postings, term -> (section indexes in ascending order, strengths), held as
    three arrays and a term -> position dict: a term's pair is made (two views) when asked
    for. A dict of pairs held two array objects and a tuple per term, most of the index's
    memory on a large folder, and many small pieces for a reload to free."""

    __slots__ = ("_at", "_bounds", "_rows", "_values")

    def __init__(self, at: dict[str, int], bounds: np.ndarray, rows: np.ndarray,
                 values: np.ndarray) -> None:  # fmt: skip
        self._at, self._bounds, self._rows, self._values = at, bounds, rows, values

    def get(self, term: str, default: object = None) -> tuple[np.ndarray, np.ndarray] | None:
        """The term's (section indexes, strengths), or ``default``."""
        j = self._at.get(term)
        if j is None:
            return default  # type: ignore[return-value]
        start, end = int(self._bounds[j]), int(self._bounds[j + 1])
        return self._rows[start:end], self._values[start:end]

    def __getitem__(self, term: str) -> tuple[np.ndarray, np.ndarray]:
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
