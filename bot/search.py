"""The index: fuzzy matching of a question to sections, with a 0-100 score and a decision."""

from __future__ import annotations

import gc
import html
import math
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import snowballstemmer
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA
from spellchecker import SpellChecker

from bot.content import Library, Section

# Decision thresholds, chosen on the tuning half of bench/ (see README "Benchmark").
#: Below this the best section is not relevant enough to show at all: decline.
DECLINE_BELOW = 46
#: At or above this, and clear of the runner-up, the best section is the answer.
ANSWER_AT = 62
#: The best must lead the runner-up by this many points to be answered outright.
MARGIN = 12
#: Only the first this many characters of a question are matched (a Slack message can hold
#: 40,000; no real question needs more, and typo correction costs time per word).
MAX_QUESTION_CHARS = 1000
#: A question that is word for word one section's heading or phrasing (and no runner-up's) is
#: answered outright whatever the margin; word for word its document's title, only if its
#: words weigh at least this much (BM25 idf).
EXACT_IDF = 1.0
#: How many alternatives an answer carries.
MAX_ALTERNATIVES = 3

# How strongly a section holds a query word, by where the word is.
IN_HEADING = 1.0  # the section's own heading or an owner phrasing
IN_CONTEXT = 0.6  # the document title or a parent heading
IN_TEXT = 0.4  # the section's own text: at least this much ...
IN_TEXT_MAX = 0.9  # ... rising towards this the more it says the word (BM25 tf, below)
BM25_K1 = 1.2
BM25_B = 0.75
#: A word that shares only its stem with the docs' word ('developer' / 'development').
STEM_ONLY = 0.7
#: Weight of a question word the index has never seen, relative to the rarest known word.
UNKNOWN_WEIGHT = 1.0
#: Unknown words weigh at most this many times the words the index knows (chosen on the
#: tuning halves: 2-3 decline two more off-topic questions than 1, and lose no in-scope one).
UNKNOWN_CAP = 2.0
#: A question naming every word of a heading covers that section at least this much.
HEADING_NAMED = 0.7
#: ... but only when the heading words it names weigh at least this much (BM25 idf): naming
#: "What a DevOps Specialist Does" in a DevOps doc takes nothing but "devops specialist",
#: which every section has (chosen on the tuning halves: 0.3-0.8 one more right, 1.0 one less).
NAMED_IDF = 0.5
#: A question that names a section's own heading ('the developer') and whose other words are
#: all in that section's heading path ('devops developer role') covers it this much.
PATH_NAMED = 0.9
#: Share of the score that comes from rapidfuzz similarity to the heading-derived questions.
PHRASE_SHARE = 0.3
#: Candidates re-ranked with rapidfuzz phrase similarity.
RERANK = 24
#: A typo is corrected to an index word at most this many edits away (OSA distance:
#: a swap of two letters is one edit), by word length; shorter words are not corrected.
TYPO_EDITS = {4: 1, 5: 1, 6: 1, 7: 2}
#: A typo is corrected to a synonym's one-word spelling (not a word of the docs) only when it
#: is this many edits away.
ALIAS_TYPO_EDITS = 1
#: A corrected word counts for less than a word spelled as in the docs.
TYPO_STRENGTH = 0.85
#: Typo corrections an index remembers before it starts over.
TYPO_CACHE = 50_000
#: A question word that English uses at least this often (pyspellchecker's English word
#: counts) is a word, not a typo: 'version' is not corrected to 'person', 'stuff' to 'staff',
#: 'come' to 'code'. Rarer words still are ('manger' -> 'manager'). (Chosen on the tuning
#: halves: 1000-3000 change no right answer, 300 loses one.)
COMMON_WORD_COUNT = 1000

_STEMMER = snowballstemmer.stemmer("english")
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
_SLACK_LINK = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")

