"""When to say "the documents do not cover this": several signals, not one number.

- names the question uses that occur nowhere in the corpus ("M-Pesa", "X-Road"): checked on the keyword
  index's vocabulary, then as a phrase in the passages that hold all of its words;
- the best evidence passage's cosine to the question, and the best answer sentence's;
- for a question asking for a figure, whether any good answer sentence holds a number.
The thresholds are settings (WSIS_ASK_*), calibrated with `wsis eval answers` on the dev questions."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .question import STOP

_NORM = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class AbstainSettings:
    passage_below: float = 0.40  # best evidence passage cosine under this: abstain
    sentence_below: float = 0.45  # best answer sentence cosine under this: abstain
    unknown_name_sentence_below: float = 0.75  # with a name absent from the corpus, the sentence must reach this
    figure_sentence_below: float = 0.55  # a figure question needs a sentence with a number reaching this


def _norm(text: str) -> str:
    return " " + _NORM.sub(" ", text.lower()).strip() + " "


def name_in_corpus(engine, name: str, max_check: int = 2000) -> bool:
    """Whether `name` occurs in some passage (case and punctuation ignored)."""
    kw = engine.index.keyword
    tokens = [t for t in _NORM.sub(" ", name.lower()).split() if t]
    if not tokens:
        return True
    mask = None
    for t in tokens:
        if len(t) <= 2 or t in STOP:
            continue  # the keyword index drops stop words and single letters
        if not kw.query_ids(t):
            return False  # a word the index has never seen
        s = kw.scores(t) > 0
        mask = s if mask is None else mask & s
    if mask is None:
        return True
    cand = np.flatnonzero(mask)[:max_check]
    phrase = _norm(name)
    rows = engine.index.store.passages(cand.tolist())
    return any(phrase in _norm(r.text) for r in rows.values())


def missing_names(engine, names) -> list[str]:
    return [n for n in names if not name_in_corpus(engine, n)]


def decide(signals: dict, cfg: AbstainSettings) -> tuple[bool, str]:
    """(abstain?, reason)."""
    if signals["best_passage"] < cfg.passage_below:
        return True, f"no passage is close to the question (best cosine {signals['best_passage']:.2f})"
    if signals["missing_names"] and signals["best_sentence"] < cfg.unknown_name_sentence_below:
        return True, f"the documents never mention {', '.join(signals['missing_names'])}"
    if signals["best_sentence"] < cfg.sentence_below:
        return True, f"no sentence answers the question (best cosine {signals['best_sentence']:.2f})"
    if signals["figure"] and signals["best_number_sentence"] < cfg.figure_sentence_below:
        return True, "no sentence gives the figure asked for"
    return False, ""
