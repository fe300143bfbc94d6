"""What an inbound SMS asks for: stop, start, help, or something else (kept as a note by the caller).

The rule, in order, on the text normalised (NFKC, case-folded, apostrophes dropped, every other
non-alphanumeric character a space) and with politeness words trimmed from both ends ("please", "thanks"…):

1. The whole text is a keyword: STOP, STOPALL, STOP ALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT,
   OPT OUT → stop; START, UNSTOP → start; HELP, INFO → help.
2. It starts with a stop keyword (stop, stopall, unsubscribe, optout, quit, cease) and every other word is
   one of a closed set of continuations ("stop texting me", "STOP STOP", "unsubscribe me now") → stop.
3. It is one of a short list of plain stop requests ("remove me from your list", "don't text me",
   "no more texts", "leave me alone", "wrong number") → stop.
4. It is one of a short list of ways to say the callback is no longer wanted ("no longer needed", "all
   sorted", "cancel my callback", "don't call me", "never mind") → cancel_request: the request closes,
   texting goes on as before (an opt-out is only ever one of the rules above).
5. Anything else → other (the lifecycle then looks for a time in it: ``domain/when.py``).

So short messages that are mainly a stop request are honoured, while a stop keyword inside an ordinary
sentence ("I can't stop by today", "call me at the end of the day", "cancel my appointment") is not.
YES is deliberately not START: it is the commonest answer to anything, and re-subscribing someone who did
not mean it is worse than asking them to type START. "Not interested" is about the callback, not texting:
it cancels the request, it does not opt out.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum


class ReplyKind(StrEnum):
    stop = "stop"
    start = "start"
    help = "help"
    cancel_request = "cancel_request"  # the callback is no longer wanted; not an opt-out
    other = "other"


STOP_KEYWORDS = frozenset(
    {"stop", "stopall", "stop all", "unsubscribe", "cancel", "end", "quit", "revoke", "optout", "opt out"}
)
START_KEYWORDS = frozenset({"start", "unstop"})
HELP_KEYWORDS = frozenset({"help", "info"})

_STOP_LEADS = frozenset({"stop", "stopall", "unsubscribe", "optout", "quit", "cease"})
_CONTINUATIONS = frozenset(
    {
        "stop", "stopall", "unsubscribe", "all", "it", "now", "me", "texting", "txting", "messaging",
        "sending", "contacting", "spamming", "texts", "messages", "message", "msgs", "sms", "this",
        "these", "them", "number", "again", "anymore", "immediately", "asap",
    }
)  # fmt: skip
_LEADING_FILLER = frozenset(
    {"please", "pls", "plz", "kindly", "ok", "okay", "hi", "hello", "hey", "yes", "so"}
)
_TRAILING_FILLER = frozenset({"please", "pls", "plz", "thanks", "thx", "ty", "now", "ok", "okay"})

_STOP_PHRASES = re.compile(
    r"""(?x)
    (?:remove|delete|take)\ me(?:\ (?:off|from))?
      (?:\ (?:your|the|this|ur)(?:\ \w+)?\ (?:list|database|system))?
    | unsubscribe\ me(?:\ from\ (?:this|your|the|ur)\ list)?
    | opt\ me\ out
    | (?:dont|do\ not|never)\ (?:text|message|msg|sms|txt|contact)\ me(?:\ again|\ anymore|\ any\ more)?
    | no\ more\ (?:texts|text\ messages|messages|msgs|sms|txts)
    | (?:stop|quit|cease)\ (?:texting|txting|messaging|contacting|sending|spamming)
      (?:\ me)?(?:\ (?:texts|messages|sms))?(?:\ again|\ anymore|\ any\ more)?
    | leave\ me\ alone
    | wrong\ (?:number|person|no)
    """
)


_CANCEL_PHRASES = re.compile(
    r"""(?x)
    (?:(?:its|it\ is|its\ been|im|i\ am|we\ are|were|all)\ )?
    (?:no\ longer\ (?:needed|required|necessary)
      | not\ needed(?:\ anymore|\ any\ more)?
      | (?:all\ )?(?:sorted|set|fixed|resolved|solved|taken\ care\ of)(?:\ now|\ already)?
      | (?:already\ )?(?:sorted|fixed|resolved|solved)(?:\ it)?
      | (?:problem|issue)\ (?:solved|resolved|fixed|sorted)
      | not\ interested(?:\ anymore|\ any\ more)?
      | never\ ?mind)
    | (?:please\ )?cancel\ (?:my|the|this|your|our)\ (?:callback|call\ back|call|request|callback\ request)
    | (?:i\ |we\ )?(?:dont|do\ not|no\ longer)\ need
      \ (?:it|a\ call|the\ call|a\ callback|the\ callback|you\ to\ call)
      (?:\ back)?(?:\ anymore|\ any\ more|\ now)?
    | (?:please\ )?(?:dont|do\ not)\ call(?:\ me)?(?:\ back)?(?:\ anymore|\ any\ more)?
    | no\ need(?:\ to\ call)?(?:\ me)?(?:\ back)?(?:\ anymore|\ any\ more)?
    | no\ (?:thanks|thank\ you|thx)
    """
)


def normalise(text: str) -> list[str]:
    """The words of ``text``, case-folded, without punctuation ("don't" → "dont", "opt-out" → "opt out")."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = re.sub(r"['\u2018\u2019\u02bc`]", "", folded)
    return re.sub(r"[\W_]+", " ", folded).split()


def _trim_filler(words: list[str]) -> list[str]:
    start, end = 0, len(words)
    while start < end and words[start] in _LEADING_FILLER:
        start += 1
    while start < end:
        if words[end - 1] in _TRAILING_FILLER:
            end -= 1
        elif end - start >= 2 and words[end - 2 : end] == ["thank", "you"]:
            end -= 2
        else:
            break
    return words[start:end]


def classify_reply(text: str) -> ReplyKind:
    words = normalise(text)
    core = _trim_filler(words) or words
    phrase = " ".join(core)
    if phrase in STOP_KEYWORDS:
        return ReplyKind.stop
    if phrase in START_KEYWORDS:
        return ReplyKind.start
    if phrase in HELP_KEYWORDS:
        return ReplyKind.help
    if core and core[0] in _STOP_LEADS and all(word in _CONTINUATIONS for word in core[1:]):
        return ReplyKind.stop
    if _STOP_PHRASES.fullmatch(phrase):
        return ReplyKind.stop
    if _CANCEL_PHRASES.fullmatch(phrase) or _CANCEL_PHRASES.fullmatch(" ".join(words)):
        return ReplyKind.cancel_request
    return ReplyKind.other
