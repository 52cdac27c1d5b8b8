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
    if str(out["vector_index"].get("type", "")).startswith("IndexHNSW"):
        # recall@10 against the exact scan, with real query vectors: the vector index searched for 10, and as
        # the engine searches (its passage index's dense candidates, `engine.candidates` deep, re-scored with
        # the full vectors when the index holds compact ones, of which the best 10)
        k, depth_engine = 10, engine.candidates
        qv = np.stack(qvecs[WARMUP:WARMUP + 100]).astype(np.float32)
        _, exact = flat.search(qv, k)
        _, at_k = loaded.vectors.search(qv, k)
        at_depth = [engine.passages.dense(v, depth_engine, None)[0] for v in qv]

        def recall(got) -> float:
            return round(float(np.mean([len(set(a) & set(b[:k])) / k for a, b in zip(exact, got)])), 4)

        out["hnsw_recall@10_vs_flat_real_queries"] = recall(at_k)
        out["hnsw_recall@10_vs_flat_real_queries_engine_depth"] = recall(at_depth)
        out["hnsw_engine_depth"] = int(depth_engine)
        src_file = Path(loaded.path) / "synthetic_sources.npy"
        if src_file.exists():
            # each synthetic passage is built on a real one (its source): how many of the exact hits' sources
            # the HNSW hits share
            src = np.load(src_file)
            hits = []
            for a, b in zip(exact, at_k):
                want = set(src[a[a >= 0]].tolist())
                hits.append(len(want & set(src[b[b >= 0]].tolist())) / max(1, len(want)))
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


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (a server with worker processes is a supervisor and its children)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def memory_mib(pid: int) -> dict:
    """Memory of a server and its worker processes: RSS summed (pages shared between processes, such as the
    memory-mapped index files, counted once per process) and PSS summed (each shared page split between the
    processes mapping it: what the server costs the machine), with PSS split into anonymous and file pages."""
    out = {"processes": 0, "rss_mib": 0.0, "pss_mib": 0.0, "pss_anon_mib": 0.0, "pss_file_mib": 0.0}
    keys = {"Rss:": "rss_mib", "Pss:": "pss_mib", "Pss_Anon:": "pss_anon_mib", "Pss_File:": "pss_file_mib"}
    for p in process_tree(pid):
        try:
            lines = Path(f"/proc/{p}/smaps_rollup").read_text().splitlines()
        except OSError:
            continue
        out["processes"] += 1
        for line in lines:
            parts = line.split()
            if parts and parts[0] in keys:
                out[keys[parts[0]]] += int(parts[1]) / 1024
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in out.items()}


def _get(conn, path: str, timeout: float) -> tuple[int, bytes]:
    conn.timeout = timeout
    conn.request("GET", path)
    r = conn.getresponse()
    return r.status, r.read()


def load_run(host: str, port: int, queries: list[str], conc: int, timeout: float = 30.0) -> dict:
    """`len(queries)` GET /search requests from `conc` threads, each over its own keep-alive connection (the
    standard library's http.client: the lightest client Python has, so the figure is mostly the server's).
    Latency percentiles cover the successful requests only; errors and timeouts are counted, never timed."""
    import http.client
    import socket as socket_
    from urllib.parse import urlencode

    def worker(chunk: list[str]) -> tuple[list[float], int, int]:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        lat, errors, timeouts = [], 0, 0
        for q in chunk:
            t = time.perf_counter()
            try:
                status, _ = _get(conn, "/search?" + urlencode({"q": q, "k": 10}), timeout)
            except (socket_.timeout, TimeoutError):
                timeouts += 1
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
                continue
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
                continue
            if status == 200:
                lat.append((time.perf_counter() - t) * 1000)
            else:
                errors += 1
        conn.close()
        return lat, errors, timeouts

    chunks = [queries[i::conc] for i in range(conc)]
    t = time.perf_counter()
    with ThreadPoolExecutor(conc) as ex:
        parts = list(ex.map(worker, chunks))
    wall = time.perf_counter() - t
    lat = [x for p in parts for x in p[0]]
    return {**percentiles(lat), "qps": round(len(lat) / wall, 2), "errors": sum(p[1] for p in parts),
            "timeouts": sum(p[2] for p in parts)}


