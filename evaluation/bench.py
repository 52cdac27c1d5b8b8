"""`wsis bench`: side by side, in one run on the same data: bm25s alone, FAISS flat alone (same
embeddings), the query encoder alone, the engine through its Python API, and the engine through HTTP on
127.0.0.1 (bounded load, concurrency 1 and 4, warm-up discarded); plus build speed, RSS and cold start.
Prints a table and writes JSON. Benchmarks are a script, not timed tests."""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

WARMUP = 10


def percentiles(ms: list[float]) -> dict:
    if not ms:
        return {}
    a = np.asarray(ms)
    return {"n": len(ms), "p50_ms": round(float(np.percentile(a, 50)), 3), "p95_ms": round(float(np.percentile(a, 95)), 3),
            "p99_ms": round(float(np.percentile(a, 99)), 3), "mean_ms": round(float(a.mean()), 3)}


def env_info(dtype: str, threads: int) -> dict:
    flags = set()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    versions = {}
    for mod in ("torch", "sentence_transformers", "faiss", "bm25s", "numpy", "fastapi", "uvicorn"):
        try:
            versions[mod] = getattr(__import__(mod), "__version__", "?")
        except ImportError:
            versions[mod] = None
    return {"cpu": model, "cores": os.cpu_count(), "flags": sorted(flags & {"avx2", "avx512f", "avx512_bf16", "amx_bf16",
                                                                             "amx_tile", "amx_int8", "fma"}),
            "threads": threads, "dtype": dtype, "python": platform.python_version(), "versions": versions}


def machine_load() -> dict:
    """Load average and CPU steal over one second: a benchmark run on a busy machine is marked as such."""
    def cpu():
        parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        return [int(x) for x in parts]

    out: dict = {}
    try:
        out["loadavg_1m"] = round(os.getloadavg()[0], 2)
        a = cpu()
        time.sleep(1.0)
        b = cpu()
        d = [y - x for x, y in zip(a, b)]
        total = sum(d) or 1
        out["busy_share"] = round(1 - (d[3] + d[4]) / total, 3)  # not idle, not iowait
        out["steal_share"] = round(d[7] / total, 3) if len(d) > 7 else 0.0
    except OSError:
        pass
    out["busy"] = bool(out.get("busy_share", 0) > 0.25 or out.get("steal_share", 0) > 0.05)
    return out


def rss_mib(pid: int | None = None) -> float:
    path = f"/proc/{pid or 'self'}/status"
    for line in Path(path).read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def queries_from(eval_dir: Path, n: int) -> list[str]:
    base = []
    qfile = eval_dir / "queries.jsonl"
    if qfile.exists():
        base = [json.loads(line)["text"] for line in qfile.read_text().splitlines() if line.strip()]
    if not base:
        base = ["child online protection", "community networks spectrum", "national CERT ransomware",
                "digital skills for teachers", "e-health telemedicine", "market prices for farmers by SMS"]
    return [base[i % len(base)] for i in range(n + WARMUP)]


