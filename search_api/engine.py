"""Hybrid retrieval over a loaded index: dense (FAISS) + BM25 fused by reciprocal rank, with filters
applied inside candidate generation, near-duplicate collapsing and optional grouping by document."""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from indexer.actionlines import CODES, parent_code

RRF_K = 60
LINE_BITS = {c: 1 << i for i, c in enumerate(CODES)}
C7_MASK = sum(v for c, v in LINE_BITS.items() if c.startswith("C7."))


@dataclass(frozen=True)
class Filters:
    action_lines: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    year_from: int | None = None
    year_to: int | None = None
    countries: tuple[str, ...] = ()
    stakeholders: tuple[str, ...] = ()

    def empty(self) -> bool:
        return not (self.action_lines or self.kinds or self.roles or self.year_from or self.year_to
                    or self.countries or self.stakeholders)

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items() if v}


@dataclass
class Hit:
    vid: int
    score: float
    dense_rank: int | None = None
    bm25_rank: int | None = None
    dense_score: float | None = None
    bm25_score: float | None = None


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    total: int
    facets: dict[str, dict[str, int]]
    timings: dict[str, float] = field(default_factory=dict)
    mode: str = "hybrid"
    available: int = 0  # ranked hits that can be paged through (total may count more matches)
    notice: str = ""


