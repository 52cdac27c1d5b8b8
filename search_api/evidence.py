"""Evidence for an answer: a deep pool of passages for the understood question, reranked for answering.
Procedural passages are demoted by the substance score stored at build time, primary sources are preferred
over secondary pages, the role and action line the question asks about are boosted, and a question about
what a named person said is answered from that person's own turns."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .engine import Engine
from .filters import Filters, line_mask
from .fusion import Hit
from .question import ROLE_CUES, Question


@dataclass(frozen=True)
class Evidence:
    vid: int
    score: float  # the answer rerank score
    dense: float  # cosine of the passage to the searched text
    fused: float  # the engine's fused retrieval score, normalised to [0, 1] within the pool
    hit: Hit
    structured: bool = False  # the part of a named document the question points at


@dataclass(frozen=True)
class EvidenceSettings:
    pool: int = 40
    secondary_factor: float = 0.8  # wiki-style summaries of documents rank below the documents
    role_boost: float = 1.25
    line_boost: float = 1.2
    kind_boost: float = 1.25
    structured_boost: float = 1.6  # "the C11 facilitator's challenges": that report's challenges section
    place_boost: float = 1.15
    substance_floor: float = 0.4  # a passage of pure procedure keeps this share of its score


def _speaker_mask(engine: Engine, q: Question) -> np.ndarray | None:
    if not q.speakers:
        return None
    m = np.zeros(engine.n, dtype=bool)
    for name in q.speakers:
        m[engine.cols.speaker_passages(name)] = True
    return m if m.any() else None


def _pool_for_speakers(engine: Engine, text: str, qvec: np.ndarray, mask: np.ndarray,
                       filters: Filters) -> list[Hit]:
    """Every turn of the named speakers, scored exactly: cosine plus BM25, convex-fused like search."""
    fm = engine.mask(filters)
    if fm is not None:
        mask = mask & fm
    vids = np.flatnonzero(mask)
    if not len(vids):
        return []
    dense = np.asarray(engine.embeddings[vids]) @ qvec
    bm = engine.index.keyword.scores(text)[vids].astype(np.float64)
    norm = lambda a: (a - a.min()) / (a.max() - a.min()) if a.max() > a.min() else np.ones_like(a)  # noqa: E731
    w = engine.fusion.weight
    fused = w * norm(dense.astype(np.float64)) + (1 - w) * norm(bm)
    order = np.argsort(-fused, kind="stable")
    return [Hit(vid=int(vids[i]), score=float(fused[i]), dense_score=float(dense[i]), bm25_score=float(bm[i]))
            for i in order]


def _structured(q: Question, f: Filters) -> Filters | None:
    """A question that names a document by its action line and kind ("the C11 facilitator", "the Plan of
    Action under C5") and maybe a section role ("challenges"): the filter that finds that part."""
    if not (q.action_lines and q.kinds and q.kinds[0] in ("action_line_report", "reference")) or f.action_lines:
        return None
    return replace(f, kinds=q.kinds[:1], action_lines=q.action_lines, roles=(q.role,) if q.role else ())


def gather(engine: Engine, q: Question, filters: Filters, qvec: np.ndarray,
           cfg: EvidenceSettings = EvidenceSettings()) -> tuple[list[Evidence], Filters]:
    """(evidence best first, the filters actually applied)."""
    text = q.search_text()
    f = filters
    if q.intent == "initiatives" and not f.kinds:
        f = replace(f, kinds=("stocktaking_entry",))
    speakers = _speaker_mask(engine, q)
    structured = _structured(q, f)
    if speakers is not None:
        hits = _pool_for_speakers(engine, text, qvec, speakers, f)[:cfg.pool]
    else:
        hits = engine.search(text, k=cfg.pool, filters=f, qvec=qvec).hits
        if structured is not None:  # the named document's own section joins the pool whatever its wording
            seen = {h.vid for h in hits}
            hits += [h for h in engine.search(text, k=10, filters=structured, qvec=qvec).hits if h.vid not in seen]
    if not hits:
        return [], f
    vids = np.array([h.vid for h in hits])
    dense = np.asarray(engine.embeddings[vids]) @ qvec
    fused = np.array([h.score for h in hits], dtype=np.float64)
    fused = fused / fused.max() if fused.max() > 0 else np.ones_like(fused)
    cols = engine.cols
    factor = cfg.substance_floor + (1 - cfg.substance_floor) * cols.substance[vids]
    factor = factor * np.where(cols.primary[vids], 1.0, cfg.secondary_factor)
    store = engine.index.store.passages(vids.tolist())
    if q.role:
        factor = factor * np.where(cols.roles[vids] == q.role, cfg.role_boost, 1.0)
        cue = ROLE_CUES[q.role]  # passages that do what is asked (recommend, name challenges) in so many words
        density = np.array([min(1.0, len(cue.findall(store[v].text)) / 4) for v in vids.tolist()])
        factor = factor * (1 + (cfg.role_boost - 1) * density)
    if q.kinds:
        factor = factor * np.where(np.isin(cols.kinds[vids], list(q.kinds)), cfg.kind_boost, 1.0)
    in_structured = engine.mask(structured)[vids] if structured is not None else np.zeros(len(vids), dtype=bool)
    factor = factor * np.where(in_structured, cfg.structured_boost, 1.0)
    if q.action_lines:
        bits = line_mask(q.action_lines)
        factor = factor * np.where((cols.line_masks[vids] & bits) != 0, cfg.line_boost, 1.0)
    if q.places:
        places = [p.lower() for p in q.places]
        mentions = np.array([any(p in (store[v].text.lower() + " " + cols.countries[v]) for p in places)
                             for v in vids.tolist()])
        factor = factor * np.where(mentions, cfg.place_boost, 1.0)
    score = (0.5 * fused + 0.5 * dense) * factor
    order = np.argsort(-score, kind="stable")
    return [Evidence(vid=int(vids[i]), score=float(score[i]), dense=float(dense[i]), fused=float(fused[i]),
                     hit=hits[i], structured=bool(in_structured[i])) for i in order], f