#: Words that carry no topic: function words and chat filler ("hey bot, could you tell me").
FILLER = frozenset(
    """
    a about above after again all also am an and any anyone anybody anything are aren as ask
    asking at be been being both bot but by can cannot could couldn d did didn do does doesn
    doing don done each either else even ever every exactly explain few for from further get
    gets getting give go going good got had has have having he hello help her here hey hi
    his hmm how hows i id if im in into is isn it its just kind know let lets like ll look
    looking m may maybe me mean might mine more most much must my myself need needs no nor
    not now of off ok okay on once one only or other our ours out over own please pls plz
    re really s same say see she should show so some someone something sorry
    sort still such sure t tell than thank thanks thanx thx that thats the their them then
    there these they thing things think this those through to too u under understand until
    up us ve very want wanna was wasn way we well were weren what whats when where which
    while who whos whom why will with wonder wondering would wouldn y yeah yes yet you your
    youre yours yourself hiya yo folks guys day daily part involve involves means look looks
    actually trying figure dumb question questions joined hear hearing keep okay cool lol
    new here's there's what's who's i'm i'd wat wut wot r ur
    """.split()
)
#: Question words: they never count against a section, but count in phrase similarity, so a
#: heading that has them is a better fit ("why is a devops specialist needed" for a "why"
#: question).
QUESTION_WORDS = frozenset({"why", "how", "what", "who", "when", "where"})
#: Chat spellings of question words, read as the word itself ("wat does devops do" asks what
#: "what does devops do" asks). Apostrophes are folded first, so "what's" arrives as "whats".
CHAT_SPELLINGS = {
    **dict.fromkeys(("wat", "wut", "wot", "wht", "whta", "whats", "wats"), "what"),
    **dict.fromkeys(("hw", "hows"), "how"),
    "whos": "who",
    "whys": "why",
    "wheres": "where",
    "whens": "when",
}
#: Words of asking that say nothing about the topic ("who handles / deals with / takes care of
#: / is in charge of / sets up / makes sure of X", "who do I talk to about X", "what does X
#: include", "the security guy"): skipped in questions, but kept in the docs, where "Error
#: handling" or "Setting up backups" is a topic.
ASKING_WORDS = frozenset(
    """
    handle handles handling deal deals dealing charge care takes taking owns make makes making
    set sets setting talk talking speak contact reach include includes including
    guy guys gal dude person
    """.split()
)
#: Filler kept for phrase similarity: "What a DevOps Specialist Does" answers "what does X do",
#: not "what is X" (chosen on the tuning halves: 4 more right, none lost), and "What is Release
#: Management?" answers "what is X", not "what does a release manager do" ("is": 1 more right
#: on the tuning halves, none lost).
_KEY_VERBS = frozenset({"do", "does", "is"})
#: Words for 'a part someone plays' and what it takes on: next to a heading's name they add
#: nothing to it ('the developer role', 'the sysadmin part of the job', 'the coach's duties'),
#: since every section of a role is one.
ROLE_WORDS = frozenset(
    """
    role roles part parts side hat hats job jobs
    responsibility responsibilities duty duties task tasks
    """.split()
)

#: Role words count for no section next to other known words that weigh this much (BM25 idf):
#: "scripting" (1.9) tells the topic of "is scripting part of the devops job", "devops
#: specialist" (0.05) does not tell that of "devops specialist tasks?" (chosen on the tuning
#: halves: 1.0-1.5 one more right, 0.5 one fewer, 2.5 none).
ROLE_WORDS_BESIDE = 1.0


@dataclass(frozen=True, slots=True)
class Match:
    """A section and how well it matches a question (0-100)."""

    section: Section
    score: int


@dataclass(frozen=True, slots=True)
class Answer:
    """The engine's reply to one question: a decision, the best match and alternatives."""

    question: str
    decision: str  # "answer" | "suggest" | "decline"
    best: Match | None
    alternatives: tuple[Match, ...]

    @property
    def answered(self) -> bool:
        """True only when the bot answers with a section outright."""
        return self.decision == "answer"

    @property
    def score(self) -> int:
        """The best match's score, 0 when nothing matched at all."""
        return self.best.score if self.best else 0


def clean_question(text: str) -> str:
    """A question as typed in Slack, without Slack markup: mentions dropped, link labels kept."""

    def link(m: re.Match[str]) -> str:
        target, label = m.group(1), m.group(2)
        if target.startswith(("@", "!")):
            return " "
        if target.startswith("#"):
            return " "
        return f" {label} " if label else " "

    text = _SLACK_LINK.sub(link, text)
    return " ".join(html.unescape(text).split())


def question_words(question: str) -> tuple[str, ...]:
    """A question's words as ``words_of`` gives them, Slack markup removed, the length capped
    and chat spellings of question words read as the word ('wat' -> 'what')."""
    return _question_words(question[:MAX_QUESTION_CHARS])


@lru_cache(maxsize=1024)
def _question_words(question: str) -> tuple[str, ...]:
    # Cached (on the capped question): one answer needs them three times.
    words = words_of(clean_question(question))
    return tuple(CHAT_SPELLINGS.get(w, w) for w in words)


def _question_key(question: str) -> str:
    """A question's key words (see ``key_words``), joined: what phrase similarity compares."""
    return _question_key_capped(question[:MAX_QUESTION_CHARS])


