"""Fusing the dense and the keyword candidate lists. The method and weight always come from settings
(`WSIS_FUSION`, `WSIS_FUSION_WEIGHT`): convex (default) or reciprocal-rank fusion."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RRF_K = 60


@dataclass(frozen=True)
class Fusion:
    method: str = "convex"  # "convex": weight * dense + (1 - weight) * bm25 after min-max; "rrf": sum 1/(k + rank)
    weight: float = 0.5
    k: int = RRF_K

    def __post_init__(self):
        if self.method not in ("convex", "rrf"):
            raise ValueError(f"unknown fusion {self.method!r} (convex or rrf)")

    @classmethod
    def from_settings(cls, settings) -> "Fusion":
        return cls(settings.fusion, settings.fusion_weight)


@dataclass
class Hit:
    vid: int
    score: float
    dense_rank: int | None = None
    bm25_rank: int | None = None
    dense_score: float | None = None
    bm25_score: float | None = None


def fuse(dense_ids, dense_scores, bm_ids, bm_scores, fusion: Fusion, mode: str = "hybrid") -> list[Hit]:
    """Hits with both systems' ranks and scores; hybrid order from fuse_lists, single modes by their score."""
    hits: dict[int, Hit] = {}
    if mode in ("hybrid", "dense"):
        for r, (i, s) in enumerate(zip(np.asarray(dense_ids).tolist(), np.asarray(dense_scores).tolist()), start=1):
            h = hits.setdefault(i, Hit(vid=i, score=0.0))
            h.dense_rank, h.dense_score = r, s
            if mode == "dense":
                h.score = s
    if mode in ("hybrid", "bm25"):
        for r, (i, s) in enumerate(zip(np.asarray(bm_ids).tolist(), np.asarray(bm_scores).tolist()), start=1):
            h = hits.setdefault(i, Hit(vid=i, score=0.0))
            h.bm25_rank, h.bm25_score = r, s
            if mode == "bm25":
                h.score = s
    if mode == "hybrid":
        for i, s in fuse_lists(dense_ids, dense_scores, bm_ids, bm_scores, fusion):
            hits[i].score = s
    return sorted(hits.values(), key=lambda h: (-h.score, h.vid))


def fuse_lists(dense_ids, dense_scores, bm_ids, bm_scores, fusion: Fusion) -> list[tuple[int, float]]:
    """Fuse two ranked lists of ids (best first) into (id, score) pairs, best first."""
    scores: dict[int, float] = {}
    if fusion.method == "rrf":
        for ids in (dense_ids, bm_ids):
            for r, i in enumerate(np.asarray(ids).tolist(), start=1):
                scores[i] = scores.get(i, 0.0) + 1.0 / (fusion.k + r)
    else:
        for ids, sc, w in ((dense_ids, dense_scores, fusion.weight), (bm_ids, bm_scores, 1.0 - fusion.weight)):
            sc = np.asarray(sc, dtype=np.float64)
            if len(sc) == 0:
                continue
            lo, hi = float(sc.min()), float(sc.max())
            norm = (sc - lo) / (hi - lo) if hi > lo else np.ones_like(sc)
            for i, s in zip(np.asarray(ids).tolist(), norm.tolist()):
                scores[i] = scores.get(i, 0.0) + w * s
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
