"""Milvus as the passage index (milvus-lite embedded here; the same code targets Milvus Distributed by URI):
the reader (`MilvusPassageIndex`, see `indexer.passage_index` for the interface) and the writer of a build's
collection (`write_milvus`), which points the alias at the new collection once it is complete."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .actionlines import CODES
from .passage_index import EMPTY_IDS, EMPTY_SCORES

log = logging.getLogger(__name__)
ALIAS = "wsis_passages"


def milvus_filter(f) -> str:
    """Filters as a Milvus boolean expression over the collection's scalar fields."""
    def q(v: str) -> str:
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

    parts = []
    if f.action_lines:
        codes = []
        for c in f.action_lines:
            codes += [x for x in CODES if x.startswith("C7.")] if c == "C7" else [c]
        parts.append(f"ARRAY_CONTAINS_ANY(lines, [{', '.join(q(c) for c in codes)}])")
    if f.kinds:
        parts.append(f"kind in [{', '.join(q(k) for k in f.kinds)}]")
    if f.roles:
        parts.append(f"role in [{', '.join(q(r) for r in f.roles)}]")
    if f.year_from is not None:
        parts.append(f"year >= {int(f.year_from)}")
    if f.year_to is not None:
        parts.append(f"(year <= {int(f.year_to)} and year >= 0)")
    for field, values in (("country", f.countries), ("stakeholder", f.stakeholders)):
        if values:
            parts.append("(" + " or ".join(f"{field} like {q('%' + v.lower().replace('%', '') + '%')}"
                                           for v in values) + ")")
    return " and ".join(parts)


class MilvusPassageIndex:
    name = "milvus"

    def __init__(self, uri: str, collection: str = ALIAS, token: str = "", bm25: str = "client",
                 keyword_index=None):
        from pymilvus import MilvusClient

        self.client = MilvusClient(uri=uri, token=token) if token else MilvusClient(uri=uri)
        self.collection = collection
        # "client": the sparse vectors hold our bm25s weights (rankings identical to the FAISS backend);
        # "server": Milvus's built-in BM25 function over `text`.
        self.bm25 = bm25
        self.keyword_index = keyword_index
        self.client.load_collection(collection)  # a collection must be loaded before it can be searched

    def count(self) -> int:
        r = self.client.query(self.collection, filter="", output_fields=["count(*)"])
        return int(r[0]["count(*)"])

    def _search(self, data, field: str, metric: str, depth: int, filters) -> tuple[np.ndarray, np.ndarray]:
        expr = milvus_filter(filters) if filters is not None else ""
        res = self.client.search(self.collection, data=[data], anns_field=field, limit=min(depth, 16384),
                                 filter=expr, output_fields=[], search_params={"metric_type": metric})
        hits = res[0] if res else []
        ids = np.array([h["id"] if "id" in h else h["vid"] for h in hits], dtype=np.int64)
        scores = np.array([abs(float(h["distance"])) for h in hits], dtype=np.float32)
        return ids, scores

    def dense(self, qvec, depth, mask, filters):
        if mask is not None and not mask.any():
            return EMPTY_IDS, EMPTY_SCORES
        return self._search([float(x) for x in qvec], "dense", "IP", depth, filters)

    def keyword(self, query, depth, mask, filters):
        """The top list from Milvus; the match set (every passage holding a query term, inside the filter)
        from the build's own keyword index, so that totals and facets cover all matches as on FAISS (without
        a keyword index, e.g. a bare collection, the match set is the top list)."""
        if mask is not None and not mask.any():
            return EMPTY_IDS, EMPTY_SCORES, EMPTY_IDS
        matched = None
        if self.keyword_index is not None:
            scores = self.keyword_index.scores(query)
            matched = np.flatnonzero(scores > 0 if mask is None else (scores > 0) & mask)
            if not len(matched):
                return EMPTY_IDS, EMPTY_SCORES, EMPTY_IDS
        if self.bm25 == "client":
            ids, top = self._search(self.keyword_index.query_vector(query), "sparse", "IP", depth, filters)
        else:
            ids, top = self._search(query, "sparse", "BM25", depth, filters)
        return ids, top, (ids if matched is None else matched)


# English analysis (lower case, stop words, Snowball stemming) like the embedded BM25, where the server
# supports it; milvus-lite only knows the "standard" tokenizer, so it falls back to that.
ANALYZERS = (
    {"tokenizer": "standard", "filter": ["lowercase", {"type": "stop", "stop_words": ["_english_"]},
                                         {"type": "stemmer", "language": "english"}]},
    {"tokenizer": "standard", "filter": ["lowercase"]},
    {"type": "standard"},
)


