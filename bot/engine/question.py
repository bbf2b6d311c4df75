"""A question read against an index: its words, compounds the docs write as one, synonyms,
and typos corrected to the docs' words, as the concepts the scoring weighs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.engine.index import SectionIndex
from bot.engine.words import (
    ASKING_WORDS,
    FILLER,
    MAX_QUESTION_CHARS,
    QUESTION_WORDS,
    common_english_words,
    form,
    forms,
    question_words,
    stem,
)

#: A word typed in capitals, maybe with a plural 's' ('AM', 'AMs'): an abbreviation.
_CAPITALS = re.compile(r"\b[A-Z]{2,8}s?\b")
#: Weight of a question word the index has never seen, relative to the rarest known word.
UNKNOWN_WEIGHT = 1.0
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


@dataclass(frozen=True, slots=True)
class Concept:
    """One thing the question asks about: a word, or a synonym group of word sequences."""

    alternatives: tuple[tuple[str, ...], ...]  # each a tuple of word forms
    weight: float
    label: str
    strength: float  # 1.0, or less for a corrected typo
    known: bool  # some alternative is a word of the index


def correct(index: SectionIndex, word: str) -> str | None:
    """The index word a typo most likely meant, or None (remembered for TYPO_CACHE words)."""
    try:
        return index.typo_cache[word]
    except KeyError:
        pass
    if len(index.typo_cache) >= TYPO_CACHE:
        index.typo_cache.clear()
    fixed = index.typo_cache[word] = _correct_uncached(index, word)
    return fixed


def _correct_uncached(index: SectionIndex, word: str) -> str | None:
    edits = TYPO_EDITS.get(len(word), 2) if len(word) >= 4 else 0
    if not edits or word in common_english_words():
        return None
    n = len(word)
    candidates = [
        w
        for k in range(n - edits, n + edits + 1)
        for key in ((k, word[0]), (k, "2" + word[1]))
        for w in index.typo_vocab.get(key, ())
    ]
    found = process.extractOne(word, candidates, scorer=OSA.distance, score_cutoff=edits)
    if found is None or (found[0] not in index.words and found[1] > ALIAS_TYPO_EDITS):
        return None  # a synonym's spelling is only reached by a near miss ('weather' is
    return found[0]  # not 'teacher')


def join_compounds(index: SectionIndex, words: tuple[str, ...]) -> list[str]:
    """Join two typed words the docs write as one ('hot fix' -> 'hotfix')."""
    out: list[str] = []
    i = 0
    while i < len(words):
        pair = words[i] + words[i + 1] if i + 1 < len(words) else ""
        both_known = words[i] in index.words and pair[len(words[i]) :] in index.words
        if pair and pair in index.words and not both_known:
            out.append(pair)
            i += 2
        else:
            out.append(words[i])
            i += 1
    return out


def read_question(index: SectionIndex, question: str) -> tuple[list[Concept], set[str]]:
    """What a question asks about (synonyms expanded, typos fixed) and its question words.

    Each concept's alternatives are word sequences as word forms (see ``form``).
    """
    words = join_compounds(index, question_words(question))
    wh = {w for w in words if w in QUESTION_WORDS}
    capitals = typed_in_capitals(question) if index.capital_aliases else frozenset()
    out: list[Concept] = []
    i = 0
    while i < len(words):
        w = words[i]
        if (w,) in index.capital_aliases and (w in capitals or index.docs_name_alias(w)):
            # An abbreviation the docs define or name, typed in capitals ('AM', 'SRE') or
            # one a synonym gives another meaning ('sre'): what the docs mean by it.
            alts = [a for c in index.capital_aliases[(w,)] if (a := forms(c))]
            if stem(w) in index.vocab_stems:
                alts.insert(0, (form(w),))
            out.append(make_concept(index, list(dict.fromkeys(alts)), w, 1.0))
            i += 1
            continue
        for size in range(min(index.max_alias, len(words) - i), 0, -1):
            gram = tuple(words[i : i + size])
            canon = index.aliases.get(gram)
            if canon is None:
                continue
            own = forms(gram)
            alts = [forms(c) for c in canon]
            if own and all(stem(f) in index.vocab_stems for f in own):
                alts.insert(0, own)
            alts = [a for a in dict.fromkeys(alts) if a]
            if alts:
                out.append(make_concept(index, alts, " ".join(gram), 1.0))
            i += size
            break
        else:
            i += 1
            if w in FILLER or w in ASKING_WORDS or (w.isdigit() and len(w) < 2):
                continue
            if stem(w) in index.vocab_stems:
                out.append(make_concept(index, [(form(w),)], w, 1.0))
                continue
            fixed = correct(index, w)
            if fixed is None:
                out.append(make_concept(index, [(form(w),)], w, 1.0))
                continue
            canon = index.aliases.get((fixed,), [(fixed,)])
            alts = [a for c in canon if (a := forms(c))]
            if alts:
                out.append(make_concept(index, alts, w, TYPO_STRENGTH))
    return out, wh


def corrected_text(index: SectionIndex, question: str) -> str:
    """The question's words with typos corrected to the docs' words, as the sentence model
    reads it ('secuirty expert' -> 'security expert'): the model has no idea of the docs'
    spellings."""
    out = []
    for w in question_words(question):
        if stem(w) not in index.vocab_stems:
            w = correct(index, w) or w
        out.append(w)
    return " ".join(out)


def typed_in_capitals(question: str) -> frozenset[str]:
    """The words a question types in capitals ('what does an AM do'), lower-cased; none when
    it is all in capitals (shouted, every word would be)."""
    found = _CAPITALS.findall(question[:MAX_QUESTION_CHARS])
    if not found or not any(c.islower() for c in question):
        return frozenset()
    return frozenset(w.lower() for w in found)


def make_concept(
    index: SectionIndex, alternatives: list[tuple[str, ...]], label: str, strength: float
) -> Concept:
    stems = [tuple(map(stem, alt)) for alt in alternatives]
    known = [
        sum(index.idf[s] for s in alt) / len(alt)
        for alt in stems
        if all(s in index.idf for s in alt)
    ]
    weight = max(known) if known else index.max_idf * UNKNOWN_WEIGHT
    return Concept(tuple(alternatives), weight, label, strength, bool(known))
