"""Matching: a question's sections scored 0-100 (coverage of its weighted words, for a long
question partly by the one sentence that says most of them, blended with phrase similarity),
and the decision made on them: answer, best guess, did-you-mean or decline."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from rapidfuzz import fuzz

from bot.content import Library, Section
from bot.engine.decision import Calibration, Fusion, decide, shipped_calibration
from bot.engine.embed import Model, SectionVectors
from bot.engine.index import SectionIndex, titles
from bot.engine.question import Concept, corrected_text, read_question
from bot.engine.words import (
    FILLER,
    QUESTION_WORDS,
    ROLE_WORDS,
    clean_question,
    common_english_words,
    question_key,
    stem,
    words_of,
)

__all__ = [
    "Answer", "Dense", "Index", "Match", "build_index", "clean_question", "common_english_words",
    "leaning_phrasings", "words_of",
]  # fmt: skip

#: A question that is word for word one section's heading or phrasing (and no runner-up's) is
#: answered outright whatever the margin; word for word its document's title, only if its
#: words weigh at least this much (BM25 idf).
EXACT_IDF = 1.0
#: How many alternatives an answer carries.
MAX_ALTERNATIVES = 3
#: Candidates looked at for the best section's lead over an unrelated one.
LEAD_CANDIDATES = 10
#: A word that shares only its stem with the docs' word ('developer' / 'development').
STEM_ONLY = 0.7
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
#: A question of at least this many concepts describes a case ("a vendor sent their NDA for
#: me to sign before they share pricing, can I sign it myself?"): the sentence that says most
#: of it tells its section better than words spread over a long section ...
LONG_QUESTION = 5
#: ... and gives this share of a section's coverage, the section's words the rest. (Both
#: chosen on the question sets of bench/calibrate.py: 18F top-1 162 -> 169 of 241, the other
#: folders' unchanged, 168-169 at shares 0.15-0.25; from 4 concepts the hub and GitLab lost
#: 3 questions, from 6 the 18F gain was 2.)
PASSAGE_SHARE = 0.2
#: Candidates re-ranked with rapidfuzz phrase similarity.
RERANK = 24

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
    """The engine's reply to one question: a decision, the best match and alternatives, and
    the calibrated probability (0-100) that the best match is right."""

    question: str
    decision: str  # "answer" | "hedged" | "suggest" | "decline"
    best: Match | None
    alternatives: tuple[Match, ...]
    probability: int = 0

    @property
    def answered(self) -> bool:
        """True when the reply shows a section: outright, or as a best guess."""
        return self.decision in ("answer", "hedged")

    @property
    def score(self) -> int:
        """The probability (0-100) that the best section is right; 0 when nothing matched."""
        return self.probability if self.best else 0


@dataclass(frozen=True, slots=True)
class Dense:
    """A sentence model and the vectors it gave a library's sections: the dense evidence."""

    model: Model
    vectors: SectionVectors

    def similarities(self, question: str) -> np.ndarray:
        """Each section's cosine similarity to the question (its best window); the engine
        gives it the question as ``bot.engine.question.corrected_text`` reads it."""
        return self.vectors.similarities(self.model.embed([question])[0])


