"""`wsis eval retrieval`: BM25, dense and hybrid on BEIR-layout test collections and on the WSIS set,
pyserini-style: nDCG@10, Recall@100 (Recall@10 for WSIS) and MRR@10, compared with expected scores."""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from search_api.fusion import Fusion, fuse_lists

EXPECTED = Path(__file__).with_name("data") / "expected_scores.json"
SYSTEMS = ("bm25", "dense", "hybrid")


@dataclass
class Dataset:
    name: str
    corpus: dict[str, str]  # id -> text to index ("title text")
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    gain: str = "exponential"  # "exponential" (2^rel - 1) or "linear" (rel), per the set's convention


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        parts = line.split("\t")
        if len(parts) < 3 or (n == 0 and not parts[2].strip().lstrip("-").isdigit()):
            continue
        qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return qrels


def load_beir(folder: Path, name: str | None = None, gain: str = "exponential", corpus: Path | None = None,
              queries: Path | None = None, qrels: Path | None = None) -> Dataset:
    docs = read_jsonl(corpus or folder / "corpus.jsonl")
    corpus_map = {str(d["_id"]): (f"{d.get('title') or ''} {d.get('text') or ''}").strip() for d in docs}
    qr = read_qrels(qrels or folder / "qrels" / "test.tsv")
    qs = {str(q["_id"]): q["text"] for q in read_jsonl(queries or folder / "queries.jsonl")}
    qs = {k: v for k, v in qs.items() if k in qr and any(g > 0 for g in qr[k].values())}
    return Dataset(name or folder.name, corpus_map, qs, qr, gain)


# ------------------------------------------------------------------ metrics

def ndcg_at(ranked: list[str], rels: dict[str, int], k: int = 10, gain: str = "exponential") -> float:
    g = (lambda r: 2 ** r - 1) if gain == "exponential" else (lambda r: r)
    dcg = sum(g(rels.get(d, 0)) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((r for r in rels.values() if r > 0), reverse=True)[:k]
    idcg = sum(g(r) / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], rels: dict[str, int], k: int) -> float:
    rel = {d for d, r in rels.items() if r > 0}
    return len(rel & set(ranked[:k])) / len(rel) if rel else 0.0


def mrr_at(ranked: list[str], rels: dict[str, int], k: int = 10) -> float:
    for i, d in enumerate(ranked[:k]):
        if rels.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def score_run(run: dict[str, list[str]], ds: Dataset, recall_k: int = 100) -> tuple[dict, dict]:
    per_query = {}
    for qid in ds.queries:
        ranked = run.get(qid, [])
        rels = ds.qrels.get(qid, {})
        per_query[qid] = {"ndcg@10": ndcg_at(ranked, rels, 10, ds.gain), f"recall@{recall_k}": recall_at(ranked, rels, recall_k),
                          "mrr@10": mrr_at(ranked, rels, 10)}
        if recall_k != 100:
            per_query[qid]["recall@100"] = recall_at(ranked, rels, 100)
    keys = next(iter(per_query.values())).keys() if per_query else []
    agg = {k: round(float(np.mean([m[k] for m in per_query.values()])), 4) for k in keys}
    return agg, per_query


# ------------------------------------------------------------------ external collections

def _cache_path(cache_dir: Path, ds: Dataset, model_key: str) -> Path:
    h = hashlib.sha256()
    for did in sorted(ds.corpus):
        h.update(did.encode())
        h.update(b"\0")
        h.update(ds.corpus[did].encode())
        h.update(b"\1")
    tag = hashlib.sha256(model_key.encode()).hexdigest()[:12]
    return cache_dir / f"{ds.name}-{tag}-{h.hexdigest()[:16]}.npy"


def run_collection(ds: Dataset, embedder, cache_dir: Path, depth: int = 100, fusion: Fusion = Fusion(),
                   progress: bool = True) -> dict[str, dict[str, list[str]]]:
    """Top-`depth` document ids per query for each system, one document = one passage."""
    from indexer.keyword import KeywordIndex

    ids = sorted(ds.corpus)
    texts = [ds.corpus[i] for i in ids]
    cache = _cache_path(cache_dir, ds, f"{getattr(embedder, 'model_dir', '')}|{embedder.dtype}|"
                                       f"{embedder.model.max_seq_length}")
    if cache.exists():
        emb = np.load(cache)
    else:
        t = time.perf_counter()
        emb = embedder.encode(texts, show_progress=progress)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, emb)
        if progress:
            print(f"  embedded {len(texts)} documents of {ds.name} in {time.perf_counter() - t:.0f} s")
    kw = KeywordIndex.build(texts)
    qids = list(ds.queries)
    qvecs = embedder.encode([ds.queries[q] for q in qids])
    runs: dict[str, dict[str, list[str]]] = {s: {} for s in SYSTEMS}
    sims = qvecs @ emb.T
    for qi, qid in enumerate(qids):
        bm = kw.scores(ds.queries[qid])
        bm_top = np.argsort(-bm, kind="stable")[:depth]
        bm_top = bm_top[bm[bm_top] > 0]
        de_top = np.argsort(-sims[qi], kind="stable")[:depth]
        runs["bm25"][qid] = [ids[i] for i in bm_top]
        runs["dense"][qid] = [ids[i] for i in de_top]
        fused = fuse_lists(de_top, sims[qi][de_top], bm_top, bm[bm_top], fusion)
        runs["hybrid"][qid] = [ids[i] for i, _ in fused[:depth]]
    return runs


