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
from .filters import Columns, Filters
from .fusion import Fusion, Hit, fuse


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
        self.query_cache_size = query_cache_size
        self._qcache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._qlock = threading.Lock()
        self.cols = Columns(index.store)
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
        # matches. Results, facets and totals are all over this one set.
        close = dense_ids[dense_scores >= self.dense_floor] if len(dense_ids) else dense_ids
        match_set = np.union1d(matched, close) if mode != "dense" else np.sort(close)
        in_set = np.zeros(self.n, dtype=bool)
        in_set[match_set] = True
        hits = [h for h in fuse(dense_ids, dense_scores, bm_ids, bm_scores, self.fusion, mode) if in_set[h.vid]]
        if self.substance_weight > 0 and mode == "hybrid" and hits:
            w = self.substance_weight
            for h in hits:
                h.score *= (1 - w) + w * float(self.cols.substance[h.vid])
            hits.sort(key=lambda h: (-h.score, h.vid))
        hits = self.collapse(hits, group_by)
        result_facets = facets(self.cols, match_set)
        timings["fuse"] = time.perf_counter() - t
        total = len(hits) if group_by else max(len(match_set), len(hits))
        return SearchResult(query=query, hits=hits[offset:offset + k], total=total, facets=result_facets,
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
