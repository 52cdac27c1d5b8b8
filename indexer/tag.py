"""Tag passages with WSIS action lines (declared / explicit / inferred, each with a confidence),
a role (achievement, challenge, recommendation, commitment, none) and the SDGs linked to those
lines through the WSIS-SDG matrix (kept apart from direct evidence)."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from .actionlines import BY_CODE, CODES, parse_action_line

TAGGER_VERSION = "1.0"
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


def role_of(text: str, heading: str = "", kind: str = "") -> tuple[str, float, str]:
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

class Tagger:
    """Combines the signals. Inferred lines come from a classifier over passage embeddings: cosine
    similarity to our action-line descriptions, sharpened by a logistic-regression model fitted on
    the passages whose document declares its lines (when there are enough of them)."""

    def __init__(self, desc_vectors: np.ndarray, classifier=None, threshold: float = 0.35,
                 top1_threshold: float = 0.2, temperature: float = 0.04, blend: float = 0.7, C: float = 8.0):
        self.desc_vectors = desc_vectors.astype(np.float32)
        self.classifier = classifier  # (coef (18, d), intercept (18,)) or None for zero-shot
        self.threshold = threshold
        self.top1_threshold = top1_threshold
        self.temperature = temperature
        self.blend = blend  # weight of the fitted classifier against the zero-shot similarities
        self.C = C

    @classmethod
    def from_embedder(cls, embedder, **kw) -> "Tagger":
        d = descriptions()
        return cls(embedder.encode([f"{BY_CODE[c].name}. {d[c]}" for c in CODES]), **kw)

    def fit(self, vectors: np.ndarray, labels: list[str], min_per_class: int = 3) -> bool:
        """Fit the classifier on labelled passage vectors (one code each). Returns False (and keeps
        the zero-shot model) when too few classes have examples."""
        from sklearn.linear_model import LogisticRegression

        y = np.array([CODES.index(c) for c in labels])
        counts = np.bincount(y, minlength=len(CODES)) if len(y) else np.zeros(len(CODES))
        if (counts >= min_per_class).sum() < 6:
            self.classifier = None
            return False
        # The descriptions are training examples too, so every class exists.
        X = np.vstack([vectors, self.desc_vectors, self.desc_vectors])
        y = np.concatenate([y, np.arange(len(CODES)), np.arange(len(CODES))])
        clf = LogisticRegression(C=self.C, max_iter=3000, class_weight="balanced")
        clf.fit(X, y)
        # Keep only the parameters: probabilities are a softmax we compute ourselves (multinomial model).
        coef = np.zeros((len(CODES), X.shape[1]), dtype=np.float32)
        intercept = np.full(len(CODES), -1e4, dtype=np.float32)
        coef[clf.classes_] = clf.coef_
        intercept[clf.classes_] = clf.intercept_
        self.classifier = (coef, intercept)
        return True

    def save(self, path: Path) -> None:
        arrays = {"desc_vectors": self.desc_vectors,
                  "params": np.array([self.threshold, self.top1_threshold, self.temperature, self.blend, self.C])}
        if self.classifier is not None:
            arrays["coef"], arrays["intercept"] = self.classifier
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: Path) -> "Tagger":
        z = np.load(path)
        thr, top1, temp, blend, C = z["params"].tolist()
        clf = (z["coef"], z["intercept"]) if "coef" in z else None
        return cls(z["desc_vectors"], classifier=clf, threshold=thr, top1_threshold=top1, temperature=temp,
                   blend=blend, C=C)

    def scores(self, vectors: np.ndarray) -> np.ndarray:
        """(n, 18) probabilities over action lines."""
        sims = vectors @ self.desc_vectors.T
        z = sims / self.temperature
        z -= z.max(axis=1, keepdims=True)
        zero_shot = np.exp(z)
        zero_shot /= zero_shot.sum(axis=1, keepdims=True)
        if self.classifier is None:
            return zero_shot
        coef, intercept = self.classifier
        logits = vectors @ coef.T + intercept
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        proba /= proba.sum(axis=1, keepdims=True)
        return self.blend * proba + (1 - self.blend) * zero_shot

    def tag(self, text: str, heading: str, kind: str, declared: list[str], scores_row: np.ndarray) -> dict:
        lines: dict[str, dict] = {}
        for code in declared:
            if code in BY_CODE or code == "C7":
                lines[code] = {"line": code, "score": 1.0, "source": "declared"}
        for code in explicit_lines(text):
            if code not in lines:
                lines[code] = {"line": code, "score": 0.9, "source": "explicit"}
        order = np.argsort(-scores_row)
        for rank, i in enumerate(order[:3]):
            code, s = CODES[i], float(scores_row[i])
            if code in lines:
                continue
            if s >= self.threshold or (rank == 0 and s >= self.top1_threshold):
                lines[code] = {"line": code, "score": round(s, 3), "source": "inferred"}
        # A declared bare "C7" is made precise by the best-scoring sub-line.
        if "C7" in lines:
            best_sub = max((i for i in range(len(CODES)) if CODES[i].startswith("C7.")), key=lambda i: scores_row[i])
            lines.setdefault(CODES[best_sub], {"line": CODES[best_sub], "score": round(float(scores_row[best_sub]), 3),
                                               "source": "inferred"})
        ranked = sorted(lines.values(), key=lambda t: (-t["score"], t["line"]))
        role, role_score, role_source = role_of(text, heading, kind)
        sdgs = []
        seen = set()
        for t in ranked:
            for target in sdg_links().get(t["line"], []):
                if target not in seen:
                    seen.add(target)
                    sdgs.append({"target": target, "sdg": int(target.split(".")[0]), "via": t["line"],
                                 "source": "wsis-sdg-matrix"})
        return {"action_lines": ranked, "role": role, "role_score": role_score, "role_source": role_source,
                "sdgs": sdgs}
