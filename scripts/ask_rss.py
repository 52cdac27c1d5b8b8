"""Server memory under concurrent /ask: RSS of `wsis serve` idle and at 1, 10 and 40 questions at once.

    python scripts/ask_rss.py [--index DIR] [--levels 1,10,40] [--rounds 2]

Builds an index of the bundled corpus into a temporary folder (unless --index is given), serves it on
127.0.0.1 with the /ask rate limit off, asks one warm-up question, then for each level sends that many
/ask requests at once (`--rounds` times) and reports the answers (200), the refusals (503 busy, with
Retry-After) and the server's RSS: peak during the round (sampled every 20 ms) and after it. Loopback only,
a bounded number of requests; the server is stopped at the end."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
QUESTIONS = [
    "How do CERTs cooperate against cybercrime?", "What did facilitators recommend on ICT statistics?",
    "Which initiatives train teachers in digital skills?", "What are the challenges of community networks?",
    "How can farmers get market prices by radio?", "What was said about child online protection?",
    "Which projects use telemedicine on islands?", "What are the recommendations on e-waste?",
    "How is universal service funding used?", "What about media freedom and journalists?",
]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def measure(base: str, pid: int, levels=(1, 10, 40), rounds: int = 2) -> dict:
    """{"idle_mib": ..., "levels": [{"concurrent", "answered", "refused", "other", "peak_mib", "after_mib"}]}"""
    with httpx.Client(timeout=120) as c:
        c.post(base + "/ask", json={"question": "What is the WSIS?"}).raise_for_status()  # warm-up
    time.sleep(0.5)
    out = {"idle_mib": rss_mib(pid), "levels": []}
    for n in levels:
        statuses: Counter = Counter()
        peak = [0.0]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_mib(pid))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        for r in range(rounds):
            def one(i):
                with httpx.Client(timeout=120) as c:
                    resp = c.post(base + "/ask", json={"question": QUESTIONS[(i + r) % len(QUESTIONS)]})
                    return resp.status_code, resp.headers.get("retry-after")

            with ThreadPoolExecutor(n) as ex:
                for status, retry in ex.map(one, range(n)):
                    statuses[status] += 1
                    if status == 503 and not retry:
                        statuses["503 without Retry-After"] += 1
        stop.set()
        sampler.join()
        time.sleep(0.3)
        out["levels"].append({"concurrent": n, "requests": n * rounds, "answered": statuses[200],
                              "refused": statuses[503], "other": {k: v for k, v in statuses.items()
                                                                  if k not in (200, 503)},
                              "peak_mib": peak[0], "after_mib": rss_mib(pid)})
    return out


def print_table(res: dict) -> None:
    idle = res["idle_mib"]
    print(f"idle (after load and one question): {idle} MiB")
    print(f"{'concurrent':>10} {'requests':>8} {'200':>5} {'503':>5} {'peak MiB':>9} {'after MiB':>9} {'peak/idle':>9}")
    for lv in res["levels"]:
        print(f"{lv['concurrent']:>10} {lv['requests']:>8} {lv['answered']:>5} {lv['refused']:>5} {lv['peak_mib']:>9} "
              f"{lv['after_mib']:>9} {lv['peak_mib'] / idle:>9.2f}" + (f"  other: {lv['other']}" if lv["other"] else ""))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="")
    ap.add_argument("--levels", default="1,10,40")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    from evaluation.localserver import start, stop

    tmp = Path(tempfile.mkdtemp(prefix="wsis-rss-"))
    try:
        index = Path(args.index) if args.index else tmp / "index"
        env = {**os.environ, "WSIS_INDEX_DIR": str(index), "WSIS_ASK_RATE_PER_MINUTE": "0", "HF_HUB_OFFLINE": "1"}
        if not args.index:
            wsis = shutil.which("wsis", path=str(Path(sys.executable).parent)) or "wsis"
            subprocess.run([wsis, "build", "--quiet"], env=env, check=True, capture_output=True)
        server, base = start(env)
        try:
            res = measure(base, server.pid, [int(x) for x in args.levels.split(",")], args.rounds)
        finally:
            stop(server)
        print_table(res)
        s = {k: os.environ.get(f"WSIS_{k.upper()}", "default") for k in ("ask_workers", "ask_queue")}
        print(f"(WSIS_ASK_WORKERS={s['ask_workers']}, WSIS_ASK_QUEUE={s['ask_queue']})")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
