"""Hybrid retrieval over a loaded index: dense and keyword candidates from the passage index (FAISS + bm25s
or Milvus, one interface), filters applied inside candidate generation, the two lists fused (convex by
default, see `fusion`), near-duplicates collapsed, facets over the whole match set (`facets`)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from indexer.passage_index import PassageIndex, open_passage_index

from .facets import facets
from .filters import Columns, Filters, filter_threshold
from .fusion import Fusion, Hit, fuse_arrays


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    total: int
    facets: dict[str, dict]
    timings: dict[str, float] = field(default_factory=dict)
    mode: str = "hybrid"
    available: int = 0  # ranked hits that can be paged through (total may count more matches)
    notice: str = ""


class Engine:
    """One loaded index: its passage index, per-passage columns, tagger and the query encoder (which may
    arrive later: until then searches run keyword-only)."""

    def __init__(self, index, embedder, passages: PassageIndex | None = None, fusion: Fusion = Fusion(),
                 candidates: int = 200, dense_floor: float = 0.30, query_cache_size: int = 2048,
                 substance_weight: float = 0.0):
        self.index = index
        self.passages = passages if passages is not None else open_passage_index(index)
        self.embedder = embedder
        self.encoder_error = ""
        self._ready = threading.Event()
        if embedder is not None:
            self._ready.set()
        self.fusion = fusion
        self.candidates = candidates
        self.dense_floor = dense_floor
        # hybrid scores are multiplied by (1 - w) + w * substance: procedural passages (introductions,
        # thanks, hand-overs) sink below passages with content
        self.substance_weight = substance_weight
        self.facets_exact_below = 20_000  # larger match sets get facets estimated from a sample (marked)
        self.query_cache_size = query_cache_size
        self._qcache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._qlock = threading.Lock()
        self.cols = Columns(index.columns) if getattr(index, "columns", None) is not None else \
            Columns(store=index.store, line_threshold=filter_threshold(index.manifest))
        self.n = self.cols.n
        self.embeddings = np.asarray(index.embeddings)
        self.tagger = index.tagger

    # columns most callers need
    @property
    def doc_ids(self) -> np.ndarray:
        return self.cols.doc_ids

    def set_embedder(self, embedder) -> None:
        self.embedder = embedder
        self._ready.set()

    def wait_for_encoder(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def encode_query(self, query: str) -> np.ndarray:
        """Query vectors, kept in a small LRU cache (popular queries repeat)."""
        if self.query_cache_size <= 0:
            return self.embedder.encode_query(query)
        with self._qlock:
            v = self._qcache.get(query)
            if v is not None:
                self._qcache.move_to_end(query)
                return v
        v = self.embedder.encode_query(query)
        with self._qlock:
            self._qcache[query] = v
            while len(self._qcache) > self.query_cache_size:
                self._qcache.popitem(last=False)
        return v

    def clear_query_cache(self) -> None:
        with self._qlock:
            self._qcache.clear()

    def mask(self, f: Filters) -> np.ndarray | None:
        return self.cols.mask(f)

    def dense(self, qvec: np.ndarray, depth: int, mask: np.ndarray | None,
              filters: Filters | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.passages.dense(qvec, depth, mask, filters)

    def bm25(self, query: str, depth: int, mask: np.ndarray | None,
             filters: Filters | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.passages.keyword(query, depth, mask, filters)

    def search(self, query: str, k: int = 10, offset: int = 0, filters: Filters = Filters(), mode: str = "hybrid",
               group_by: str | None = None, qvec: np.ndarray | None = None, depth: int | None = None) -> SearchResult:
        timings: dict[str, float] = {}
        notice = ""
        if mode in ("hybrid", "dense") and qvec is None and self.embedder is None:
            mode, notice = "bm25", "the encoder is still loading: keyword results only"
        t = time.perf_counter()
        mask = self.mask(filters)
        timings["filter"] = time.perf_counter() - t
        depth = depth or max(self.candidates, (k + offset) * 3)
        dense_ids = bm_ids = matched = np.zeros(0, dtype=np.int64)
        dense_scores = bm_scores = np.zeros(0, dtype=np.float32)
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
        # matches. Results, totals and facets are all over this one set; only the candidates are ranked.
        close = dense_ids[dense_scores >= self.dense_floor] if len(dense_ids) else dense_ids
        if mode == "dense":
            extra, matched = close, np.zeros(0, dtype=np.int64)
        else:
            pos = np.searchsorted(matched, close)
            found = (pos < len(matched)) & (matched[np.minimum(pos, max(len(matched) - 1, 0))] == close) \
                if len(matched) else np.zeros(len(close), dtype=bool)
            extra = close[~found]
        total_matches = len(matched) + len(extra)
        cands = fuse_arrays(dense_ids, dense_scores, bm_ids, bm_scores, self.fusion, mode)
        if mode != "bm25":  # dense candidates below the floor that hold no query term are not matches
            cands = cands.take((cands.bm25_rank > 0) | (cands.dense_score >= self.dense_floor))
        if self.substance_weight > 0 and mode == "hybrid" and len(cands):
            w = self.substance_weight
            score = cands.score * ((1 - w) + w * self.cols.substance[cands.ids])
            order = np.lexsort((cands.ids, -score))
            cands = cands.take(order)
            cands.score = score[order]
        keep, available = self.collapse_arrays(cands.ids, group_by, need=offset + k)
        page = cands.take(keep[offset:offset + k])
        timings["fuse"] = time.perf_counter() - t
        t = time.perf_counter()
        result_facets = facets(self.cols, matched, extra, exact_below=self.facets_exact_below)
        timings["facets"] = time.perf_counter() - t
        total = available if group_by else max(total_matches, available)
        return SearchResult(query=query, hits=page.hits(), total=total, facets=result_facets,
                            timings=timings, mode=mode, available=available, notice=notice)

    def collapse_arrays(self, ids: np.ndarray, group_by: str | None, need: int,
                        threshold: float = 0.985) -> tuple[np.ndarray, int]:
        """(positions of `ids` to keep, how many rankable hits there are). Near-duplicate passages (cosine >=
        threshold to a better-ranked kept one: e.g. the edited and raw captions of one session) are dropped
        among the first positions, enough to fill `need` results; with group_by='document' each document's
        best passage only. The count beyond that window is the candidates left, minus duplicates seen."""
        pos = np.arange(len(ids))
        if group_by == "document":
            _, first = np.unique(self.cols.doc_ids[ids].astype(str), return_index=True)
            pos = np.sort(first)
        window = min(len(pos), max(3 * need, 30))
        head = pos[:window]
        if len(head) < 2:
            return pos, len(pos)
        vecs = np.asarray(self.embeddings[ids[head]], dtype=np.float32)
        sims = vecs @ vecs.T
        np.fill_diagonal(sims, 0.0)
        keep = np.ones(len(head), dtype=bool)
        dup_rows = np.flatnonzero((np.triu(sims, 1) >= threshold).any(axis=0))  # rows with a better twin
        for i in dup_rows.tolist():
            if (sims[i, :i][keep[:i]] >= threshold).any():
                keep[i] = False
        kept = np.concatenate([head[keep], pos[window:]])
        return kept, len(kept)