def bench_components(index_path: Path, queries: list[str], embedder, depth: int = 100) -> dict:
    """Each stage alone and the engine end to end, on one loaded index, in this process."""
    import faiss

    from indexer.index import load_index
    from indexer.settings import get_settings
    from search_api.lifecycle import engine_for, onnx_encoder

    loaded = load_index(index_path)
    settings = get_settings()
    # the encoder the server would use for this index: its ONNX export when present, else torch
    embedder = (onnx_encoder(loaded, settings) if settings.query_encoder != "torch" else None) or embedder
    engine = engine_for(loaded, embedder, settings)
    emb = np.ascontiguousarray(np.asarray(loaded.embeddings, dtype=np.float32))
    flat = faiss.IndexFlatIP(emb.shape[1])
    flat.add(emb)
    out: dict = {"passages": engine.n, "vector_index": loaded.manifest.get("vector_index", {}),
                 "query_encoder": getattr(embedder, "kind", "torch")}
    enc, bm, fl, vi, eng = [], [], [], [], []
    stages: dict[str, list[float]] = {}
    qvecs = []
    for i, q in enumerate(queries):
        t = time.perf_counter()
        v = embedder.encode_query(q)
        te = (time.perf_counter() - t) * 1000
        qvecs.append(v)
        t = time.perf_counter()
        s = loaded.keyword.scores(q)
        top = np.argpartition(-s, min(depth, len(s) - 1))[:depth]
        top[np.argsort(-s[top])]
        tb = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        flat.search(v.reshape(1, -1), depth)
        tf = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        loaded.vectors.search(v.reshape(1, -1), depth)
        tv = (time.perf_counter() - t) * 1000
        engine.clear_query_cache()  # end to end includes encoding the query
        t = time.perf_counter()
        res = engine.search(q, k=10)
        tg = (time.perf_counter() - t) * 1000
        if i >= WARMUP:
            enc.append(te), bm.append(tb), fl.append(tf), vi.append(tv), eng.append(tg)
            for k, val in res.timings.items():
                stages.setdefault(k, []).append(val * 1000)
    out["encode_alone"] = percentiles(enc)
    out["bm25s_alone"] = percentiles(bm)
    out["faiss_flat_alone"] = percentiles(fl)
    out["vector_index_alone"] = percentiles(vi)
    out["engine_python"] = percentiles(eng)
    out["engine_stages"] = {k: percentiles(v) for k, v in stages.items()}
    bare = out["encode_alone"]["p50_ms"] + out["faiss_flat_alone"]["p50_ms"] + out["bm25s_alone"]["p50_ms"]
    out["ratio_engine_to_bare_p50"] = round(out["engine_python"]["p50_ms"] / bare, 3) if bare else None
    if out["vector_index"].get("type") == "IndexHNSWFlat":
        k = 10
        hits = []
        for v in qvecs[WARMUP:WARMUP + 100]:
            _, a = flat.search(v.reshape(1, -1), k)
            _, b = loaded.vectors.search(v.reshape(1, -1), k)
            hits.append(len(set(a[0]) & set(b[0])) / k)
        out["hnsw_recall@10_vs_flat_real_queries"] = round(float(np.mean(hits)), 4)
        src_file = Path(loaded.path) / "synthetic_sources.npy"
        if src_file.exists():
            # A synthetic index holds ~n/real noisy copies of each real passage: a returned copy of the same
            # source passage as an exact hit is as good an answer, so recall also counts source passages.
            src = np.load(src_file)
            hits = []
            for v in qvecs[WARMUP:WARMUP + 100]:
                _, a = flat.search(v.reshape(1, -1), k)
                _, b = loaded.vectors.search(v.reshape(1, -1), k)
                want = set(src[a[0][a[0] >= 0]].tolist())
                hits.append(len(want & set(src[b[0][b[0] >= 0]].tolist())) / max(1, len(want)))
            out["hnsw_source_recall@10_synthetic"] = round(float(np.mean(hits)), 4)
    out["rss_mib_bench_process"] = rss_mib()
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(ready, t0: float, limit_s: float, poll_s: float = 0.1) -> float | None:
    """Seconds from t0 until ready() is true, or None when limit_s ran out first."""
    while True:
        if ready():
            return time.perf_counter() - t0
        if time.perf_counter() - t0 >= limit_s:
            return None
        time.sleep(poll_s)


def cold_start_line(h: dict) -> str:
    def fig(value, timed_out):
        return f"timed out (> {timed_out} s)" if value is None and timed_out else f"{value} s"

    return (f"  cold start: first 200 on /search {fig(h['cold_start_s_first_200_search'], h.get('cold_start_search_timed_out_s'))}"
            f" ({h.get('cold_start_first_search_mode')}), encoder ready "
            f"{fig(h['cold_start_s_encoder_ready'], h.get('cold_start_encoder_timed_out_s'))}")


