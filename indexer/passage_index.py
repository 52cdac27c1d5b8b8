"""The passage-index interface the search engine holds, and its embedded implementation (FAISS + bm25s).

Both implementations (this one and `indexer.milvus.MilvusPassageIndex`) answer the same two questions for a
query, always inside a filter (a boolean mask over passage ids, plus the same filter as a `Filters` value
for backends that filter server-side):

    dense(qvec, depth, mask, filters)   -> (ids, scores)           best `depth` passages by cosine
    keyword(query, depth, mask, filters) -> (ids, scores, matched)  best `depth` by BM25, and every passage
                                                                     holding a query term (the match set)

The match set is complete on both backends, so counts and facets computed above this interface are over
all matching passages whichever backend serves. Indexes are written by a build and swapped in whole
(`indexer.index`, `indexer.milvus.write_milvus`); a served index is never modified in place."""

from __future__ import annotations

from typing import Protocol

import numpy as np

EMPTY_IDS = np.zeros(0, dtype=np.int64)
EMPTY_SCORES = np.zeros(0, dtype=np.float32)


class PassageIndex(Protocol):
    name: str

    def count(self) -> int: ...

    def dense(self, qvec: np.ndarray, depth: int, mask: np.ndarray | None, filters) -> tuple[np.ndarray, np.ndarray]:
        ...

    def keyword(self, query: str, depth: int, mask: np.ndarray | None,
                filters) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


def keyword_top(scores: np.ndarray, depth: int, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(top ids, their scores, every matching id) from a dense array of BM25 scores over all passages."""
    if mask is not None:
        scores = np.where(mask, scores, 0.0)
    matched = np.flatnonzero(scores > 0)
    if len(matched) > depth:
        top = matched[np.argpartition(-scores[matched], depth - 1)[:depth]]
    else:
        top = matched
    top = top[np.argsort(-scores[top], kind="stable")]
    return top.astype(np.int64), scores[top], matched


class FaissPassageIndex:
    """The index folder's own `vectors.faiss` (flat or HNSW) and bm25s keyword index."""

    name = "faiss"

    def __init__(self, vectors, embeddings: np.ndarray, keyword, hnsw: bool, exact_below: int = 20_000,
                 rescore: bool = False):
        self.vectors = vectors
        self.embeddings = embeddings
        self.keyword_index = keyword
        self.hnsw = hnsw
        # compact (8-bit) vectors: the candidates they find are re-scored with the full vectors (memory-mapped,
        # only the candidates' rows read), so scores and order are exact among them
        self.rescore = rescore
        self.n = int(vectors.ntotal)
        self.exact_below = exact_below  # a filter leaving at most this many passages is scanned exactly

    def count(self) -> int:
        return self.n

    def dense(self, qvec, depth, mask, filters=None):
        """A filter that leaves few passages is searched exactly over those passages only; a wider one
        inside the vector index (IDSelectorBitmap)."""
        import faiss

        q = qvec.reshape(1, -1).astype(np.float32)
        if mask is None:
            scores, ids = self.vectors.search(q, min(depth, self.n))
        else:
            allowed = np.flatnonzero(mask)
            if len(allowed) == 0:
                return EMPTY_IDS, EMPTY_SCORES
            if len(allowed) <= self.exact_below:
                sims = np.asarray(self.embeddings[allowed]) @ q[0]
                top = np.argsort(-sims, kind="stable")[:depth]
                return allowed[top].astype(np.int64), sims[top].astype(np.float32)
            bitmap = np.packbits(mask.astype(np.uint8), bitorder="little")
            sel = faiss.IDSelectorBitmap(self.n, faiss.swig_ptr(bitmap))
            params = faiss.SearchParametersHNSW(sel=sel, efSearch=max(self.vectors.hnsw.efSearch, depth)) \
                if self.hnsw else \
                faiss.SearchParameters(sel=sel)
            scores, ids = self.vectors.search(q, min(depth, len(allowed)), params=params)
        ids, scores = ids[0], scores[0]
        keep = ids >= 0
        ids, scores = ids[keep].astype(np.int64), scores[keep]
        if self.rescore and len(ids):
            rows = np.sort(ids)
            exact = (np.asarray(self.embeddings[rows], dtype=np.float32) @ q[0]).astype(np.float32)
            order = np.lexsort((rows, -exact))
            ids, scores = rows[order], exact[order]
        return ids, scores

    def keyword(self, query, depth, mask, filters=None):
        return keyword_top(self.keyword_index.scores(query), depth, mask)


def open_passage_index(loaded, milvus_uri: str | None = None, milvus_token: str = "") -> PassageIndex:
    """The passage index a loaded index's manifest says its build was written to. `milvus_uri` overrides
    the address recorded at build time (another address of the same Milvus cluster)."""
    b = loaded.manifest.get("backend") or {"backend": "faiss"}
    if b.get("backend") == "milvus":
        from .milvus import MilvusPassageIndex

        return MilvusPassageIndex(milvus_uri or b["uri"], b["collection"], milvus_token, bm25=b.get("bm25", "server"),
                                  keyword_index=loaded.keyword)
    kind = str(loaded.manifest.get("vector_index", {}).get("type", ""))
    return FaissPassageIndex(loaded.vectors, np.asarray(loaded.embeddings), loaded.keyword, kind.startswith("IndexHNSW"),
                             rescore=kind == "IndexHNSWSQ")