def run_collection_milvus(ds: Dataset, embedder, cache_dir: Path, uri: str, depth: int = 100,
                          fusion: Fusion = Fusion(), bm25: str = "client") -> dict[str, dict[str, list[str]]]:
    """The same runs with the Milvus backend: vectors in an HNSW field; BM25 as our term weights in a
    sparse field ("client") or computed by Milvus ("server")."""
    from indexer.keyword import KeywordIndex

    from indexer.milvus import MilvusPassageIndex, create_collection, sparse_or_sentinel

    ids = sorted(ds.corpus)
    texts = [ds.corpus[i] for i in ids]
    cache = _cache_path(cache_dir, ds, f"{getattr(embedder, 'model_dir', '')}|{embedder.dtype}|"
                                       f"{embedder.model.max_seq_length}")
    emb = np.load(cache) if cache.exists() else embedder.encode(texts)
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, emb)
    name = f"eval_{ds.name}_{bm25}"
    client = create_collection(uri, name, emb.shape[1], bm25=bm25)
    kw = KeywordIndex.build(texts) if bm25 == "client" else None
    sparse = kw.doc_rows() if kw else None
    n_terms = len(kw.retriever.scores["indptr"]) if kw else 0
    rows = [{"vid": i, "passage_id": ids[i][:1024], "doc_id": ids[i][:1024], "text": texts[i][:60000],
             "dense": emb[i].tolist(), "kind": "doc", "role": "none", "year": -1, "lines": [], "country": "",
             "stakeholder": "", **({"sparse": sparse_or_sentinel(sparse[i], n_terms)} if sparse else {})}
            for i in range(len(ids))]
    for i in range(0, len(rows), 500):
        client.insert(name, rows[i:i + 500])
    client.flush(name)
    backend = MilvusPassageIndex(uri, name, bm25=bm25, keyword_index=kw)
    qids = list(ds.queries)
    qvecs = embedder.encode([ds.queries[q] for q in qids])
    runs: dict[str, dict[str, list[str]]] = {s: {} for s in SYSTEMS}
    for qi, qid in enumerate(qids):
        d_ids, d_sc = backend.dense(qvecs[qi], depth, None, None)
        b_ids, b_sc, _ = backend.keyword(ds.queries[qid], depth, None, None)
        runs["dense"][qid] = [ids[i] for i in d_ids]
        runs["bm25"][qid] = [ids[i] for i in b_ids]
        runs["hybrid"][qid] = [ids[i] for i, _ in fuse_lists(d_ids, d_sc, b_ids, b_sc, fusion)[:depth]]
    return runs


# ------------------------------------------------------------------ WSIS set (document level over the index)

def wsis_dataset(eval_dir: Path) -> Dataset:
    qrels = read_qrels(eval_dir / "qrels" / "test.tsv")
    qs = {q["_id"]: q["text"] for q in read_jsonl(eval_dir / "queries.jsonl") if q["_id"] in qrels}
    return Dataset("wsis", {}, qs, qrels, gain="linear")


def run_wsis(ds: Dataset, engine, depth: int = 100, passage_depth: int = 1000,
             fusion: Fusion = Fusion()) -> dict[str, dict[str, list[str]]]:
    """Passages -> documents by each document's best passage; hybrid fuses the two document lists."""
    runs: dict[str, dict[str, list[str]]] = {s: {} for s in SYSTEMS + ("served",)}
    for qid, q in ds.queries.items():
        qvec = engine.embedder.encode_query(q)
        d_ids, d_scores = engine.dense(qvec, passage_depth, None)
        b_ids, b_scores, _ = engine.bm25(q, passage_depth, None)
        dense_docs = _best_per_doc(engine, d_ids, d_scores)[:depth]
        bm_docs = _best_per_doc(engine, b_ids, b_scores)[:depth]
        runs["dense"][qid] = [d for d, _ in dense_docs]
        runs["bm25"][qid] = [d for d, _ in bm_docs]
        doc_index = {d: i for i, d in enumerate(dict.fromkeys([d for d, _ in dense_docs] + [d for d, _ in bm_docs]))}
        names = list(doc_index)
        fused = fuse_lists(np.array([doc_index[d] for d, _ in dense_docs]), np.array([s for _, s in dense_docs]),
                           np.array([doc_index[d] for d, _ in bm_docs]), np.array([s for _, s in bm_docs]),
                           fusion)
        runs["hybrid"][qid] = [names[i] for i, _ in fused[:depth]]
        res = engine.search(q, k=depth * 3, qvec=qvec, depth=passage_depth)
        runs["served"][qid] = list(dict.fromkeys(engine.doc_ids[h.vid] for h in res.hits))[:depth]
    return runs


