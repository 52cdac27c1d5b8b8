"""Bounded load on 127.0.0.1 while the index is rebuilt and reloaded; prints the figures.

    python scripts/load_during_reindex.py [--clients 50] [--requests 5000]

Builds an index of the bundled corpus, serves it, runs `--clients` concurrent clients for a fixed number
of /search requests, and meanwhile rebuilds the index (with one more document) and reloads it through
POST /admin/reload. Checks: 0 errors; 0 responses mixing the two index versions (every passage of a
response exists in the build that response names); reports p50/p95/p99 latency."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WSIS = shutil.which("wsis", path=str(Path(sys.executable).parent)) or "wsis"
QUERIES = ["community networks", "child online protection", "CERT ransomware", "digital skills teachers",
           "telemedicine islands", "market prices farmers", "media freedom journalists", "AI ethics",
           "ICT indicators statistics", "universal service fund", "e-waste recycling", "open data portal"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=5000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wsis-load-"))
    src, index = tmp / "src", tmp / "index"
    shutil.copytree(ROOT / "corpus" / "sample", src)
    env = {**os.environ, "WSIS_INDEX_DIR": str(index), "WSIS_ADMIN_TOKEN": "load-test", "WSIS_CACHE_DIR": str(tmp / "cache")}
    subprocess.run([WSIS, "build", "--source", str(src), "--quiet"], env=env, check=True, capture_output=True)
    from evaluation.localserver import start, stop

    server, base = start(env)
    try:
        results: list[tuple[float, int, str, list[str]]] = []
        lock = threading.Lock()
        done = [0]
        reload_info: dict = {}

        def worker(i: int, client: httpx.Client):
            q = QUERIES[i % len(QUERIES)]
            t = time.perf_counter()
            try:
                r = client.get(base + "/search", params={"q": q, "k": 10})
                dt = (time.perf_counter() - t) * 1000
                body = r.json()
                item = (dt, r.status_code, body.get("build_id", ""), [c["passage_id"] for c in body.get("results", [])])
            except Exception as exc:  # counted as an error
                item = ((time.perf_counter() - t) * 1000, 0, f"error: {exc}", [])
            with lock:
                results.append(item)
                done[0] += 1

        def reindexer():
            while done[0] < args.requests // 20:
                time.sleep(0.05)
            (src / "extra-load-test.md").write_text("# Load test\n\nA page added while the index serves traffic.\n")
            t = time.perf_counter()
            subprocess.run([WSIS, "build", "--source", str(src), "--quiet"], env=env, check=True, capture_output=True)
            reload_info["rebuild_s"] = round(time.perf_counter() - t, 2)
            reload_info["during_request"] = done[0]
            r = httpx.post(base + "/admin/reload", headers={"X-Admin-Token": "load-test"}, timeout=120).json()
            reload_info.update(r)
            reload_info["reloaded_at_request"] = done[0]

        rt = threading.Thread(target=reindexer)
        rt.start()
        clients = [httpx.Client(timeout=60) for _ in range(args.clients)]
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as ex:
            list(ex.map(lambda i: worker(i, clients[i % args.clients]), range(args.requests)))
        wall = time.perf_counter() - t0
        rt.join()
        for c in clients:
            c.close()
        # which passages each build holds
        builds = {}
        for b in (index.parent / "index.builds").iterdir():
            if (b / "store.sqlite").exists():
                con = sqlite3.connect(b / "store.sqlite")
                builds[b.name] = {r[0] for r in con.execute("SELECT id FROM passages")}
        errors = [r for r in results if r[1] != 200]
        mixed = [r for r in results if r[1] == 200 and (r[2] not in builds or not set(r[3]) <= builds[r[2]])]
        lat = np.array([r[0] for r in results if r[1] == 200])
        by_build: dict[str, int] = {}
        for r in results:
            by_build[r[2]] = by_build.get(r[2], 0) + 1
        out = {"clients": args.clients, "requests": len(results), "errors": len(errors), "mixed_versions": len(mixed),
               "responses_by_build": by_build, "p50_ms": round(float(np.percentile(lat, 50)), 1),
               "p95_ms": round(float(np.percentile(lat, 95)), 1), "p99_ms": round(float(np.percentile(lat, 99)), 1),
               "qps": round(len(results) / wall, 1), "reload": reload_info}
        print(json.dumps(out, indent=2))
        return 0 if not errors and not mixed and len(by_build) == 2 else 1
    finally:
        stop(server)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
