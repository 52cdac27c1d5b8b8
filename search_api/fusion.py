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


@dataclass
class Candidates:
    """The fused candidate list as arrays (one row per candidate, best first): what the engine ranks with.
    Ranks are 1-based, 0 where a system did not return the candidate; scores NaN there."""
    ids: np.ndarray
    score: np.ndarray
    dense_rank: np.ndarray
    bm25_rank: np.ndarray
    dense_score: np.ndarray
    bm25_score: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, idx) -> "Candidates":
        return Candidates(*(a[idx] for a in (self.ids, self.score, self.dense_rank, self.bm25_rank,
                                              self.dense_score, self.bm25_score)))

    def hits(self) -> list[Hit]:
        out = []
        for i, s, dr, br, ds, bs in zip(self.ids.tolist(), self.score.tolist(), self.dense_rank.tolist(),
                                        self.bm25_rank.tolist(), self.dense_score.tolist(),
                                        self.bm25_score.tolist()):
            out.append(Hit(vid=i, score=s, dense_rank=dr or None, bm25_rank=br or None,
                           dense_score=None if ds != ds else ds, bm25_score=None if bs != bs else bs))
        return out


def fuse_arrays(dense_ids, dense_scores, bm_ids, bm_scores, fusion: Fusion, mode: str = "hybrid") -> Candidates:
    """`fuse` with array operations only: cost grows with the two candidate lists, never with the corpus."""
    dense_ids = np.asarray(dense_ids, dtype=np.int64) if mode != "bm25" else np.zeros(0, np.int64)
    bm_ids = np.asarray(bm_ids, dtype=np.int64) if mode != "dense" else np.zeros(0, np.int64)
    dense_scores = np.asarray(dense_scores, dtype=np.float64)[:len(dense_ids)]
    bm_scores = np.asarray(bm_scores, dtype=np.float64)[:len(bm_ids)]
    ids, inverse = np.unique(np.concatenate([dense_ids, bm_ids]), return_inverse=True)
    nd = len(dense_ids)
    m = len(ids)
    dr = np.zeros(m, np.int64)
    br = np.zeros(m, np.int64)
    ds = np.full(m, np.nan)
    bs = np.full(m, np.nan)
    di, bi = inverse[:nd], inverse[nd:]
    dr[di] = np.arange(1, nd + 1)
    br[bi] = np.arange(1, len(bm_ids) + 1)
    ds[di] = dense_scores
    bs[bi] = bm_scores
    if mode == "dense":
        score = ds.copy()
    elif mode == "bm25":
        score = bs.copy()
    elif fusion.method == "rrf":
        score = np.where(dr > 0, 1.0 / (fusion.k + dr), 0.0) + np.where(br > 0, 1.0 / (fusion.k + br), 0.0)
    else:
        score = np.zeros(m)
        for present, vals, w in ((dr > 0, ds, fusion.weight), (br > 0, bs, 1.0 - fusion.weight)):
            if present.any():
                v = vals[present]
                lo, hi = float(v.min()), float(v.max())
                score[present] += w * ((v - lo) / (hi - lo) if hi > lo else np.ones_like(v))
    order = np.lexsort((ids, -score))  # best first, ties by id
    return Candidates(ids[order], score[order], dr[order], br[order], ds[order], bs[order])