def httpx_c1(base: str, queries: list[str]) -> dict:
    """The same c=1 run through httpx (the client the bench used before): how much of a figure is the client."""
    import httpx

    lat = []
    with httpx.Client(timeout=30) as c:
        for q in queries:
            t = time.perf_counter()
            if c.get(base + "/search", params={"q": q, "k": 10}).status_code == 200:
                lat.append((time.perf_counter() - t) * 1000)
    return percentiles(lat)


def bench_http(index_path: Path, queries: list[str], requests_per_run: int, workers: int = 1) -> dict:
    """Start `wsis serve --workers N` on the index; cold start to the first 200 on /search and to every worker's
    encoder ready; then bounded load at concurrency 1, 4 and 16 with the query cache off; memory of the server
    (all its processes) after load and after the queries."""
    import httpx

    port = _free_port()
    env = {**os.environ, "WSIS_INDEX_DIR": str(index_path), "WSIS_QUERY_CACHE_SIZE": "0"}
    wsis = shutil.which("wsis", path=str(Path(sys.executable).parent)) or "wsis"
    base = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as state:
        env["WSIS_STATE_DIR"] = state
        proc = subprocess.Popen([wsis, "serve", "--port", str(port), "--workers", str(workers)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out: dict = {"workers": workers}
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
            ready_pids: set[int] = set()

            def encoder_ready() -> bool:  # every worker: new connections reach any of them
                try:
                    h = httpx.get(base + "/health", timeout=5).json()
                except (httpx.HTTPError, ValueError):
                    return False
                if h.get("encoder") == "ready":
                    ready_pids.add(h.get("worker_pid"))
                return len(ready_pids) >= workers

            ready = wait_until(encoder_ready, t0, 180, poll_s=0.02)
            # a wait that ran out is a timeout, never a cold-start figure
            out["cold_start_s_encoder_ready"] = round(ready, 3) if ready is not None else None
            out["cold_start_encoder_timed_out_s"] = None if ready is not None else 180
            mem = memory_mib(proc.pid)
            out["rss_mib_after_load"], out["memory_after_load"] = mem["rss_mib"], mem
            for conc in (1, 4, 16):
                qs = [queries[i % len(queries)] for i in range(requests_per_run)]
                load_run("127.0.0.1", port, queries[:WARMUP * conc], conc)  # warm-up, discarded
                out[f"http_c{conc}"] = load_run("127.0.0.1", port, qs, conc)
            out["http_c1_httpx_client"] = httpx_c1(base, queries[:min(len(queries), requests_per_run)])
            mem = memory_mib(proc.pid)
            out["rss_mib_after_queries"], out["memory_after_queries"] = mem["rss_mib"], mem
        finally:
            proc.terminate()
            try:
                proc.wait(20)
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


def synthetic_vectors(emb: np.ndarray, pick: np.ndarray, rng, noise: float = 0.01,
                      block: int = 100_000) -> np.ndarray:
    """Distinct vectors near the real ones: emb[pick] + w * emb[other] + noise, w ~ U(0, 0.5), renormalised."""
    n, d = len(pick), emb.shape[1]
    out = np.empty((n, d), dtype=np.float32)
    for i in range(0, n, block):
        j = slice(i, min(n, i + block))
        m = j.stop - j.start
        other = rng.integers(0, len(emb), size=m)
        w = rng.uniform(0.0, 0.5, size=(m, 1)).astype(np.float32)
        v = emb[pick[j]] + w * emb[other] + rng.normal(0, noise, size=(m, d)).astype(np.float32)
        out[j] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def synthetic_index(base_index: Path, n: int, out: Path, seed: int = 0, hnsw_threshold: int = 20_000,
                    sq8_threshold: int = 500_000, ef_search: int = 512) -> Path:
    """An index of `n` passages made from a real one, enough to measure the search side at scale. Each
    synthetic passage has the text of a real passage (its source) and a distinct vector: the source's vector
    plus a random fraction (0-0.5) of another real passage's vector plus a little noise, renormalised. The
    vectors thus spread over the region real passages occupy, as a larger corpus would, instead of
    clumping into hundreds of near-copies of each real vector (among which the "exact" nearest neighbours
    are decided by the noise, which made recall against exact search unreadable)."""
    import json as _json

    from indexer.columns import filter_threshold, write_store_columns
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
    vecs = synthetic_vectors(emb, pick, rng)
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
    info = writer.write_vectors(vecs, hnsw_threshold=hnsw_threshold, sq8_threshold=sq8_threshold, ef_search=ef_search)
    KeywordIndex.build(texts).save(writer.dir / "keyword")
    columns_info = write_store_columns(writer.dir, filter_threshold(real.manifest))
    onnx_name = (real.manifest.get("query_encoder") or {}).get("onnx")
    if onnx_name:  # the same query encoder as the real index
        shutil.copyfile(real.path / onnx_name, writer.dir / onnx_name)
    manifest = {**real.manifest, "vector_index": info, "columns": columns_info, "synthetic": {"from": str(base_index), "n": n},
                "counts": {"documents": n_docs, "passages": n, "by_kind": {}, "failures": 0}}
    for k in ("complete", "build_id", "path", "format_version"):
        manifest.pop(k, None)
    writer.commit(_json.loads(_json.dumps(manifest, default=str)), keep=1)
    return out


def run(settings, embedder, *, shared: Path, scales: list[str], queries: int, requests: int, build: bool,
        http: bool, work: Path, workers: tuple[int, ...] = (1,)) -> dict:
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
            synthetic_index(base, size, index, hnsw_threshold=settings.hnsw_threshold,
                            sq8_threshold=settings.hnsw_sq8_threshold, ef_search=settings.hnsw_ef_search)
            r["synthetic_build_seconds"] = round(time.perf_counter() - t, 1)
        r["components"] = bench_components(index, qs, embedder)
        if http:
            runs = {str(w): bench_http(index, qs, requests, workers=w) for w in workers}
            r["http"] = runs[str(workers[0])]
            r["http_by_workers"] = runs
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
        lines.append(f"  HNSW recall@10 vs exact (real queries): {c['hnsw_recall@10_vs_flat_real_queries']} searching for 10, "
                     f"{c.get('hnsw_recall@10_vs_flat_real_queries_engine_depth')} as the engine searches "
                     f"({c.get('hnsw_engine_depth')} candidates)")
    if "hnsw_source_recall@10_synthetic" in c:
        lines.append(f"  HNSW recall@10 of source passages (synthetic): {c['hnsw_source_recall@10_synthetic']}")
    for h in (r.get("http_by_workers") or ({"1": r["http"]} if r.get("http") else {})).values():
        lines.append(f"  -- server with {h.get('workers', 1)} worker process(es)")
        lines.append(cold_start_line(h))
        for conc in (1, 4, 16):
            p = h[f"http_c{conc}"]
            fails = f", {p['errors']} errors, {p['timeouts']} timeouts" if p.get("errors") or p.get("timeouts") else ""
            lines.append(f"  HTTP c={conc}: p50 {p.get('p50_ms')} p95 {p.get('p95_ms')} p99 {p.get('p99_ms')} ms, "
                         f"{p['qps']} QPS{fails}")
        if h.get("http_c1_httpx_client"):
            lines.append(f"  HTTP c=1 through httpx instead: p50 {h['http_c1_httpx_client'].get('p50_ms')} ms")
        for when in ("after_load", "after_queries"):
            m = h.get(f"memory_{when}") or {}
            lines.append(f"  server memory {when.replace('_', ' ')}: RSS {m.get('rss_mib')} MiB, PSS "
                         f"{m.get('pss_mib')} MiB (anon {m.get('pss_anon_mib')}, file {m.get('pss_file_mib')}) over "
                         f"{m.get('processes')} process(es)")
    return "\n".join(lines)