@lru_cache(maxsize=1024)
def _question_key_capped(question: str) -> str:
    return " ".join(key_words(_question_words(question)))


def words_of(text: str) -> list[str]:
    """Lower-case words of a text, Unicode-normalised, apostrophes folded."""
    if not text.isascii():  # NFKC leaves ASCII as it is; most docs are mostly ASCII
        text = unicodedata.normalize("NFKC", text).replace("\u2019", "'")
    words = _WORD.findall(text.casefold())
    return [w.replace("'", "") for w in words] if "'" in text else words


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """The Snowball (Porter2) stem of a lower-case word."""
    return _STEMMER.stemWord(word)


_ROLE_STEMS = frozenset(map(stem, ROLE_WORDS))


@dataclass(frozen=True, slots=True)
class _Concept:
    """One thing the question asks about: a word, or a synonym group of word sequences."""

    alternatives: tuple[tuple[str, ...], ...]  # each a tuple of word forms
    weight: float
    label: str
    strength: float  # 1.0, or less for a corrected typo
    known: bool  # some alternative is a word of the index


class _Keys(NamedTuple):
    """What phrase similarity and heading naming need of one section (see Index._keys)."""

    keys: list[str]  # heading, its aliases, document + heading, phrasings, title: key words
    stem_keys: list[str]  # the same as stems
    head: frozenset[str]  # stems of its heading path
    own: frozenset[str]  # stems of its own heading
    head_idf: float
    own_idf: float