class Engine:
    """Everything per-passage that filters need is turned into numpy columns once, at load time."""

    def __init__(self, index, embedder, candidates: int = 200, dense_floor: float = 0.30,
                 fusion: str = "convex", fusion_weight: float = 0.5, query_cache_size: int = 2048,
                 backend=None):
        self.index = index
        self.backend = backend  # None: the embedded FAISS + bm25s index of the index folder
        self._ready = threading.Event()
        self.encoder_error = ""
        if embedder is not None:
            self._ready.set()
        self.dense_floor = dense_floor
        self.fusion = {"method": fusion, "weight": fusion_weight}
        self.hnsw = index.manifest.get("vector_index", {}).get("type") == "IndexHNSWFlat"
        self.exact_below = 20_000  # a filter leaving at most this many passages is scanned exactly
        self._qcache: "OrderedDict[str, np.ndarray]" = OrderedDict()
        self.query_cache_size = query_cache_size
        self._qlock = threading.Lock()
        self.embedder = embedder
        self.candidates = candidates
        cols = index.store.columns()
        self.n = len(cols["doc_id"])
        self.doc_ids = np.array(cols["doc_id"], dtype=object)
        self.kinds = np.array(cols["kind"], dtype=object)
        self.roles = np.array(cols["role"], dtype=object)
        self.years = np.array([y if y is not None else -1 for y in cols["year"]], dtype=np.int32)
        self.countries = np.array([(c or "").lower() for c in cols["country"]], dtype=object)
        self.stakeholders = np.array([(s or "").lower() for s in cols["stakeholder"]], dtype=object)
        masks = np.zeros(self.n, dtype=np.int64)
        for i, lines in enumerate(cols["action_lines"]):
            m = 0
            for code in lines:
                if code in LINE_BITS:
                    m |= LINE_BITS[code]
                elif code == "C7":
                    m |= C7_MASK
            masks[i] = m
        self.line_masks = masks
        self.kind_names, kind_codes = np.unique(self.kinds.astype(str), return_inverse=True)
        self.kind_names = [str(x) for x in self.kind_names]
        self.kind_codes = kind_codes.astype(np.int64)
        self.role_names, role_codes = np.unique(self.roles.astype(str), return_inverse=True)
        self.role_names = [str(x) for x in self.role_names]
        self.role_codes = role_codes.astype(np.int64)
        dated_years = self.years[self.years >= 0]
        self.year_min = int(dated_years.min()) if len(dated_years) else 0
        self.embeddings = np.asarray(index.embeddings)
        from pathlib import Path

        from indexer.tag import Tagger

        saved = Path(index.path) / "tagger.npz"
        self.tagger = Tagger.load(saved) if saved.exists() else None

    def set_embedder(self, embedder) -> None:
        self.embedder = embedder
        self._ready.set()

    def wait_for_encoder(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def encode_query(self, query: str) -> np.ndarray:
        """Query vectors, kept in a small LRU cache (popular queries repeat)."""
        cache_size = self.query_cache_size
        if cache_size <= 0:
            return self.embedder.encode_query(query)
        with self._qlock:
            v = self._qcache.get(query)
            if v is not None:
                self._qcache.move_to_end(query)
                return v
        v = self.embedder.encode_query(query)
        with self._qlock:
            self._qcache[query] = v
            while len(self._qcache) > cache_size:
                self._qcache.popitem(last=False)
        return v

    # ---------------------------------------------------------------- filters

    def mask(self, f: Filters) -> np.ndarray | None:
        if f.empty():
            return None
        m = np.ones(self.n, dtype=bool)
        if f.action_lines:
            bits = 0
            for code in f.action_lines:
                bits |= C7_MASK if code == "C7" else LINE_BITS[code]
            m &= (self.line_masks & bits) != 0
        if f.kinds:
            m &= np.isin(self.kinds, list(f.kinds))
        if f.roles:
            m &= np.isin(self.roles, list(f.roles))
        if f.year_from is not None:
            m &= self.years >= f.year_from
        if f.year_to is not None:
            m &= (self.years <= f.year_to) & (self.years >= 0)
        if f.countries:
            wanted = [c.lower() for c in f.countries]
            m &= np.array([any(w in c for w in wanted) for c in self.countries], dtype=bool)
        if f.stakeholders:
            wanted = [s.lower() for s in f.stakeholders]
            m &= np.array([any(w in s for w in wanted) for s in self.stakeholders], dtype=bool)
        return m

    # ---------------------------------------------------------------- retrieval

    def dense(self, qvec: np.ndarray, depth: int, mask: np.ndarray | None,
              filters: Filters | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top `depth` passages by cosine, inside the filter. A filter that leaves few passages is searched
        exactly over those passages only; a wider one inside the vector index (IDSelectorBitmap)."""
        import faiss

        if self.backend is not None:
            if mask is not None and not mask.any():
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
            return self.backend.dense(qvec, depth, filters, mask)

        q = qvec.reshape(1, -1).astype(np.float32)
        if mask is None:
            scores, ids = self.index.vectors.search(q, min(depth, self.n))
        else:
            allowed = np.flatnonzero(mask)
            if len(allowed) == 0:
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
            if len(allowed) <= self.exact_below:
                sims = np.asarray(self.embeddings[allowed]) @ q[0]
                top = np.argsort(-sims, kind="stable")[:depth]
                return allowed[top].astype(np.int64), sims[top].astype(np.float32)
            bitmap = np.packbits(mask.astype(np.uint8), bitorder="little")
            sel = faiss.IDSelectorBitmap(self.n, faiss.swig_ptr(bitmap))
            params = faiss.SearchParametersHNSW(sel=sel, efSearch=max(64, depth)) if self.hnsw else \
                faiss.SearchParameters(sel=sel)
            scores, ids = self.index.vectors.search(q, min(depth, len(allowed)), params=params)
        ids, scores = ids[0], scores[0]
        keep = ids >= 0
        return ids[keep].astype(np.int64), scores[keep]

    def bm25(self, query: str, depth: int, mask: np.ndarray | None,
             filters: Filters | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.backend is not None:
            ids, scores, matched = self.backend.keyword(query, depth, filters, mask)
            return ids, scores, (ids if matched is None else matched)
        scores = self.index.keyword.scores(query)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        matched = np.flatnonzero(scores > 0)
        if len(matched) > depth:
            top = matched[np.argpartition(-scores[matched], depth - 1)[:depth]]
        else:
            top = matched
        top = top[np.argsort(-scores[top], kind="stable")]
        return top.astype(np.int64), scores[top], matched

    def search(self, query: str, k: int = 10, offset: int = 0, filters: Filters = Filters(), mode: str = "hybrid",
               group_by: str | None = None, qvec: np.ndarray | None = None) -> SearchResult:
        timings: dict[str, float] = {}
        notice = ""
        if mode in ("hybrid", "dense") and qvec is None and self.embedder is None:
            mode, notice = "bm25", "the encoder is still loading: keyword results only"
        t = time.perf_counter()
        mask = self.mask(filters)
        timings["filter"] = time.perf_counter() - t
        depth = max(self.candidates, (k + offset) * 3)
        dense_ids = np.zeros(0, dtype=np.int64)
        dense_scores = np.zeros(0, dtype=np.float32)
        bm_ids = np.zeros(0, dtype=np.int64)
        bm_scores = np.zeros(0, dtype=np.float32)
        matched = np.zeros(0, dtype=np.int64)
        if mode in ("hybrid", "dense"):
            t = time.perf_counter()
            if qvec is None:
                qvec = self.encode_query(query)
            timings["encode"] = time.perf_counter() - t
            t = time.perf_counter()
            dense_ids, dense_scores = self.dense(qvec, depth, mask, filters)
            timings["dense"] = time.perf_counter() - t
        if mode in ("hybrid", "bm25"):
            t = time.perf_counter()
            bm_ids, bm_scores, matched = self.bm25(query, depth, mask, filters)
            timings["bm25"] = time.perf_counter() - t
        t = time.perf_counter()
        # The match set: passages holding a query term, plus dense candidates close enough to count as
        # matches. Results, facets and totals are all over this one set.
        close = dense_ids[dense_scores >= self.dense_floor] if len(dense_ids) else dense_ids
        match_set = np.union1d(matched, close) if mode != "dense" else np.sort(close)
        in_set = np.zeros(self.n, dtype=bool)
        in_set[match_set] = True
        hits = [h for h in fuse(dense_ids, dense_scores, bm_ids, bm_scores, mode, **self.fusion) if in_set[h.vid]]
        hits = self.collapse(hits, group_by)
        facets = self.facets(match_set)
        timings["fuse"] = time.perf_counter() - t
        total = len(hits) if group_by else max(len(match_set), len(hits))
        return SearchResult(query=query, hits=hits[offset:offset + k], total=total, facets=facets,
                            timings=timings, mode=mode, available=len(hits), notice=notice)

    def collapse(self, hits: list[Hit], group_by: str | None, window: int = 300,
                 threshold: float = 0.985) -> list[Hit]:
        """Drop near-duplicate passages (cosine >= threshold to a better-ranked one: e.g. the edited and
        raw captions of one session) among the first `window` hits and, with group_by='document', keep
        each document's best passage only."""
        if group_by == "document":
            seen_docs: set[str] = set()
            kept = []
            for h in hits:
                d = self.doc_ids[h.vid]
                if d not in seen_docs:
                    seen_docs.add(d)
                    kept.append(h)
            hits = kept
        head, tail = hits[:window], hits[window:]
        if len(head) < 2:
            return hits
        vecs = self.embeddings[[h.vid for h in head]]
        sims = vecs @ vecs.T
        keep = np.ones(len(head), dtype=bool)
        for i in range(1, len(head)):
            if (sims[i, :i][keep[:i]] >= threshold).any():
                keep[i] = False
        return [h for h, k in zip(head, keep) if k] + tail

    def facets(self, vids: np.ndarray) -> dict[str, dict[str, int]]:
        """Counts over the match set, all with numpy on integer columns prepared at load time."""
        vids = np.asarray(vids, dtype=np.int64)
        masks = self.line_masks[vids]
        lines: dict[str, int] = {}
        for code, bit in LINE_BITS.items():
            n = int(np.count_nonzero(masks & bit))
            if n:
                lines[code] = n
        c7 = int(np.count_nonzero(masks & C7_MASK))
        if c7:
            lines["C7"] = c7
        kinds = np.bincount(self.kind_codes[vids], minlength=len(self.kind_names))
        roles = np.bincount(self.role_codes[vids], minlength=len(self.role_names))
        years = self.years[vids]
        dated = years >= 0
        year_kind: dict[str, dict[str, int]] = {}
        if dated.any():
            key = (years[dated].astype(np.int64) - self.year_min) * len(self.kind_names) + self.kind_codes[vids][dated]
            counts = np.bincount(key)
            for k in np.flatnonzero(counts):
                y, kc = divmod(int(k), len(self.kind_names))
                year_kind.setdefault(str(y + self.year_min), {})[self.kind_names[kc]] = int(counts[k])
        by_year = {y: sum(v.values()) for y, v in year_kind.items()}
        order = lambda d: dict(sorted(d.items(), key=lambda kv: -kv[1]))
        return {
            "year_kind": year_kind,
            "action_line": dict(sorted(lines.items(), key=lambda kv: _line_order(kv[0]))),
            "kind": order({self.kind_names[i]: int(n) for i, n in enumerate(kinds) if n}),
            "role": order({self.role_names[i]: int(n) for i, n in enumerate(roles) if n}),
            "year": by_year,
        }


def _line_order(code: str) -> tuple[int, int]:
    p = parent_code(code)
    num = int(re.sub(r"\D", "", p) or 0)
    return (num, CODES.index(code) + 1 if code in CODES else 0)


def fuse(dense_ids, dense_scores, bm_ids, bm_scores, mode: str = "hybrid", method: str = "convex",
         weight: float = 0.5, k: int = RRF_K) -> list[Hit]:
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
        for i, s in fuse_lists(dense_ids, dense_scores, bm_ids, bm_scores, method=method, k=k, weight=weight):
            hits[i].score = s
    return sorted(hits.values(), key=lambda h: (-h.score, h.vid))


def fuse_lists(dense_ids, dense_scores, bm_ids, bm_scores, method: str = "rrf", k: int = RRF_K,
               weight: float = 0.5) -> list[tuple[int, float]]:
    """Fuse two ranked lists of ids (best first). `rrf`: sum of 1 / (k + rank). `convex`: weight * dense +
    (1 - weight) * bm25 after min-max normalising each list's scores (missing = 0)."""
    scores: dict[int, float] = {}
    if method == "rrf":
        for r, i in enumerate(np.asarray(dense_ids).tolist(), start=1):
            scores[i] = scores.get(i, 0.0) + 1.0 / (k + r)
        for r, i in enumerate(np.asarray(bm_ids).tolist(), start=1):
            scores[i] = scores.get(i, 0.0) + 1.0 / (k + r)
    elif method == "convex":
        for ids, sc, w in ((dense_ids, dense_scores, weight), (bm_ids, bm_scores, 1.0 - weight)):
            sc = np.asarray(sc, dtype=np.float64)
            if len(sc) == 0:
                continue
            lo, hi = float(sc.min()), float(sc.max())
            norm = (sc - lo) / (hi - lo) if hi > lo else np.ones_like(sc)
            for i, s in zip(np.asarray(ids).tolist(), norm.tolist()):
                scores[i] = scores.get(i, 0.0) + w * s
    else:
        raise ValueError(f"unknown fusion {method!r}")
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