def bench_http(index_path: Path, queries: list[str], requests_per_run: int) -> dict:
    """Start `wsis serve` on the index; cold start to the first 200 on /search; then bounded load at
    concurrency 1, 4 and 16 with the query cache off; RSS of the server after load and after the queries."""
    import httpx

    port = _free_port()
    env = {**os.environ, "WSIS_INDEX_DIR": str(index_path), "WSIS_QUERY_CACHE_SIZE": "0"}
    wsis = shutil.which("wsis", path=str(Path(sys.executable).parent)) or "wsis"
    base = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = subprocess.Popen([wsis, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    out: dict = {}
    try:
        first = None
        with httpx.Client(timeout=30) as c:
            while time.perf_counter() - t0 < 120:
                try:
                    r = c.get(base + "/search", params={"q": "community networks"})
                    if r.status_code == 200:
                        first = time.perf_counter() - t0
                        out["cold_start_first_search_mode"] = r.json()["query_run"]["mode"]
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
            out["cold_start_s_first_200_search"] = round(first, 3) if first else None
            out["cold_start_search_timed_out_s"] = None if first else 120

            def encoder_ready() -> bool:
                try:
                    return c.get(base + "/health").json().get("encoder") == "ready"
                except (httpx.HTTPError, ValueError):
                    return False

            ready = wait_until(encoder_ready, t0, 180)
            # a wait that ran out is a timeout, never a cold-start figure
            out["cold_start_s_encoder_ready"] = round(ready, 3) if ready is not None else None
            out["cold_start_encoder_timed_out_s"] = None if ready is not None else 180
        out["rss_mib_after_load"] = rss_mib(proc.pid)
        for conc in (1, 4, 16):
            lat: list[float] = []
            qs = queries[:WARMUP] + [queries[i % len(queries)] for i in range(requests_per_run)]

            def one(q, client):
                t = time.perf_counter()
                r = client.get(base + "/search", params={"q": q, "k": 10})
                r.raise_for_status()
                return (time.perf_counter() - t) * 1000

            clients = [httpx.Client(timeout=30) for _ in range(conc)]
            try:
                for i, q in enumerate(qs[:WARMUP]):
                    one(q, clients[i % conc])
                t = time.perf_counter()
                with ThreadPoolExecutor(conc) as ex:
                    lat = list(ex.map(lambda iq: one(iq[1], clients[iq[0] % conc]), enumerate(qs[WARMUP:])))
                wall = time.perf_counter() - t
            finally:
                for cl in clients:
                    cl.close()
            out[f"http_c{conc}"] = {**percentiles(lat), "qps": round(len(lat) / wall, 2)}
        out["rss_mib_after_queries"] = rss_mib(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return out


def bench_build(source: Path, embedder, settings) -> dict:
    """A full build of `source` without the embedding cache, timed by stage."""
    from indexer.build import build_from_settings

    with tempfile.TemporaryDirectory() as tmp:
        r = build_from_settings(settings, [source], Path(tmp) / "index", embedder=embedder, use_cache=False,
                                backend="faiss")
    d = r.as_dict()
    st = d["stage_seconds"]
    return {"documents": d["documents_total"], "passages": d["passages"], "seconds": d["seconds"],
            "passages_per_s_end_to_end": d["passages_per_second"], "stage_seconds": st,
            "embed_passages_per_s": round(d["embedded"] / st["embed"], 2) if st.get("embed") else None}


def synthetic_index(base_index: Path, n: int, out: Path, seed: int = 0, hnsw_threshold: int = 20_000) -> Path:
    """An index of `n` passages made from a real one: vectors are real passage vectors plus small noise
    (renormalised), texts are real passages; enough to measure the search side at scale."""
    import json as _json

    from indexer.index import IndexWriter, load_index
    from indexer.keyword import KeywordIndex
    from indexer.models import Document, Passage
    from indexer.store import create, insert_document, insert_passage

    real = load_index(base_index)
    emb = np.asarray(real.embeddings, dtype=np.float32)
    vids = list(range(len(emb)))
    rows = real.store.passages(vids)
    kinds = {d: v["kind"] for d, v in real.store.documents(list({r.doc_id for r in rows.values()})).items()}
    years = {d: v["year"] for d, v in real.store.documents(list(kinds)).items()}
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(emb), size=n)
    vecs = emb[pick] + rng.normal(0, 0.03, size=(n, emb.shape[1])).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    writer = IndexWriter(out)
    con = create(writer.dir / "store.sqlite")
    texts = []
    n_docs = (n + 9) // 10
    with con:
        for d in range(n_docs):
            src = rows[int(pick[d * 10])]
            insert_document(con, Document(id=f"synthetic/{d}", kind=kinds[src.doc_id], title=f"Synthetic document {d}",
                                          source="synthetic", year=years[src.doc_id], text="", sections=()))
        for i, j in enumerate(pick.tolist()):
            r = rows[j]
            texts.append(r.text)
            p = Passage(id=f"synthetic/{i // 10}::{i % 10}", doc_id=f"synthetic/{i // 10}", ordinal=i % 10,
                        text=r.text, heading="", page=None, speaker="", start=0, end=len(r.text),
                        words=len(r.text.split()))
            insert_passage(con, i, p, {"action_lines": r.action_lines, "role": r.role})
    con.close()
    np.save(writer.dir / "synthetic_sources.npy", pick.astype(np.int64))  # the real passage each vector copies
    info = writer.write_vectors(vecs, hnsw_threshold=hnsw_threshold)
    KeywordIndex.build(texts).save(writer.dir / "keyword")
    onnx_name = (real.manifest.get("query_encoder") or {}).get("onnx")
    if onnx_name:  # the same query encoder as the real index
        shutil.copyfile(real.path / onnx_name, writer.dir / onnx_name)
    manifest = {**real.manifest, "vector_index": info, "synthetic": {"from": str(base_index), "n": n},
                "counts": {"documents": n_docs, "passages": n, "by_kind": {}, "failures": 0}}
    for k in ("complete", "build_id", "path", "format_version"):
        manifest.pop(k, None)
    writer.commit(_json.loads(_json.dumps(manifest, default=str)), keep=1)
    return out


def run(settings, embedder, *, shared: Path, scales: list[str], queries: int, requests: int, build: bool,
        http: bool, work: Path) -> dict:
    """Every requested scale: "bundled" and "shared" are real corpora (indexed with the embedding cache;
    `build` also times a full uncached build), "100k" / "1m" synthetic indexes made from the real one."""
    from indexer.build import build_from_settings

    qs = queries_from(shared / "eval" / "wsis", queries)
    load = machine_load()
    if load.get("busy"):
        print(f"WARNING: the machine is busy before the run (CPU busy {load.get('busy_share')}, steal "
              f"{load.get('steal_share')}, load {load.get('loadavg_1m')}): figures will be slower than on an "
              f"idle machine", flush=True)
    result: dict = {"env": env_info(embedder.dtype, settings.threads), "machine_load_before": load,
                    "queries": queries,
                    "started": time.strftime("%Y-%m-%dT%H:%M:%SZ"), "http_requests": requests, "scales": {}}
    work.mkdir(parents=True, exist_ok=True)
    corpus = {"bundled": Path(settings.sources[0]), "shared": shared / "corpus_sources"}
    for scale in scales:
        print(f"== {scale}", flush=True)
        r: dict = {}
        if scale in corpus:
            if not corpus[scale].is_dir():
                print(f"skip {scale}: {corpus[scale]} absent")
                continue
            if build or scale == "bundled":
                r["build"] = bench_build(corpus[scale], embedder, settings)
            index = work / f"{scale}-index"
            build_from_settings(settings, [corpus[scale]], index, embedder=embedder, backend="faiss")
        else:
            size = {"100k": 100_000, "1m": 1_000_000}.get(scale.lower())
            if size is None:
                print(f"skip unknown scale {scale}")
                continue
            base = work / "shared-index" if (work / "shared-index").exists() else work / "bundled-index"
            if not base.exists():  # a synthetic scale needs a real index to copy from: build the bundled one
                base = work / "bundled-index"
                print(f"building {base} (the synthetic scale's base) ...", flush=True)
                build_from_settings(settings, [corpus["bundled"]], base, embedder=embedder, backend="faiss")
            index = work / f"synthetic-{scale}"
            t = time.perf_counter()
            synthetic_index(base, size, index, hnsw_threshold=settings.hnsw_threshold)
            r["synthetic_build_seconds"] = round(time.perf_counter() - t, 1)
        r["components"] = bench_components(index, qs, embedder)
        if http:
            r["http"] = bench_http(index, qs, requests)
        result["scales"][scale] = r
        print(format_scale(scale, r), flush=True)
    return result


def format_scale(name: str, r: dict) -> str:
    c = r["components"]
    lines = [f"{name}: {c['passages']} passages, vectors {c['vector_index'].get('type')}, "
             f"query encoder {c.get('query_encoder', 'torch')}"]
    if "build" in r:
        b = r["build"]
        lines.append(f"  build: {b['passages']} passages in {b['seconds']} s = {b['passages_per_s_end_to_end']}/s "
                     f"(stages {b['stage_seconds']}; embedding {b['embed_passages_per_s']}/s)")
    for key in ("encode_alone", "bm25s_alone", "faiss_flat_alone", "vector_index_alone", "engine_python"):
        p = c[key]
        lines.append(f"  {key:20s} p50 {p['p50_ms']:8.3f}  p95 {p['p95_ms']:8.3f}  p99 {p['p99_ms']:8.3f} ms")
    lines.append(f"  engine / (encode + flat + bm25) at p50: {c['ratio_engine_to_bare_p50']}")
    if "hnsw_recall@10_vs_flat_real_queries" in c:
        lines.append(f"  HNSW recall@10 vs flat (real queries): {c['hnsw_recall@10_vs_flat_real_queries']}")
    if "hnsw_source_recall@10_synthetic" in c:
        lines.append(f"  HNSW recall@10 of source passages (synthetic copies): {c['hnsw_source_recall@10_synthetic']}")
    h = r.get("http")
    if h:
        lines.append(cold_start_line(h))
        for conc in (1, 4, 16):
            p = h[f"http_c{conc}"]
            lines.append(f"  HTTP c={conc}: p50 {p['p50_ms']} p95 {p['p95_ms']} p99 {p['p99_ms']} ms, {p['qps']} QPS")
        lines.append(f"  server RSS: {h['rss_mib_after_load']} MiB after load, {h['rss_mib_after_queries']} MiB after queries")
    return "\n".join(lines)