def create_collection(uri: str, name: str, dim: int, token: str = "", bm25: str = "client"):
    from pymilvus.exceptions import MilvusException

    last = None
    for analyzer in ANALYZERS:
        try:
            client = _create_collection(uri, name, dim, token, analyzer, bm25)
            client.analyzer_used = analyzer
            return client
        except MilvusException as exc:
            last = exc
            log.info("analyzer %s not supported here: %s", analyzer, exc)
    raise last


def _create_collection(uri: str, name: str, dim: int, token: str, analyzer: dict, bm25: str = "client"):
    """A collection for passages: dense vector (HNSW, inner product), BM25 sparse vector computed by Milvus
    from `text`, and the scalar fields filters need."""
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    client = MilvusClient(uri=uri, token=token) if token else MilvusClient(uri=uri)
    if client.has_collection(name):
        client.drop_collection(name)
    schema = client.create_schema(auto_id=False)
    schema.add_field("vid", DataType.INT64, is_primary=True)
    schema.add_field("passage_id", DataType.VARCHAR, max_length=1024)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=1024)
    schema.add_field("text", DataType.VARCHAR, max_length=65535, enable_analyzer=True, analyzer_params=analyzer)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("kind", DataType.VARCHAR, max_length=64)
    schema.add_field("role", DataType.VARCHAR, max_length=32)
    schema.add_field("year", DataType.INT64)
    schema.add_field("lines", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=32, max_length=32)
    schema.add_field("country", DataType.VARCHAR, max_length=256)
    schema.add_field("stakeholder", DataType.VARCHAR, max_length=128)
    if bm25 == "server":
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["text"],
                                     output_field_names=["sparse"]))
    ip = client.prepare_index_params()
    ip.add_index("dense", index_type="HNSW", metric_type="IP", params={"M": 32, "efConstruction": 80})
    ip.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25" if bm25 == "server" else "IP")
    client.create_collection(name, schema=schema, index_params=ip)
    return client


def sparse_or_sentinel(row: dict[int, float], n_terms: int) -> dict[int, float]:
    """Milvus refuses an all-zero sparse vector: a passage without indexed terms gets a weight on a
    dimension no query can have."""
    return row if row else {n_terms + 1: 1e-6}


def write_milvus(uri: str, build_id: str, store_path, texts: list[str], vectors: np.ndarray, token: str = "",
                 batch: int = 500, keyword_index=None, bm25: str = "client", line_threshold: float = 0.0) -> dict[str, Any]:
    """Write every passage of a finished build into a new collection, then point the alias at it: readers
    following the alias switch from the old collection to the new one at once (no downtime). `lines` holds
    the action lines a filter finds the passage under: its tags scoring at least `line_threshold`, as in
    the FAISS backend's columns (`indexer.tag.filter_codes`)."""
    import json
    import sqlite3

    from .tag import filter_codes

    name = "wsis_" + "".join(ch if ch.isalnum() else "_" for ch in build_id)
    client = create_collection(uri, name, vectors.shape[1], token, bm25)
    sparse_rows = keyword_index.doc_rows() if bm25 == "client" else None
    n_terms = len(keyword_index.retriever.scores["indptr"]) if bm25 == "client" else 0
    con = sqlite3.connect(store_path)
    rows = con.execute("SELECT p.vid, p.id, p.doc_id, p.role, p.action_lines, d.kind, d.year, d.metadata "
                       "FROM passages p JOIN documents d ON d.id = p.doc_id ORDER BY p.vid").fetchall()
    con.close()
    out = []
    for vid, pid, doc_id, role, lines, kind, year, meta in rows:
        m = json.loads(meta)
        out.append({"vid": vid, "passage_id": pid[:1024], "doc_id": doc_id[:1024], "text": texts[vid][:60000],
                    "dense": vectors[vid].tolist(), "kind": kind, "role": role, "year": int(year if year is not None else -1),
                    "lines": filter_codes(json.loads(lines), line_threshold)[:32],
                    "country": (m.get("country") or "").lower()[:256],
                    "stakeholder": (m.get("stakeholder_type") or "").lower()[:128]})
        if sparse_rows is not None:
            out[-1]["sparse"] = sparse_or_sentinel(sparse_rows[vid], n_terms)
        if len(out) >= batch:
            client.insert(name, out)
            out = []
    if out:
        client.insert(name, out)
    client.flush(name)
    old = client.describe_alias(ALIAS).get("collection_name") if ALIAS in client.list_aliases().get("aliases", []) \
        else None
    if old:
        client.alter_alias(name, ALIAS)
    else:
        client.create_alias(name, ALIAS)
    # Keep the new and the previous collection (a server may still read the previous build); drop older ones.
    builds = sorted(c for c in client.list_collections() if c.startswith("wsis_build_"))
    for c in builds[:-2]:
        if c not in (name, old):
            client.drop_collection(c)
    return {"backend": "milvus", "uri": uri, "collection": name, "alias": ALIAS, "bm25": bm25,
            "analyzer": getattr(client, "analyzer_used", None) if bm25 == "server" else None}
