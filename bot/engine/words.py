"""How text becomes words: Slack markup removed, chat spellings read, filler known, stems,
plural forms and the key words that phrase similarity compares. Pure functions, cached."""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

import snowballstemmer
from spellchecker import SpellChecker

#: Only the first this many characters of a question are matched (a Slack message can hold
#: 40,000; no real question needs more, and typo correction costs time per word).
MAX_QUESTION_CHARS = 1000
#: A question word that English uses at least this often (pyspellchecker's English word
#: counts) is a word, not a typo: 'version' is not corrected to 'person', 'stuff' to 'staff',
#: 'come' to 'code'. Rarer words still are ('manger' -> 'manager'). (Chosen on the tuning
#: halves: 1000-3000 change no right answer, 300 loses one.)
COMMON_WORD_COUNT = 1000

#: Headings' words remembered (heading_key_words, topic_words). The index reads a document's
#: sections one after another, so a heading's parents and title are asked for again soon
#: after: a few thousand entries keep every hit. Each entry holds a tuple of new strings:
#: an entry for every heading of a large folder was a large part of what a section cost
#: held (`bench/memory.py`, bytes a section).
HEADING_CACHE = 4096

_STEMMER = snowballstemmer.stemmer("english")
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
#: _WORD on ASCII text, which casefold() leaves in [a-z0-9] and punctuation: a third faster.
_ASCII_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")
#: A word, or the end of a sentence: . ! ? : ; before white space or the text's end, or a line end.
_WORD_OR_END = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[.!?:;](?=\s|$)|\n")
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
KEY_VERBS = frozenset({"do", "does", "is"})
#: Words for 'a part someone plays' and what it takes on: next to a heading's name they add
#: nothing to it ('the developer role', 'the sysadmin part of the job', 'the coach's duties'),
#: since every section of a role is one.
ROLE_WORDS = frozenset(
    """
    role roles part parts side hat hats job jobs
    responsibility responsibilities duty duties task tasks
    """.split()
)


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


def question_key(question: str) -> str:
    """A question's key words (see ``key_words``), joined: what phrase similarity compares."""
    return _question_key_capped(question[:MAX_QUESTION_CHARS])


@lru_cache(maxsize=1024)
def _question_key_capped(question: str) -> str:
    return " ".join(key_words(_question_words(question)))


def sentences_of(text: str) -> list[list[str]]:
    """A text's sentences (ended by . ! ? : or ; before a space, or by a line end), each as
    ``words_of`` gives its words; one pass over the text."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).replace("\u2019", "'")
    out: list[list[str]] = [[]]
    for token in _WORD_OR_END.findall(text.casefold()):
        if token[0].isspace() or token in ".!?:;":
            if out[-1]:
                out.append([])
        else:
            out[-1].append(token.replace("'", "") if "'" in token else token)
    return out if out[-1] else out[:-1]


def words_of(text: str) -> list[str]:
    """Lower-case words of a text, Unicode-normalised, apostrophes folded."""
    if text.isascii():  # NFKC leaves ASCII as it is; most docs are mostly ASCII
        words = _ASCII_WORD.findall(text.lower())
    else:
        text = unicodedata.normalize("NFKC", text).replace("\u2019", "'")
        words = _WORD.findall(text.casefold())
    return [w.replace("'", "") for w in words] if "'" in text else words


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """The Snowball (Porter2) stem of a lower-case word."""
    return _STEMMER.stemWord(word)


ROLE_STEMS = frozenset(map(stem, ROLE_WORDS))


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


@lru_cache(maxsize=HEADING_CACHE)
def heading_key_words(text: str) -> tuple[str, ...]:
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
        if (w not in FILLER or w in QUESTION_WORDS or w in KEY_VERBS)
        and not w.isdigit()
        and w != "step"
    ]


@lru_cache(maxsize=HEADING_CACHE)
def topic_words(text: str) -> tuple[str, ...]:
    """The non-filler words of a heading or title (cached: siblings share their parents)."""
    return tuple(w for w in words_of(text) if w not in FILLER)


def forms(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(form(w) for w in words if w not in FILLER)


@lru_cache(maxsize=200_000)
def term_keys(word: str) -> tuple[str, str | None]:
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


@lru_cache(maxsize=1)
def common_english_words() -> frozenset[str]:
    """English words used at least COMMON_WORD_COUNT times in pyspellchecker's word counts.

    Loaded once per process (about two fifths of a second here), before the first index is
    built (bot.engine.index): a reload never pays it again."""
    counts = SpellChecker(language="en").word_frequency.dictionary
    return frozenset(w for w, n in counts.items() if n >= COMMON_WORD_COUNT)
