"""Top-10 documents of the WSIS evaluation queries on the FAISS and the Milvus backend, side by side,
with the query latency of both at the same corpus size:

    python scripts/compare_backends.py [--faiss-index var/eval/wsis-index] [--milvus-index var/eval/wsis-index-milvus]

(both indexes are built by `wsis eval retrieval --datasets wsis [--backend milvus]`)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from evaluation.retrieval import run_wsis, wsis_dataset
from indexer.build import make_embedder
from indexer.index import load_index
from indexer.settings import get_settings
from search_api.fusion import Fusion
from search_api.lifecycle import engine_for

SHARED = Path(__file__).resolve().parents[2] / "shared"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--faiss-index", default="var/eval/wsis-index")
    ap.add_argument("--milvus-index", default="var/eval/wsis-index-milvus")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    s = get_settings()
    emb = make_embedder(s)
    ds = wsis_dataset(SHARED / "eval" / "wsis")
    engines = {}
    for name, path in (("faiss", args.faiss_index), ("milvus", args.milvus_index)):
        loaded = load_index(Path(path))
        engines[name] = engine_for(loaded, emb, s)
        engines[name].query_cache_size = 0  # time every query's search, not a cache lookup
    runs = {n: run_wsis(ds, e, fusion=Fusion.from_settings(s)) for n, e in engines.items()}  # as served
    same, overlaps = 0, []
    for qid in ds.queries:
        a, b = runs["faiss"]["hybrid"][qid][:10], runs["milvus"]["hybrid"][qid][:10]
        overlaps.append(len(set(a) & set(b)) / 10)
        same += set(a) == set(b)
    qvecs = {q: emb.encode_query(q) for q in ds.queries.values()}
    lat = {}
    for name, e in engines.items():
        times = []
        for _ in range(args.repeats):
            for q in ds.queries.values():
                t = time.perf_counter()
                e.search(q, k=10, qvec=qvecs[q])
                times.append((time.perf_counter() - t) * 1000)
        lat[name] = {"p50_ms": round(float(np.percentile(times, 50)), 2), "p95_ms": round(float(np.percentile(times, 95)), 2)}
    out = {"queries": len(ds.queries), "passages": engines["faiss"].n,
           "identical_top10_document_sets": same, "mean_top10_overlap": round(float(np.mean(overlaps)), 3),
           "min_top10_overlap": min(overlaps), "search_latency_excluding_encoding": lat}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