class Index:
    """Sections indexed for fuzzy question matching; immutable once built."""

    def __init__(self, library: Library) -> None:
        # The build makes millions of small objects and frees few: the cyclic collector would
        # scan them again and again for nothing (a tenth to a quarter of a 10,000-section
        # build's time when measured).
        with _collector_paused():
            self._build(library)

    def _build(self, library: Library) -> None:
        self.sections: tuple[Section, ...] = library.sections
        n = len(self.sections)
        self._ids = {s.id: i for i, s in enumerate(self.sections)}
        texts = [[w for w in words_of(s.own_text) if w not in FILLER] for s in self.sections]
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n)
        avg_len = max(1.0, float(lengths.sum()) / max(1, n))
        vocab: set[str] = set().union(*texts)
        # Postings are gathered for every word of every section at once, as numpy arrays of
        # keys (term id * n + section) and strengths, in a stem table and a form table.
        tables = _Tables(n)
        words = [w for text in texts for w in text]
        rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
        # BM25's saturating, length-normalised term frequency, scaled into 0..1: a word said
        # often in a short section is stronger evidence than once in a long table.
        k = BM25_K1 * (1 - BM25_B + BM25_B * lengths / avg_len)
        for table, term_ids in enumerate(tables.ids(words)):
            keys, tf = np.unique((term_ids * n + rows)[term_ids >= 0], return_counts=True)
            tables.add(table, keys, IN_TEXT + (IN_TEXT_MAX - IN_TEXT) * tf / (tf + k[keys % n]))
        # Headings and owner phrasings count fully; parent headings, titles and folder labels
        # at least IN_CONTEXT: a word's strength in a section is the most any place gives it.
        named: list[str] = []
        named_rows: list[int] = []
        named_strengths: list[float] = []
        for i, s in enumerate(self.sections):
            context = [w for c in s.context for w in _topic_words(c)]
            heading = [w for key in (s.name, *s.phrasings) for w in _topic_words(key)]
            vocab.update(heading)
            named += context + heading
            named_rows += [i] * (len(context) + len(heading))
            named_strengths += [IN_CONTEXT] * len(context) + [IN_HEADING] * len(heading)
        for table, term_ids in enumerate(tables.ids(named)):
            keep = term_ids >= 0
            keys = term_ids * n + np.asarray(named_rows, dtype=np.int64)
            tables.add(table, keys[keep], np.asarray(named_strengths)[keep])
        self._postings, self._form_postings = tables.postings()
        # A word found in (or above) every section tells them apart least: BM25's idf.
        df = {st: len(rows) for st, (rows, _) in self._postings.items()}
        self._idf = {st: math.log(1 + (n - d + 0.5) / (d + 0.5)) for st, d in df.items()}
        self._max_idf = math.log(1 + (n + 0.5) / 0.5)
        self._words = vocab
        # Typo candidates by length and by first or second letter: a word k edits away differs
        # in length by at most k, and a typo rarely changes both of its first two letters.
        # The synonyms' one-word spellings are candidates too ('sysadmn' -> 'sysadmin').
        self._vocab_stems = set(self._postings)
        self._aliases = _alias_table(library.synonyms)
        one_word_aliases = {
            a[0]
            for a, canon in self._aliases.items()
            if len(a) == 1 and any(all(stem(w) in self._vocab_stems for w in c) for c in canon)
        }
        self._vocab: dict[tuple[int, str], list[str]] = {}
        for w in sorted(vocab | one_word_aliases):
            if len(w) >= 3 and not w.isdigit():
                self._vocab.setdefault((len(w), w[0]), []).append(w)
                self._vocab.setdefault((len(w), "2" + w[1]), []).append(w)
        self._max_alias = max((len(a) for a in self._aliases), default=1)
        # Typo corrections remembered per word. A plain dict, not lru_cache around a bound
        # method: that would tie the index to itself in a reference cycle, and an index
        # replaced by a reload would then wait, whole, for the cyclic collector's next full
        # pass (and make that pass long) instead of being freed at once.
        self._typo_cache: dict[str, str | None] = {}
        self._parents = [-1 if s.parent is None else self._ids[s.parent] for s in self.sections]
        # Every section's keys now, not when a question first re-ranks it: the first questions
        # after a (re)load would otherwise pay for them, a third of an answer's time.
        self._key_list = [self._make_keys(s) for s in self.sections]

    def __len__(self) -> int:
        return len(self.sections)

    def section(self, section_id: str) -> Section | None:
        """The section with this id, or None."""
        i = self._ids.get(section_id)
        return self.sections[i] if i is not None else None

    def _correct(self, word: str) -> str | None:
        """The index word a typo most likely meant, or None (remembered for TYPO_CACHE words)."""
        try:
            return self._typo_cache[word]
        except KeyError:
            pass
        if len(self._typo_cache) >= TYPO_CACHE:
            self._typo_cache.clear()
        fixed = self._typo_cache[word] = self._correct_uncached(word)
        return fixed

    def _correct_uncached(self, word: str) -> str | None:
        edits = TYPO_EDITS.get(len(word), 2) if len(word) >= 4 else 0
        if not edits or word in common_english_words():
            return None
        n = len(word)
        candidates = [
            w
            for k in range(n - edits, n + edits + 1)
            for key in ((k, word[0]), (k, "2" + word[1]))
            for w in self._vocab.get(key, ())
        ]
        found = process.extractOne(word, candidates, scorer=OSA.distance, score_cutoff=edits)
        if found is None or (found[0] not in self._words and found[1] > ALIAS_TYPO_EDITS):
            return None  # a synonym's spelling is only reached by a near miss ('weather' is
        return found[0]  # not 'teacher')

    def _join_compounds(self, words: tuple[str, ...]) -> list[str]:
        """Join two typed words the docs write as one ('hot fix' -> 'hotfix')."""
        out: list[str] = []
        i = 0
        while i < len(words):
            pair = words[i] + words[i + 1] if i + 1 < len(words) else ""
            both_known = words[i] in self._words and pair[len(words[i]) :] in self._words
            if pair and pair in self._words and not both_known:
                out.append(pair)
                i += 2
            else:
                out.append(words[i])
                i += 1
        return out

    def concepts(self, question: str) -> tuple[list[_Concept], set[str]]:
        """What a question asks about (synonyms expanded, typos fixed) and its question words.

        Each concept's alternatives are word sequences as word forms (see ``form``).
        """
        words = self._join_compounds(question_words(question))
        wh = {w for w in words if w in QUESTION_WORDS}
        out: list[_Concept] = []
        i = 0
        while i < len(words):
            for size in range(min(self._max_alias, len(words) - i), 0, -1):
                gram = tuple(words[i : i + size])
                canon = self._aliases.get(gram)
                if canon is None:
                    continue
                own = _forms(gram)
                alts = [_forms(c) for c in canon]
                if own and all(stem(f) in self._vocab_stems for f in own):
                    alts.insert(0, own)
                alts = [a for a in dict.fromkeys(alts) if a]
                if alts:
                    out.append(self._concept(alts, " ".join(gram), 1.0))
                i += size
                break
            else:
                w = words[i]
                i += 1
                if w in FILLER or w in ASKING_WORDS or (w.isdigit() and len(w) < 2):
                    continue
                if stem(w) in self._vocab_stems:
                    out.append(self._concept([(form(w),)], w, 1.0))
                    continue
                fixed = self._correct(w)
                if fixed is None:
                    out.append(self._concept([(form(w),)], w, 1.0))
                    continue
                canon = self._aliases.get((fixed,), [(fixed,)])
                alts = [a for c in canon if (a := _forms(c))]
                if alts:
                    out.append(self._concept(alts, w, TYPO_STRENGTH))
        return out, wh

    def _concept(
        self, alternatives: list[tuple[str, ...]], label: str, strength: float
    ) -> _Concept:
        stems = [tuple(map(stem, alt)) for alt in alternatives]
        known = [
            sum(self._idf[s] for s in alt) / len(alt)
            for alt in stems
            if all(s in self._idf for s in alt)
        ]
        weight = max(known) if known else self._max_idf * UNKNOWN_WEIGHT
        return _Concept(tuple(alternatives), weight, label, strength, bool(known))

    def _strength(self, alt: tuple[str, ...], n: int) -> np.ndarray:
        """How strongly each section holds a word sequence (given as word forms)."""
        acc = np.zeros(n, dtype=np.float32)
        for f in alt:
            st = stem(f)
            post = self._postings.get(st)
            if st == f:  # the stem is the word itself: any word with this stem matches
                if post is not None:
                    acc[post[0]] += post[1]
                continue
            word = np.zeros(n, dtype=np.float32)
            if post is not None:
                word[post[0]] = post[1] * np.float32(STEM_ONLY)
            post = self._form_postings.get(f)
            if post is not None:
                word[post[0]] = np.maximum(word[post[0]], post[1])
            acc += word
        if len(alt) > 1:
            acc /= len(alt)
        return acc

    def search(self, question: str, *, limit: int = MAX_ALTERNATIVES + 1) -> list[Match]:
        """The best sections for a question, best first, each with a 0-100 score."""
        n = len(self.sections)
        concepts, wh = self.concepts(question)
        if not concepts or n == 0:
            return []
        known = sum(c.weight for c in concepts if c.known)
        unknown = sum(c.weight for c in concepts if not c.known)
        # Words the docs never use count against every section, but a long rambling question
        # ("my lead told me to ask ...") must not bury the words that do match: their weight
        # is capped at UNKNOWN_CAP times the weight of the known words.
        total = known + min(unknown, UNKNOWN_CAP * known)
        if total <= 0:
            return []
        cover = np.zeros(n, dtype=np.float32)
        role_cover = np.zeros(n, dtype=np.float32)
        role_weight = 0.0
        for c in concepts:
            strength = self._strength(c.alternatives[0], n)
            for alt in c.alternatives[1:]:
                np.maximum(strength, self._strength(alt, n), out=strength)
            cover += np.float32(c.weight * c.strength) * strength
            if c.label in ROLE_WORDS:
                role_cover += np.float32(c.weight * c.strength) * strength
                role_weight += c.weight
        k = min(RERANK, n)
        top = np.argpartition(-cover, k - 1)[:k] if k < n else np.arange(n)
        asked = {stem(f) for c in concepts for alt in c.alternatives for f in alt}
        # Candidates whose own heading the question names ("the developer", "sysadmin").
        named = [int(i) for i in top if cover[i] > 0 and self._names(int(i), asked)]
        # A role word next to a heading the question names is about that heading ("the
        # developer role"), and next to other telling words it is about them ("is scripting
        # part of the devops job"): it then counts for no section, instead of for every section
        # that says "role", "job" or "responsibilities".
        telling = sum(c.weight for c in concepts if c.known and c.label not in ROLE_WORDS)
        if role_weight and total > role_weight and (named or telling >= ROLE_WORDS_BESIDE):
            cover -= role_cover
            total -= role_weight
            top = np.argpartition(-cover, k - 1)[:k] if k < n else np.arange(n)
        # Sections two or more of whose subsections the question names by their headings.
        named_kids: dict[int, list[int]] = {}
        for i in named:
            if self._parents[i] >= 0:
                named_kids.setdefault(self._parents[i], []).append(i)
        cover /= np.float32(total)
        query_key = _question_key(question)
        # Stems with synonyms resolved, so 'sys admin' still reads as 'system administrator'.
        query_stems = " ".join(
            [*(" ".join(map(stem, c.alternatives[-1])) for c in concepts), *sorted(wh)]
        )
        concept_stems = [
            (c.label, c.weight, [frozenset(map(stem, alt)) for alt in c.alternatives])
            for c in concepts
        ]
        scored: list[tuple[float, bool, int, int]] = []
        for i in top:
            i = int(i)
            if cover[i] <= 0:
                continue
            # The other direction: how much of the heading the question names. A long question
            # that names a whole heading ("... the security expert part of devops ...") is about
            # that section however many other words it has.
            keys, stem_keys, head, own, head_idf, own_idf = self._keys(i)
            cover_i = float(cover[i])
            named_idf = sum(self._idf.get(h, 0.0) for h in head & asked)
            if head_idf > 0 and named_idf >= NAMED_IDF:
                cover_i = max(cover_i, HEADING_NAMED * named_idf / head_idf)
            if own and own <= asked and own_idf > 0:
                in_path = sum(
                    w
                    for label, w, alts in concept_stems
                    if label in ROLE_WORDS or any(a <= head for a in alts)
                )
                cover_i = max(cover_i, PATH_NAMED * in_path / total)
            # A question naming several of this section's subsections ("so devops is sysadmin
            # + dev + security in one?") asks for the section that holds them all, not for
            # whichever of them it names most strongly.
            kids = named_kids.get(i, ())
            if len(kids) >= 2:
                inside = head.union(*(self._keys(c).own for c in kids))
                in_kids = sum(
                    w
                    for label, w, alts in concept_stems
                    if label in ROLE_WORDS or any(a <= inside for a in alts)
                )
                cover_i = max(cover_i, PATH_NAMED * in_kids / total)
            phrase = (
                max(fuzz.token_sort_ratio(query_key, key) for key in keys)
                + max(fuzz.token_sort_ratio(query_stems, key) for key in stem_keys)
            ) / 200
            score = 100 * ((1 - PHRASE_SHARE) * cover_i + PHRASE_SHARE * phrase)
            # A question that is word for word this section's heading, another name the heading
            # gives it or an owner phrasing (or its document's title, for a root section) asks
            # for it and for nothing else: it comes first, with a full score. (A question of
            # only filler and numbers has no key words, like a heading "1.": no match.)
            exact = bool(query_key) and query_key in keys
            if exact:
                score = 100.0
            scored.append((min(100.0, score), exact, self.sections[i].level, i))
        scored.sort(key=lambda t: (-round(t[0], 6), not t[1], t[2], t[3]))
        ranked = [self.sections[t[3]] for t in scored]
        # A tie between a section and one of its ancestors goes to the descendant: it is the
        # one whose own text matched, the ancestor only contains it (unless it was asked for
        # word for word).
        for j in range(len(scored) - 1):
            if (
                round(scored[j][0], 6) == round(scored[j + 1][0], 6)
                and scored[j][1] <= scored[j + 1][1]
                and self._is_ancestor(ranked[j], ranked[j + 1])
            ):
                scored[j], scored[j + 1] = scored[j + 1], scored[j]
                ranked[j], ranked[j + 1] = ranked[j + 1], ranked[j]
        return [Match(self.sections[i], round(s)) for s, _, _, i in scored[:limit]]

    def _keys(self, i: int) -> _Keys:
        """Section i's keys (see ``_make_keys``)."""
        return self._key_list[i]

    def _make_keys(self, s: Section) -> _Keys:
        """A section's heading and phrasings as words and as stems, its heading path's stems
        and its own heading's, and their weights."""
        name = _key_words_cached(s.name)
        # Its heading first, then the other names the heading gives it, its document's
        # title and heading, the owner's phrasings, and last (for a root section) the
        # document's title alone.
        in_doc = () if s.parent is None else (_key_words_cached(s.document) + name,)
        keys = [
            " ".join(name),
            *heading_aliases(s.name, name),
            *(" ".join(k) for k in in_doc),
            *(" ".join(key_words(k)) for k in (*s.phrasings, *_titles(s))),
        ]
        stem_keys = [" ".join(map(stem, k.split())) for k in keys]
        own = frozenset(stem(w) for w in name if w not in QUESTION_WORDS)
        head = own.union(
            *(
                (stem(w) for w in _key_words_cached(part) if w not in QUESTION_WORDS)
                for part in s.context
            )
        )
        return _Keys(
            keys,
            stem_keys,
            head,
            own,
            sum(self._idf.get(h, 0.0) for h in head),
            sum(self._idf.get(h, 0.0) for h in own),
        )

    def _names(self, i: int, asked: set[str]) -> bool:
        """Whether a question's stems name section i's own heading, role words aside."""
        own = self._keys(i).own
        return bool(own - _ROLE_STEMS) and own <= asked

    def _is_ancestor(self, a: Section, b: Section) -> bool:
        parent = b.parent
        while parent is not None:
            if parent == a.id:
                return True
            parent = self.sections[self._ids[parent]].parent
        return False

    def answer(self, question: str) -> Answer:
        """Answer a question: the best section, a 'did you mean', or a decline."""
        matches = self.search(question)
        if not matches:
            return Answer(question, "decline", None, ())
        best, rest = matches[0], tuple(matches[1 : 1 + MAX_ALTERNATIVES])
        if best.score < DECLINE_BELOW:
            decision = "decline"
        elif (
            best.score >= ANSWER_AT and (not rest or best.score - rest[0].score >= MARGIN)
        ) or self.asked_word_for_word(question, matches):
            decision = "answer"
        else:
            decision = "suggest"
        return Answer(question, decision, best, rest)

    def asked_word_for_word(self, question: str, matches: list[Match]) -> bool:
        """True when the question is the best match's heading (or another name the heading
        gives it, see ``heading_aliases``) or an owner phrasing word for word, and not the
        runner-up's: answered outright whatever the margin. A document's title (a key of its
        root section) is shared by all its sections, so asking it word for word is an answer
        only when its words tell sections apart: 'hotfix' among many documents, not 'devops'
        in a DevOps doc."""
        if not matches:
            return False
        asked = _question_key(question)
        words = asked.split()
        if not asked:
            return False

        def is_key_of(m: Match) -> bool:
            return asked in self._keys(self._ids[m.section.id]).keys

        if not is_key_of(matches[0]) or (len(matches) > 1 and is_key_of(matches[1])):
            return False
        best = matches[0].section
        keys = self._keys(self._ids[best.id]).keys
        if asked in keys[: len(keys) - len(_titles(best))]:
            return True
        # Question words and the verbs kept for phrase similarity ('is', 'does') are filler:
        # the index has no idf for them, and they tell no sections apart.
        return sum(self._idf.get(stem(w), self._max_idf) for w in words if w not in FILLER) >= (
            EXACT_IDF
        )


