"""The WSIS action lines C1-C11 (C7 split into its 8 sub-lines): codes, names, facilitators, parsing."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ActionLine:
    code: str  # "C5", "C7.e-health"
    name: str
    facilitators: tuple[str, ...]

    @property
    def parent(self) -> str:
        return self.code.split(".")[0]


C7_SUBLINES = (
    "e-government",
    "e-business",
    "e-learning",
    "e-health",
    "e-employment",
    "e-environment",
    "e-agriculture",
    "e-science",
)

ACTION_LINES: tuple[ActionLine, ...] = (
    ActionLine("C1", "The role of governments and all stakeholders in the promotion of ICTs for development",
               ("UNDESA",)),
    ActionLine("C2", "Information and communication infrastructure", ("ITU",)),
    ActionLine("C3", "Access to information and knowledge", ("UNESCO",)),
    ActionLine("C4", "Capacity building", ("UNDP", "ITU")),
    ActionLine("C5", "Building confidence and security in the use of ICTs", ("ITU",)),
    ActionLine("C6", "Enabling environment", ("ITU", "UNDP", "UNCTAD", "UNDESA")),
    ActionLine("C7.e-government", "ICT applications: e-government", ("UNDESA",)),
    ActionLine("C7.e-business", "ICT applications: e-business", ("UNCTAD", "ITU", "UPU")),
    ActionLine("C7.e-learning", "ICT applications: e-learning", ("UNESCO",)),
    ActionLine("C7.e-health", "ICT applications: e-health", ("WHO",)),
    ActionLine("C7.e-employment", "ICT applications: e-employment", ("ILO",)),
    ActionLine("C7.e-environment", "ICT applications: e-environment",
               ("WHO", "WMO", "UNEP", "UN-Habitat", "ITU", "ICAO")),
    ActionLine("C7.e-agriculture", "ICT applications: e-agriculture", ("FAO",)),
    ActionLine("C7.e-science", "ICT applications: e-science", ("UNESCO",)),
    ActionLine("C8", "Cultural diversity and identity, linguistic diversity and local content", ("UNESCO",)),
    ActionLine("C9", "Media", ("UNESCO",)),
    ActionLine("C10", "Ethical dimensions of the Information Society", ("UNESCO",)),
    ActionLine("C11", "International and regional cooperation", ("UNDESA",)),
)

BY_CODE = {a.code: a for a in ACTION_LINES}
CODES = tuple(a.code for a in ACTION_LINES)
# Valid filter values: every code plus the parent "C7".
FILTER_CODES = frozenset(CODES) | {"C7"}

# actions.json record id (0..17) -> code, in the order of the WSIS-SDG Matrix.
MATRIX_ID_TO_CODE = dict(enumerate(CODES))

_SUB_RE = re.compile(
    r"\be[\s\-‑]?(government|business|learning|health|employment|environment|agriculture|science)\b", re.I
)
_CODE_RE = re.compile(r"\bC\s?(1[01]|[1-9])\b")


def parse_action_line(text: str) -> str | None:
    """Read an action-line label such as 'C7. ICT APPLICATIONS: E-HEALTH',
    'Category 10 — AL C7. ICT applications: ... — E-health' or 'C11' into a code; None if absent.
    A bare C7 without a recognisable sub-line gives 'C7'."""
    if not text:
        return None
    m = _CODE_RE.search(text)
    if not m:
        sub = _SUB_RE.search(text)
        return f"C7.e-{sub.group(1).lower()}" if sub else None
    num = m.group(1)
    if num != "7":
        return f"C{num}"
    sub = _SUB_RE.search(text[m.end():]) or _SUB_RE.search(text)
    return f"C7.e-{sub.group(1).lower()}" if sub else "C7"


def parent_code(code: str) -> str:
    return code.split(".")[0]


def normalise_filter(value: str) -> str | None:
    """Accept 'c5', 'C7.e-health', 'C7 e-health', 'e-health' for filters; None when unknown."""
    v = value.strip()
    if not v:
        return None
    if v.upper() == "C7":
        return "C7"
    code = parse_action_line(v)
    if code in FILTER_CODES:
        return code
    return None