class Index(SectionIndex):
    """Sections indexed for fuzzy question matching; immutable once built."""

    def concepts(self, question: str) -> tuple[list[Concept], set[str]]:
        """What a question asks about, as ``bot.engine.question.read_question`` reads it."""
        return read_question(self, question)

    def _strength(self, alt: tuple[str, ...], n: int) -> np.ndarray:
        """How strongly each section holds a word sequence (given as word forms)."""
        acc = np.zeros(n, dtype=np.float32)
        for f in alt:
            st = stem(f)
            post = self.holding(self.postings, st)
            if st == f:  # the stem is the word itself: any word with this stem matches
                if post is not None:
                    acc[post[0]] += post[1]
                continue
            word = np.zeros(n, dtype=np.float32)
            if post is not None:
                word[post[0]] = post[1] * np.float32(STEM_ONLY)
            post = self.holding(self.form_postings, f)
            if post is not None:
                word[post[0]] = np.maximum(word[post[0]], post[1])
            acc += word
        if len(alt) > 1:
            acc /= len(alt)
        return acc

    def search(self, question: str, *, limit: int = MAX_ALTERNATIVES + 1) -> list[Match]:
        """The best sections for a question, best first, each with a 0-100 score."""
        return self._search(question, read_question(self, question), limit)

    def _search(
        self, question: str, read: tuple[list[Concept], set[str]], limit: int
    ) -> list[Match]:
        """``search`` on a question already read (its concepts and question words)."""
        n = len(self.sections)
        concepts, wh = read
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
        named = [int(i) for i in top if cover[i] > 0 and self.names(int(i), asked)]
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
            if self.parents[i] >= 0:
                named_kids.setdefault(self.parents[i], []).append(i)
        cover /= np.float32(total)
        query_key = question_key(question)
        # Stems with synonyms resolved, so 'sys admin' still reads as 'system administrator'.
        query_stems = " ".join(
            [*(" ".join(map(stem, c.alternatives[-1])) for c in concepts), *sorted(wh)]
        )
        concept_stems = [
            (c.label, c.weight, [frozenset(map(stem, alt)) for alt in c.alternatives])
            for c in concepts
        ]
        # A long question's concepts, role words aside, for its best sentence in a section.
        long_question = len(concepts) >= LONG_QUESTION
        passage = [(w, alts) for label, w, alts in concept_stems if label not in ROLE_WORDS]
        scored: list[tuple[float, bool, int, int]] = []
        for i in top:
            i = int(i)
            if cover[i] <= 0:
                continue
            # The other direction: how much of the heading the question names. A long question
            # that names a whole heading ("... the security expert part of devops ...") is about
            # that section however many other words it has.
            keys, stem_keys, head, own = key = self.keys(i)
            head_idf, own_idf = self.weights(key)
            cover_i = float(cover[i])
            named_idf = sum(self.idf.get(h, 0.0) for h in head if h in asked)
            if head_idf > 0 and named_idf >= NAMED_IDF:
                cover_i = max(cover_i, HEADING_NAMED * named_idf / head_idf)
            if own and asked.issuperset(own) and own_idf > 0:
                in_path = sum(
                    w
                    for label, w, alts in concept_stems
                    if label in ROLE_WORDS or any(a.issubset(head) for a in alts)
                )
                cover_i = max(cover_i, PATH_NAMED * in_path / total)
            # A question naming several of this section's subsections ("so devops is sysadmin
            # + dev + security in one?") asks for the section that holds them all, not for
            # whichever of them it names most strongly.
            kids = named_kids.get(i, ())
            if len(kids) >= 2:
                inside = set(head).union(*(self.keys(c).own for c in kids))
                in_kids = sum(
                    w
                    for label, w, alts in concept_stems
                    if label in ROLE_WORDS or any(a <= inside for a in alts)
                )
                cover_i = max(cover_i, PATH_NAMED * in_kids / total)
            if long_question:
                in_sentence = self.best_sentence(i, passage) / total
                cover_i = (1 - PASSAGE_SHARE) * cover_i + PASSAGE_SHARE * in_sentence
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
                and self.is_ancestor(ranked[j], ranked[j + 1])
            ):
                scored[j], scored[j + 1] = scored[j + 1], scored[j]
                ranked[j], ranked[j + 1] = ranked[j + 1], ranked[j]
        return [Match(self.sections[i], round(s)) for s, _, _, i in scored[:limit]]

    def best_sentence(self, i: int, concepts: list[tuple[float, list[frozenset[str]]]]) -> float:
        """The weight of the concepts (each a weight and its alternatives as stem sets) that
        one sentence of section i says, for the sentence that says most."""
        where = self.sentences(i)
        said: dict[int, float] = {}
        for weight, alts in concepts:
            mask = 0
            for alt in alts:
                in_all = -1  # the sentences that say every word of this alternative
                for st in alt:
                    in_all &= where.get(st, 0)
                    if not in_all:
                        break
                mask |= in_all
            while mask > 0:  # each sentence that says the concept
                low = mask & -mask
                said[low] = said.get(low, 0.0) + weight
                mask ^= low
        return max(said.values(), default=0.0)

    def answer(
        self,
        question: str,
        calibration: Calibration | None = None,
        dense: Dense | None = None,
    ) -> Answer:
        """Answer a question: the best section (outright or as a best guess), a 'did you
        mean', or a decline, chosen on the calibrated probability that the best is right.
        With ``dense`` (a sentence model's vectors of these sections), the model's
        similarity joins the ranking and the decision (the hybrid calibration)."""
        if dense is None:
            calibration = calibration or shipped_calibration()
            features, matches, tied = self.features(question)
        else:
            calibration = calibration or shipped_calibration(hybrid=True)
            lexical = self.lexical(question)
            sims = dense.similarities(corrected_text(self, question))
            features, matches, tied = self.fuse(lexical, sims, calibration.fusion)
        if not matches:
            return Answer(question, "decline", None, ())
        p = calibration.probability(features)
        decision = decide(p, tied, calibration)
        rest = tuple(matches[1 : 1 + MAX_ALTERNATIVES])
        return Answer(question, decision, matches[0], rest, round(100 * p))

    def features(self, question: str) -> tuple[list[float], list[Match], bool]:
        """What the calibrated probability is computed from (see
        bot.engine.decision.FEATURES), the matches, best first, and whether an unrelated
        section scores as high as the best. With no match at all, every feature but the
        folder's size is 0."""
        read = read_question(self, question)
        matches = self._search(question, read, LEAD_CANDIDATES)
        return self._features(question, read, matches)

    def lexical(self, question: str) -> Lexical:
        """The lexical evidence on a question, for ``fuse``: its candidates (up to RERANK)
        and the probability, by the shipped lexical calibration, that the lexical best is
        right."""
        read = read_question(self, question)
        matches = self._search(question, read, RERANK)
        features, top, _ = self._features(question, read, matches[:LEAD_CANDIDATES])
        p = shipped_calibration().probability(features) if top else 0.0
        return Lexical(question, read, tuple(matches), p)

    def fuse(
        self, lexical: Lexical, sims: np.ndarray, fusion: Fusion | None
    ) -> tuple[list[float], list[Match], bool]:
        """The hybrid features (bot.engine.decision.HYBRID_FEATURES), the matches best first
        and the tie flag, with the sections' similarities to the question joining the lexical
        candidates' scores as ``fusion`` says. A match's score is then the fused score on
        0-100."""
        fusion = fusion or shipped_calibration(hybrid=True).fusion
        gain = fusion.share * (1 - lexical.probability) ** fusion.power
        scores = {self.ids[m.section.id]: m.score / 100 for m in lexical.matches}
        if fusion.candidates and len(sims):
            k = min(fusion.candidates, len(sims))
            for i in np.argpartition(-sims, k - 1)[:k]:
                scores.setdefault(int(i), 0.0)
        fused = [((lex + gain * float(sims[i])) / (1 + gain), lex, i) for i, lex in scores.items()]
        fused.sort(key=lambda t: (-round(t[0], 6), -t[1], self.sections[t[2]].level, t[2]))
        top = self._children_first(fused)[:LEAD_CANDIDATES]
        # The features read the lexical scores, in the fused order: the dense evidence has
        # features of its own.
        lexical_scores = [Match(self.sections[i], round(100 * lex)) for _, lex, i in top]
        features, _, _ = self._features(lexical.question, lexical.read, lexical_scores)
        matches = [Match(self.sections[i], round(100 * f)) for f, _, i in top]
        if not matches:
            return [*features, 0.0, 0.0], matches, False
        lead, unrelated = self._lead(matches)
        tied = unrelated and lead <= 0
        best = self.ids[matches[0].section.id]
        cosine = float(sims[best])
        k = min(LEAD_CANDIDATES, len(sims))
        others = [
            float(sims[i])
            for i in np.argpartition(-sims, k - 1)[:k]
            if not self.is_ancestor(self.sections[int(i)], self.sections[best])
            and not self.is_ancestor(self.sections[best], self.sections[int(i)])
        ]
        cosine_lead = cosine - max(others) if others else 0.0
        return [*features, cosine, cosine_lead], matches, tied

    def _children_first(self, fused: list[tuple[float, float, int]]) -> list[tuple]:
        """A section never comes before its own descendant on meaning alone: a parent's text
        overviews its children's topics, so it is similar to their questions, but the child
        that matches a question's words at least as well is the one it asks for. Each
        (fused, lexical, index) is moved above the first ancestor placed above it whose
        lexical score is not higher."""
        out: list[tuple[float, float, int]] = []
        for item in fused:
            child = self.sections[item[2]]
            at = next(
                (
                    j
                    for j, (_, lex, i) in enumerate(out)
                    if lex <= item[1] and self.is_ancestor(self.sections[i], child)
                ),
                len(out),
            )
            out.insert(at, item)
        return out

    def _features(
        self, question: str, read: tuple[list[Concept], set[str]], matches: list[Match]
    ) -> tuple[list[float], list[Match], bool]:
        """``features`` on matches already ranked, best first."""
        sections = math.log10(max(1, len(self.sections)))
        if not matches:
            return [0.0, 0.0, 0.0, 0.0, 0.0, sections, 0.0], [], False
        lead, unrelated = self._lead(matches)
        related = len(matches) > 1 and not self.unrelated(matches[0], matches[1])
        concepts = read[0]
        total = sum(c.weight for c in concepts) or 1.0
        as_typed = sum(c.weight for c in concepts if c.known and c.strength >= 1)
        corrected = sum(c.weight for c in concepts if c.known and c.strength < 1)
        return (
            [
                matches[0].score / 100,
                lead / 100,
                float(self.asked_word_for_word(question, matches)),
                as_typed / total,
                corrected / total,
                sections,
                float(related),
            ],
            matches,
            unrelated and lead <= 0,
        )

    def unrelated(self, a: Match, b: Match) -> bool:
        """True when neither section is the other's ancestor."""
        return not self.is_ancestor(a.section, b.section) and not self.is_ancestor(
            b.section, a.section
        )

    def _lead(self, matches: list[Match]) -> tuple[int, bool]:
        """The best match's lead over the best one unrelated to it, and whether there is one
        (none: no lead to tell, 0; a lone weak match is as likely off-topic)."""
        other = next((m for m in matches[1:] if self.unrelated(matches[0], m)), None)
        return (matches[0].score - other.score, True) if other else (0, False)

    def asked_word_for_word(self, question: str, matches: list[Match]) -> bool:
        """True when the question is the best match's heading (or another name the heading
        gives it, see ``heading_aliases``) or an owner phrasing word for word, and not the
        runner-up's: answered outright whatever the margin. A document's title (a key of its
        root section) is shared by all its sections, so asking it word for word is an answer
        only when its words tell sections apart: 'hotfix' among many documents, not 'devops'
        in a DevOps doc."""
        if not matches:
            return False
        asked = question_key(question)
        words = asked.split()
        if not asked:
            return False

        def is_key_of(m: Match) -> bool:
            return asked in self.keys(self.ids[m.section.id]).keys

        if not is_key_of(matches[0]) or (len(matches) > 1 and is_key_of(matches[1])):
            return False
        best = matches[0].section
        keys = self.keys(self.ids[best.id]).keys
        if asked in keys[: len(keys) - len(titles(best))]:
            return True
        # Question words and the verbs kept for phrase similarity ('is', 'does') are filler:
        # the index has no idf for them, and they tell no sections apart.
        return sum(self.idf.get(stem(w), self.max_idf) for w in words if w not in FILLER) >= (
            EXACT_IDF
        )


class Lexical(NamedTuple):
    """A question's lexical evidence (``Index.lexical``)."""

    question: str
    read: tuple[list[Concept], set[str]]
    matches: tuple[Match, ...]  # up to RERANK, best first
    probability: float  # that the lexical best is right (the lexical calibration)


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


def build_index(library: Library, previous: Index | None = None) -> Index:
    """Index every section of a library. ``previous``: the index a reload replaces, whose
    work on the sections it shares with the library (files not parsed again) is reused."""
    return Index(library, previous)