def _titles(section: Section) -> tuple[str, ...]:
    """A document's root section stands for the whole document: its title asks for it."""
    if section.parent is None and section.document != section.name:
        return (section.document,)
    return ()


#: Words that mark a section as the general one on its subject ("Security Health Check -
#: Overview"): a question naming only the subject asks for it.
GENERAL_WORDS = frozenset({"overview", "introduction", "intro", "summary", "basics"})
_PARENTHESIS = re.compile(r"\(([^()]*)\)")


def heading_aliases(name: str, words: tuple[str, ...] | None = None) -> list[str]:
    """Other names a heading gives its section, as key words: the heading without its
    parenthesis and the parenthesis alone ("Partial Metadata Deployment (Delta Deployment)"),
    and the heading without words like "Overview" ("Security Health Check - Overview").
    ``words``: the heading's key words, when already known."""
    words = tuple(key_words(name)) if words is None else words
    if "(" not in name and GENERAL_WORDS.isdisjoint(words):
        return []
    out = [" ".join(key_words(m.group(1))) for m in _PARENTHESIS.finditer(name)]
    if out:
        out.append(" ".join(key_words(_PARENTHESIS.sub(" ", name))))
    out.append(" ".join(w for w in words if w not in GENERAL_WORDS))
    return [a for a in dict.fromkeys(out) if a and a != " ".join(words)]


