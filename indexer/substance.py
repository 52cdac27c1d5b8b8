"""How much of a passage is substance rather than procedure: a score in [0, 1] computed at build time and
stored with the passage. Procedure is what carries no content about the topic: self-introductions, thanks,
welcomes, hand-overs to the next speaker, housekeeping (microphones, time, recordings) and questions put to
others. Answers and search demote passages made mostly of it."""

from __future__ import annotations

import re

# Phrases that mark a sentence as procedural (case-insensitive; matched anywhere in the sentence).
PROCEDURAL = [
    r"\bthank(?:s| you)\b", r"\bmy name is\b", r"\bI(?:'m| am) (?:\w+ ){0,3}(?:from|with|at)\b",
    r"\bI work (?:for|at|with)\b", r"\bI represent\b", r"\b(?:good|very good) (?:morning|afternoon|evening)\b",
    r"\bwelcome\b", r"\blet me (?:introduce|give|pass|hand|turn)\b", r"\b(?:give|pass|hand|turn) (?:it |the floor )?"
    r"(?:over )?to\b", r"\bthe floor\b", r"\bnext (?:speaker|panelist|panellist|question)\b",
    r"\bover to you\b", r"\bcan you (?:all )?hear me\b", r"\b(?:un)?mute\b", r"\bmicrophone\b", r"\bmic\b",
    r"\b(?:\d+|two|three|five|ten) minutes\b", r"\bladies and gentlemen\b", r"\bdistinguished\b",
    r"\bhousekeeping\b", r"\bin the chat\b", r"\bchat (?:box|window)\b", r"\bQ&A\b",
    r"\bpanel(?:ists?)? (?:today|here|with us)\b", r"\bintroduce (?:myself|yourself|our)\b", r"\bpleasure to\b",
    r"\bhonou?red to\b", r"\bI(?:'ll| will) leave it there\b", r"\bback to you\b", r"\bquick(?:ly)? (?:round|introduction)\b", r"\bwe(?:'re| are) (?:running )?(?:out of|short of) time\b",
]
_PROC = re.compile("|".join(f"(?:{p})" for p in PROCEDURAL), re.I)
_SENT = re.compile(r"[^.!?\n]+[.!?]*")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")


def substance(text: str) -> float:
    """Share of the passage's words that sit in sentences which are neither questions nor procedural,
    where a sentence with one procedural phrase in a long sentence counts half (long sentences that thank
    someone often go on to say something)."""
    total = kept = 0.0
    for m in _SENT.finditer(text):
        s = m.group(0).strip()
        n = len(_WORD.findall(s))
        if not n:
            continue
        total += n
        if s.endswith("?"):
            continue
        hits = len(_PROC.findall(s))
        if hits == 0:
            kept += n
        elif hits == 1 and n >= 25:
            kept += n / 2
    return round(kept / total, 4) if total else 0.0


def is_procedural(sentence: str) -> bool:
    """A sentence that is procedure (introductions, thanks, hand-overs, housekeeping): one procedural phrase
    in a short sentence, or two anywhere."""
    hits = len(_PROC.findall(sentence))
    return hits >= 2 or (hits == 1 and len(_WORD.findall(sentence)) < 25)