def _best_per_doc(engine, ids, scores) -> list[tuple[str, float]]:
    out: dict[str, float] = {}
    for i, s in zip(ids.tolist(), scores.tolist()):
        d = engine.doc_ids[i]
        if d not in out:
            out[d] = s
    return list(out.items())


# ------------------------------------------------------------------ expected scores

def compare(results: dict, expected_path: Path = EXPECTED, tolerance: float = 0.005) -> list[str]:
    """Lines of `[OK]` / `[FAIL]` for every expected figure: a score may not fall more than `tolerance`
    below the expected one; the goals (minimums) are checked too."""
    exp = json.loads(expected_path.read_text())
    lines = []
    for ds, systems in exp.get("expected", {}).items():
        for system, metrics_ in systems.items():
            for metric, want in metrics_.items():
                got = results.get(ds, {}).get(system, {}).get(metric)
                if got is None:
                    continue
                ok = got >= want - tolerance
                lines.append(f"[{'OK' if ok else 'FAIL'}] {ds:10s} {system:7s} {metric:11s} {got:.4f} "
                             f"(expected {want:.4f})")
    for goal in exp.get("goals", []):
        ds, system, metric = goal["dataset"], goal["system"], goal["metric"]
        got = results.get(ds, {}).get(system, {}).get(metric)
        if got is None:
            continue
        ref = goal.get("at_least")
        if "at_least_system" in goal:
            ref = results.get(ds, {}).get(goal["at_least_system"], {}).get(metric)
        if ref is None:
            continue
        ok = got >= ref - goal.get("tolerance", 0.0)
        lines.append(f"[{'OK' if ok else 'FAIL'}] goal: {goal['text']}: {got:.4f} vs {ref:.4f}")
    return lines


# ------------------------------------------------------------------ the `wsis eval retrieval` run

def evaluate(settings, embedder, names: list[str], *, fusion: Fusion, external: Path, wsis_eval: Path,
             wsis_engine=None, gain: str = "exponential", backend: str = "faiss", work_milvus: str = "",
             beir: dict | None = None) -> tuple[dict, dict]:
    """(figures per set and system, per-query scores). `wsis_engine` is a callable returning the engine over
    the real corpus (or None); `beir` = {"name", "corpus", "queries", "qrels"} evaluates one more BEIR set."""
    cache = settings.cache_dir / "eval"
    results: dict = {}
    per_query: dict = {}
    for name in names:
        t = time.perf_counter()
        if beir and name == beir["name"]:
            ds = load_beir(Path(beir["corpus"]).parent, name=name, corpus=Path(beir["corpus"]),
                           queries=Path(beir["queries"]), qrels=Path(beir["qrels"]), gain=gain)
            runs = run_collection(ds, embedder, cache, fusion=fusion)
            recall_k = 100
        elif name == "wsis":
            ds = wsis_dataset(wsis_eval)
            engine = wsis_engine()
            if engine is None:
                continue
            runs = run_wsis(ds, engine, fusion=fusion)
            recall_k = 10
        else:
            folder = external / name
            if not (folder / "corpus.jsonl").exists():
                print(f"skip {name}: {folder} not found")
                continue
            ds = load_beir(folder, gain=gain)
            if backend == "milvus":
                runs = run_collection_milvus(ds, embedder, cache, work_milvus, fusion=fusion, bm25=settings.milvus_bm25)
            else:
                runs = run_collection(ds, embedder, cache, fusion=fusion)
            recall_k = 100
        results[name], per_query[name] = {}, {}
        for system, run in runs.items():
            results[name][system], per_query[name][system] = score_run(run, ds, recall_k=recall_k)
        print(f"{name}: {len(ds.queries)} queries, {time.perf_counter() - t:.0f} s")
    return results, per_query


def format_results(results: dict) -> list[str]:
    lines = [f"{'dataset':10s} {'system':7s} {'nDCG@10':>8s} {'R@100':>7s} {'R@10':>7s} {'MRR@10':>7s}"]
    for name, systems in results.items():
        for system, m in systems.items():
            r10 = m.get("recall@10")
            lines.append(f"{name:10s} {system:7s} {m['ndcg@10']:8.4f} {m.get('recall@100', float('nan')):7.4f} "
                         f"{r10 if r10 is not None else float('nan'):7.4f} {m['mrr@10']:7.4f}")
    return lines