@lru_cache(maxsize=100_000)
def _key_words_cached(text: str) -> tuple[str, ...]:
    """``key_words`` of a heading or title (cached: siblings share their parents)."""
    return tuple(key_words(text))


def key_words(text: str | tuple[str, ...] | list[str]) -> list[str]:
    """A heading, phrasing or question (as text or as its words) as words for phrase
    similarity: filler, numbers dropped.

    Words, not stems: 'release manager' should be closer to 'The Role of a Release Manager'
    than to 'Release Management', which has the same stems.
    """
    return [
        w
        for w in (words_of(text) if isinstance(text, str) else text)
        if (w not in FILLER or w in QUESTION_WORDS or w in _KEY_VERBS)
        and not w.isdigit()
        and w != "step"
    ]


def _alias_table(
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


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector (reference counting still frees memory)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@lru_cache(maxsize=100_000)
def _topic_words(text: str) -> tuple[str, ...]:
    """The non-filler words of a heading or title (cached: siblings share their parents)."""
    return tuple(w for w in words_of(text) if w not in FILLER)


def _forms(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(form(w) for w in words if w not in FILLER)


class _Tables:
    """The stem table and the form table while an index is built: term ids, and strengths
    for keys term_id * n_sections + section, gathered in bulk and grouped by term at the end."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.terms: tuple[dict[str, int], dict[str, int]] = ({}, {})
        self.word_ids: tuple[dict[str, int], dict[str, int]] = ({}, {})  # -1: no such term
        self.keys: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
        self.values: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])

    def ids(self, words: list[str]) -> list[np.ndarray]:
        """Each word's stem id and form id (-1 for a form that is its own stem, see _terms)."""
        distinct = list(dict.fromkeys(words))
        index = {w: i for i, w in enumerate(distinct)}
        for w in set(distinct).difference(self.word_ids[0]):
            for terms, ids, term in zip(self.terms, self.word_ids, _terms(w), strict=True):
                ids[w] = -1 if term is None else terms.setdefault(term, len(terms))
        # One lookup per word of the text; the two tables' ids are then taken by numpy.
        at = np.fromiter(map(index.__getitem__, words), np.int64, len(words))
        return [
            np.fromiter(map(ids.__getitem__, distinct), np.int64, len(distinct))[at]
            for ids in self.word_ids
        ]

    def add(self, table: int, keys: np.ndarray, values: np.ndarray) -> None:
        """Strengths for keys of one table (0: stems, 1: forms)."""
        self.keys[table].append(keys)
        self.values[table].append(values)

    def postings(self) -> list[dict[str, tuple[np.ndarray, np.ndarray]]]:
        """Each table as term -> (section indexes in ascending order, strengths), a term
        holding in a section the greatest strength it was given there."""
        out = []
        for terms, keys, values in zip(self.terms, self.keys, self.values, strict=True):
            key = np.concatenate([*keys, np.zeros(0, dtype=np.int64)])
            value = np.concatenate([*values, np.zeros(0)])
            order = np.argsort(key, kind="stable")
            key, value = key[order], value[order]
            first = np.flatnonzero(np.append(True, key[1:] != key[:-1])[: len(key)])
            key = key[first]  # each key once, holding the greatest strength given to it
            value = (np.maximum.reduceat(value, first) if len(key) else value).astype(np.float32)
            n = max(self.n, 1)
            rows = (key % n).astype(np.int32)
            bounds = np.searchsorted(key // n, np.arange(len(terms) + 1))
            out.append({t: (rows[bounds[j] : bounds[j + 1]], value[bounds[j] : bounds[j + 1]])
                        for t, j in terms.items()})  # fmt: skip
        return out


@lru_cache(maxsize=200_000)
def _terms(word: str) -> tuple[str, str | None]:
    """A word's stem, and its form when that is not its own stem (the form table's key).

    A form that is its own stem is looked up in the stem table (see Index._strength), so
    the form table only needs the other forms.
    """
    f = form(word)
    return stem(word), (f if f != stem(f) else None)


@lru_cache(maxsize=200_000)
def form(word: str) -> str:
    """A word without its plural ending: 'developers' -> 'developer', 'strategies' -> 'strategy'.

    Finer than a stem, which makes 'developer' and 'development' one word.
    """
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


class Leaning(NamedTuple):
    """An owner phrasing that uses words of another section's heading (``leaning_phrasings``)."""

    section: Section  # whose phrasing it is
    phrasing: str
    words: tuple[str, ...]  # its words that name the other section's heading
    other: Section


def leaning_phrasings(library: Library) -> list[Leaning]:
    """Owner phrasings that use a word of another heading of their document, one their own
    section's heading path and text never say. A phrasing's words count as much as the
    heading's, so such a word takes the other section's questions: "what does devops work on
    day to day" (What a DevOps Specialist Does) took "devops working style" from How a DevOps
    Specialist Works. Filler, question words and role words ('role', 'job') are left out."""
    skip = FILLER | QUESTION_WORDS | ROLE_WORDS

    def topic(text: str) -> dict[str, str]:
        return {stem(w): w for w in words_of(text) if w not in skip}

    out: list[Leaning] = []
    for doc in library.documents:
        headings = [(t, topic(t.name)) for t in doc.sections]
        for s in doc.sections:
            if not s.phrasings:
                continue
            own = topic(" ".join((s.name, s.own_text, *s.heading_path)))
            for phrasing in s.phrasings:
                words = {st: w for st, w in topic(phrasing).items() if st not in own}
                for other, heading in headings:
                    named = tuple(w for st, w in words.items() if st in heading)
                    if other is not s and named:
                        out.append(Leaning(s, phrasing, named, other))
    return out


@lru_cache(maxsize=1)
def common_english_words() -> frozenset[str]:
    """English words used at least COMMON_WORD_COUNT times in pyspellchecker's word counts.

    Loaded once per process, when the first typo is looked at (about two fifths of a second
    here), not by the index build: a reload never pays it again."""
    counts = SpellChecker(language="en").word_frequency.dictionary
    return frozenset(w for w, n in counts.items() if n >= COMMON_WORD_COUNT)


def build_index(library: Library) -> Index:
    """Index every section of a library."""
    return Index(library)
