"""Tag passages with WSIS action lines (declared / explicit / inferred, ranked, each with a score), a role
(achievement, challenge, recommendation, commitment, none) and the SDGs linked to those lines through the
WSIS-SDG matrix (kept apart from direct evidence). The classifier behind the inferred lines is in
`indexer.tag_model`."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from .actionlines import BY_CODE, CODES, parent_code, parse_action_line
from .tag_model import DEFAULT_FAMILY, LineModel, N, Prototypes, fit_model, softmax

TAGGER_VERSION = "2.0"
MAX_LINES = 3  # tags per passage: declared and explicit ones always, inferred ones up to this many in all
# Default of the setting `tag_filter_threshold`: filters and facets count a passage under each of its tags
# scoring at least this. On the cross-validated 2021 entries (`wsis eval tagging`), 0.15 keeps 1.5 lines per
# entry and finds 64% of them under their nominated category (the primary line alone: 54%).
FILTER_THRESHOLD = 0.15
C7_SUBLINES = [i for i, c in enumerate(CODES) if c.startswith("C7.")]
DATA = Path(__file__).parent / "data"
ROLES = ("achievement", "challenge", "recommendation", "commitment", "none")


@lru_cache(maxsize=1)
def descriptions() -> dict[str, str]:
    return json.loads((DATA / "action_lines.json").read_text())["lines"]


@lru_cache(maxsize=1)
def sdg_links() -> dict[str, list[str]]:
    return json.loads((DATA / "wsis_sdg_matrix.json").read_text())["links"]


# ------------------------------------------------------------------ explicit mentions

_EXPLICIT = re.compile(
    r"\b(?:action[\s-]+lines?|AL)\s*(?:[:#–-]\s*)?((?:C\s?(?:1[01]|[1-9])(?:\s*[.:]?\s*e[\s-]?[a-z]+)?"
    r"(?:\s*(?:,|and|&|/)\s*)?)+)",
    re.I,
)
_SUBLINE_NAME = re.compile(r"\bC\s?7\s*[.:,(]?\s*(?:ICT applications\s*[:\-–]?\s*)?e[\s-]?(government|business|"
                           r"learning|health|employment|environment|agriculture|science)\b", re.I)


def explicit_lines(text: str) -> list[str]:
    """Action lines named outright: 'Action Line C5', 'action lines C1, C3 and C7', 'C7 e-health'."""
    found: list[str] = []
    for m in _EXPLICIT.finditer(text):
        for part in re.findall(r"C\s?(?:1[01]|[1-9])(?:\s*[.:]?\s*e[\s-]?[a-z]+)?", m.group(1), re.I):
            code = parse_action_line(part)
            if code and code != "C7" and code not in found:
                found.append(code)
            elif code == "C7" and "C7" not in found:
                found.append("C7")
    for m in _SUBLINE_NAME.finditer(text):
        code = f"C7.e-{m.group(1).lower()}"
        if code not in found:
            found.append(code)
    if "C7" in found and any(c.startswith("C7.") for c in found):
        found.remove("C7")
    return found


# ------------------------------------------------------------------ role

_HEADING_ROLES = (
    ("recommendation", re.compile(r"recommend|way forward|proposals?|suggested actions", re.I)),
    ("challenge", re.compile(r"challenge|obstacle|barrier|constraint|gaps?\b|lessons", re.I)),
    ("achievement", re.compile(r"achievement|progress|results|accomplishment|impact|success", re.I)),
    ("commitment", re.compile(r"commitment|next steps|future|plan\b|planned|perspectives|pledge", re.I)),
)
_CUES = {
    "recommendation": [
        (r"\bwe (?:strongly )?recommend", 3), (r"\bit is recommended\b", 3), (r"\brecommendations?\b", 2),
        (r"\b(?:should|ought to)\b", 1.5), (r"\bmust\b", 1), (r"\bneed(?:s)? to\b", 1), (r"\bcall(?:s|ed)? (?:on|for|upon)\b", 2),
        (r"\burge[sd]?\b", 2), (r"\bencourage[sd]?\b", 1), (r"\bit is (?:essential|important|crucial) (?:to|that)\b", 1.5),
        (r"^(?:Encourage|Ensure|Promote|Strengthen|Develop|Enhance|Support|Harness|Facilitate|Foster|Rebuild|"
         r"Further|Establish|Adopt|Invest|Expand|Create|Improve|Provide|Increase|Build|Integrate)\b", 2.5),
    ],
    "challenge": [
        (r"\bthe (?:main|biggest|key|major|greatest) challenges?\b", 3), (r"\bchallenges?\b", 1.5),
        (r"\bbarriers?\b", 1.5), (r"\bobstacles?\b", 1.5), (r"\black of\b", 1.5), (r"\binsufficient\b", 1),
        (r"\b(?:problem|difficult(?:y|ies)?|concern(?:s|ed)?|risks?|threats?|gaps?|shortage)\b", 1),
        (r"\bremains? (?:a|an)? ?(?:problem|issue|obstacle|limited|low|weak)\b", 2), (r"\bstill\b", 0.5),
        (r"\b(?:unable|cannot|could not|hamper(?:s|ed)?|hinder(?:s|ed)?|limited)\b", 1),
    ],
    "achievement": [
        (r"\b(?:achiev(?:ed|ements?)|accomplish(?:ed|ments?))\b", 2), (r"\bsuccessful(?:ly)?\b", 1.5),
        (r"\b(?:launched|established|completed|implemented|deployed|trained|connected|adopted|delivered)\b", 1.5),
        (r"\b(?:has|have) (?:been )?(?:improved|increased|grown|reached|created|helped|enabled|led)\b", 1.5),
        (r"\b(?:milestone|progress|since 20\d\d|so far|to date)\b", 1), (r"\bmore than [\d,]+\b", 1),
        (r"\bover [\d,]+ (?:people|users|students|farmers|women|schools|villages)\b", 1.5),
    ],
    "commitment": [
        (r"\bwe (?:will|commit|pledge|are committed)\b", 3), (r"\bcommit(?:s|ted|ment)?\b", 1.5),
        (r"\bwill (?:continue|be|expand|launch|scale|extend|work|develop)\b", 1.5),
        (r"\b(?:plans? to|planned|next (?:phase|step|year)|by 20[2-5]\d|roadmap|future perspectives?)\b", 1.5),
        (r"\baims? to\b", 1),
    ],
}
_CUE_RE = {role: [(re.compile(p, re.I | re.M), w) for p, w in cues] for role, cues in _CUES.items()}


def role_of(text: str, heading: str = "") -> tuple[str, float, str]:
    """(role, confidence, source): from the section heading when it names one (report templates),
    else from cue phrases in the text."""
    for role, pat in _HEADING_ROLES:
        if heading and pat.search(heading):
            return role, 0.95, "heading"
    scores = {role: 0.0 for role in _CUE_RE}
    for role, cues in _CUE_RE.items():
        for pat, w in cues:
            n = len(pat.findall(text))
            if n:
                scores[role] += w * min(n, 3)
    words = max(20, len(text.split()))
    norm = {r: s / (words ** 0.5) for r, s in scores.items()}
    best = max(norm, key=norm.get)
    if scores[best] < 2.5 or norm[best] < 0.25:
        return "none", 0.0, "cues"
    total = sum(norm.values())
    return best, round(min(0.9, norm[best] / total), 3), "cues"


# ------------------------------------------------------------------ inferred lines

def description_texts() -> list[str]:
    d = descriptions()
    return [f"{BY_CODE[c].name}. {d[c]}" for c in CODES]


def ranked_lines(scores_row: np.ndarray) -> list[tuple[str, float]]:
    """The C-level lines by probability, most likely first: (code, score). A C7 entry is named by its most
    likely sub-line and scored with the probability of C7 as a whole (its sub-lines summed)."""
    row = np.asarray(scores_row, dtype=np.float64)
    out = [(c, float(row[i])) for i, c in enumerate(CODES) if not c.startswith("C7.")]
    best = max(C7_SUBLINES, key=lambda i: row[i])
    out.append((CODES[best], float(row[C7_SUBLINES].sum())))
    return sorted(out, key=lambda t: -t[1])


def filter_codes(tags: list[dict], threshold: float) -> list[str]:
    """The codes a passage is found under by an action-line filter: its tags scoring at least `threshold`
    (a bare "C7" stands for all its sub-lines). The FAISS columns and the Milvus `lines` field both use it."""
    out: list[str] = []
    for t in tags:
        if float(t.get("score", 0.0)) >= threshold:
            codes = [CODES[i] for i in C7_SUBLINES] if t["line"] == "C7" else [t["line"]]
            out += [c for c in codes if c not in out]
    return out


class Tagger:
    """Combines the signals. Inferred lines come from a classifier fitted at build time on the passages
    whose document declares one line (`indexer.tag_model`: MiniLM vector, Plan of Action prototypes, TF-IDF
    words; calibrated probabilities), or, with too few labels, from the cosine similarity of the passage
    vector to our description of each line (zero-shot)."""

    def __init__(self, desc_vectors: np.ndarray, model: LineModel | None = None, min_score: float = 0.01,
                 sdg_min_score: float = 0.35, temperature: float = 0.04, blend: float = 1.0):
        self.desc_vectors = np.asarray(desc_vectors, dtype=np.float32)
        self.model = model  # None: zero-shot
        self.min_score = min_score  # an inferred line below this is not a tag (the primary excepted)
        self.sdg_min_score = sdg_min_score  # SDG links follow the lines scoring at least this
        self.temperature = temperature  # of the zero-shot softmax over description similarities
        self.blend = blend  # weight of the model against zero-shot (1.0; below only for taggers of format 1)

    @classmethod
    def from_embedder(cls, embedder, **kw) -> Tagger:
        return cls(embedder.encode(description_texts()), **kw)

    @property
    def fitted(self) -> bool:
        return self.model is not None

    def fit(self, vectors: np.ndarray, labels: list[str], texts: list[str] | None = None,
            prototypes: tuple[np.ndarray, list[str]] | None = None, groups: list[str] | None = None,
            family: str = DEFAULT_FAMILY, min_per_class: int = 3) -> bool:
        """Fit the classifier on labelled passages (one code each; `texts` what was embedded, for the
        lexical features; `prototypes` (vectors, codes) of texts that define lines, e.g. Plan of Action
        paragraphs; `groups` the passages' document ids). Our descriptions are examples and prototypes too,
        so every line exists. Returns False (and keeps the zero-shot tagger) when too few lines have
        examples."""
        y = np.array([CODES.index(c) for c in labels], dtype=np.int64)
        counts = np.bincount(y, minlength=N) if len(y) else np.zeros(N)
        if (counts >= min_per_class).sum() < 6:
            self.model = None
            return False
        reps = 3
        X = np.vstack([np.asarray(vectors, np.float32)] + [self.desc_vectors] * reps)
        y = np.concatenate([y] + [np.arange(N)] * reps)
        T = (list(texts) + description_texts() * reps) if texts is not None else None
        g = (list(groups) + [f"description:{c}" for c in CODES] * reps) if groups is not None else None
        pv, po = self.desc_vectors, np.arange(N)
        if prototypes is not None and len(prototypes[0]):
            pv = np.vstack([np.asarray(prototypes[0], np.float32), pv])
            po = np.concatenate([[CODES.index(c) for c in prototypes[1]], po])
        self.model = fit_model(X, y, T, family=family, prototypes=Prototypes(pv, po),
                               groups=np.array(g) if g is not None else None)
        self.blend = 1.0
        return True

    def save(self, path: Path) -> None:
        arrays = {"format": np.array([2]), "desc_vectors": self.desc_vectors,
                  "params": np.array([self.min_score, self.sdg_min_score, self.temperature, self.blend])}
        if self.model is not None:
            arrays.update(self.model.to_arrays("m_"))
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: Path) -> Tagger:
        """Read a tagger written by `save` (or by tagger 1.x: one logistic head blended with zero-shot)."""
        from .tag_model import Head

        with np.load(path, allow_pickle=False) as z:
            if "format" not in z:  # format 1: params = threshold, top1_threshold, temperature, blend, C
                _, _, temperature, blend, _ = z["params"].tolist()
                model = None
                if "coef" in z:
                    model = LineModel("format-1", [Head(z["coef"], z["intercept"], 1.0, False, False)])
                return cls(z["desc_vectors"], model, temperature=temperature, blend=blend)
            min_score, sdg_min, temperature, blend = z["params"].tolist()
            return cls(z["desc_vectors"], LineModel.from_arrays(z, "m_"), min_score=min_score,
                       sdg_min_score=sdg_min, temperature=temperature, blend=blend)

    def zero_shot(self, vectors: np.ndarray) -> np.ndarray:
        return softmax((np.asarray(vectors, np.float32) @ self.desc_vectors.T) / self.temperature)

    def scores(self, vectors: np.ndarray, texts: list[str] | None = None) -> np.ndarray:
        """(n, 18) probabilities over action lines (CODES order), summing to 1 per row. With `texts` (what
        was embedded) the lexical heads count too; without, the vector-only heads answer."""
        vectors = np.asarray(vectors, np.float32)
        zs = self.zero_shot(vectors)
        proba = self.model.proba(vectors, texts) if self.model is not None else None
        if proba is None:
            return zs
        return self.blend * proba + (1 - self.blend) * zs if self.blend < 1 else proba

    def tag(self, text: str, heading: str, kind: str, declared: list[str], scores_row: np.ndarray) -> dict:
        """Ranked action lines (declared 1.0, explicit 0.9, then inferred by probability; up to MAX_LINES
        in all, the first marked primary), role and SDG links. Inferred lines are C-level (C7 named by its
        best sub-line): a line already declared or named explicitly is not inferred again."""
        tags: list[dict] = []
        for code in declared:
            if (code in BY_CODE or code == "C7") and code not in {t["line"] for t in tags}:
                tags.append({"line": code, "score": 1.0, "source": "declared"})
        for code in explicit_lines(text):
            if code not in {t["line"] for t in tags}:
                tags.append({"line": code, "score": 0.9, "source": "explicit"})
        covered = {parent_code(t["line"]) for t in tags if t["line"] != "C7"}  # a bare C7 leaves its sub-line open
        for code, s in ranked_lines(scores_row):
            if parent_code(code) in covered:
                continue
            c7_open = "C7" in declared and code.startswith("C7.")  # a declared bare C7 gets its sub-line
            if not c7_open and (len(tags) >= MAX_LINES or (tags and s < self.min_score)):
                continue
            tags.append({"line": code, "score": round(min(1.0, s), 3), "source": "inferred"})
            covered.add(parent_code(code))
        for i, t in enumerate(tags):
            t["primary"] = i == 0
        role, role_score, role_source = role_of(text, heading)
        sdgs = []
        seen = set()
        for t in tags:
            if not t["primary"] and t["score"] < self.sdg_min_score:
                continue
            for target in sdg_links().get(t["line"], []):
                if target not in seen:
                    seen.add(target)
                    sdgs.append({"target": target, "sdg": int(target.split(".")[0]), "via": t["line"],
                                 "source": "wsis-sdg-matrix"})
        return {"action_lines": tags, "role": role, "role_score": role_score, "role_source": role_source,
                "sdgs": sdgs}
