"""Who a transcript speaker speaks for, from how they introduce themselves in their own turns: "I work for
the Internet Society", "I'm Yoichi Ida from the Japanese Ministry of Internal Affairs", "I represent ...".
Kept in the document's metadata (`speaker_affiliations`) so that answers can say "Name (Organisation)"."""

from __future__ import annotations

import re

_ORG = r"(?P<org>[A-Z][\w&'’-]+(?:\s+(?:of|for|and|the|on|de|in)?\s*[A-Z][\w&'’-]+){0,7})"
PATTERNS = [
    re.compile(r"\bI work (?:for|at|with|in) (?:the |an? (?:organi[sz]ation|NGO|company) call(?:ed)? )?" + _ORG),
    re.compile(r"\bI represent (?:the )?" + _ORG),
    re.compile(r"\bI(?:'m| am) (?:[A-Z][\w'-]+ ){1,3}(?:from|with|at|of) (?:the )?" + _ORG),
    re.compile(r"\b[Mm]y name is (?:[A-Z][\w'-]+ ?){1,3},? (?:and )?(?:I(?:'m| am) )?(?:from|with|at) (?:the )?" + _ORG),
    re.compile(r"\bI(?:'m| am) (?:the |a |an )?[a-z][\w -]{2,40}? (?:at|of|from|with) (?:the )?" + _ORG),
]
_TRAILING = re.compile(r"\s+(?:and|the|of|for|on|in|de)$")


def affiliations(sections, turns_to_read: int = 2) -> dict[str, str]:
    """{speaker: organisation} from the first `turns_to_read` turns of each named speaker."""
    seen: dict[str, int] = {}
    out: dict[str, str] = {}
    for sec in sections:
        name = sec.speaker
        if not name or name.upper() == "MODERATOR" or name in out:
            continue
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > turns_to_read:
            continue
        for pat in PATTERNS:
            m = pat.search(sec.text[:600])
            if m:
                org = _TRAILING.sub("", m.group("org").strip(" .,;:"))
                if 2 <= len(org) <= 80:
                    out[name] = org
                    break
    return out
