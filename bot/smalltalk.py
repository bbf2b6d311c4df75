"""What is not a question: help, topics, greetings, thanks and acknowledgements ("ok", "👍").

One rule for every surface (Slack and the command line): a message that is one of these gets
a short line, not a section the engine would find for its words ("thanks a lot" is not a
question about "a lot"), nor a decline with the topic list.
"""

from __future__ import annotations

import re
import unicodedata

GREETINGS = frozenset({"hi", "hello", "hey", "hiya", "yo", "howdy", "good morning",
                       "good afternoon", "good evening", "hi there", "hello there"})  # fmt: skip
THANKS_WORDS = frozenset({"thanks", "thank you", "thx", "ty", "cheers", "thanks a lot",
                          "thank you so much", "many thanks", "great thanks", "ok thanks",
                          "thanks bot"})  # fmt: skip
#: What people say after an answer that asks nothing.
ACK_WORDS = frozenset({"ok", "okay", "k", "kk", "ok cool", "okay cool", "got it", "gotcha",
                       "cool", "great", "nice", "perfect", "awesome", "sweet", "understood",
                       "makes sense", "that makes sense", "sounds good", "will do", "noted",
                       "i see", "ah ok", "ah okay", "oh ok", "alright", "all right", "good",
                       "excellent", "lovely", "brilliant", "neat", "fine", "done", "yes",
                       "yep", "yup", "no worries", "fair enough", "roger", "ack", "lgtm",
                       "ok got it", "okay got it", "got it thanks"})  # fmt: skip
#: A thank-you with a few more words ("thanks, that helped", "perfect, thank you") is one
#: when it asks nothing ('?') and has at most this many words.
THANKS_MAX_WORDS = 6
_EMOJI_CODE = re.compile(r":[a-z0-9_+\-']+:")


def small_talk(text: str) -> str | None:
    """What a message is when it is not a question: "help", "topics", "greeting", "thanks"
    or "ack"; None for a question (anything else)."""
    word = " ".join(text.lower().strip(" ?!.,:;)(").replace("!", " ").split())
    if word in ("", "help"):
        return "help"
    if word == "topics":
        return "topics"
    if word in GREETINGS:
        return "greeting"
    if word in THANKS_WORDS or is_thanks(text):
        return "thanks"
    if is_ack(text):
        return "ack"
    return None


def is_thanks(text: str) -> bool:
    """Whether a message is a short thank-you ('thanks, that helped', 'great, thank you!'):
    it starts or ends with a thanks phrase, asks nothing and is a few words long."""
    if "?" in text:
        return False
    words = _words(text)
    if not words or len(words) > THANKS_MAX_WORDS:
        return False
    return any(
        " ".join(words[:n]) in THANKS_WORDS or " ".join(words[-n:]) in THANKS_WORDS
        for n in (1, 2, 3)
    )


def is_ack(text: str) -> bool:
    """Whether a message only acknowledges: 'ok', 'got it!', ':+1:', '🎉', 'cool 👍'."""
    if "?" in text:
        return False
    rest = _EMOJI_CODE.sub(" ", text.lower())
    rest = "".join(" " if _is_symbol(c) else c for c in rest)
    words = _words(rest)
    return not words or " ".join(words) in ACK_WORDS


def _is_symbol(c: str) -> bool:
    """An emoji or other pictograph (So), or the joiners and variation selectors in one."""
    return unicodedata.category(c) in ("So", "Sk", "Cf", "Mn") or c in "\u200d\ufe0f"


def _words(text: str) -> list[str]:
    return "".join(c if c.isalnum() or c.isspace() else " " for c in text.lower()).split()
