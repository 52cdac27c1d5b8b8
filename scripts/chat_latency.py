"""Latency of an OpenAI-style chat completion vs /ask on the same questions, over HTTP on 127.0.0.1.

    python scripts/chat_latency.py --index /path/to/index [--rounds 3]

Starts `wsis serve` on the index (rate limit off), asks every question of evaluation/data/answers.jsonl once
to warm up (discarded), then `--rounds` times in turn: POST /ask, POST /v1/chat/completions (JSON), the same
with `stream: true` (time to the first content chunk and to `[DONE]`), and each question with its history
(the follow-ups of the set) on both. Prints p50 / p95 / mean in ms per variant."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluation.localserver import start, stop  # noqa: E402


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    rows = [json.loads(x) for x in (ROOT / "evaluation/data/answers.jsonl").read_text().splitlines() if x.strip()]
    env = {**os.environ, "WSIS_INDEX_DIR": str(Path(args.index).absolute()), "WSIS_ASK_RATE_PER_MINUTE": "0",
           "HF_HUB_OFFLINE": "1"}
    proc, base = start(env)
    times: dict[str, list[float]] = {k: [] for k in ("ask", "chat", "chat_stream_first", "chat_stream_done",
                                                     "ask_follow_up_turn", "ask_follow_up", "chat_follow_up")}
    try:
        with httpx.Client(base_url=base, timeout=120) as c:
            def ask(q):
                return c.post("/ask", json={"question": q}).raise_for_status().json()

            def chat(messages, stream=False):
                body = {"model": "wsis-extractive", "messages": messages, "stream": stream}
                if not stream:
                    return c.post("/v1/chat/completions", json=body).raise_for_status().json(), None
                t0, first = time.perf_counter(), None
                with c.stream("POST", "/v1/chat/completions", json=body) as r:
                    for line in r.iter_lines():
                        if first is None and '"content": "' in line and '"content": ""' not in line:
                            first = time.perf_counter() - t0
                return None, first

            def timed(fn, *a, **kw):
                t0 = time.perf_counter()
                out = fn(*a, **kw)
                return time.perf_counter() - t0, out

            for rnd in range(args.rounds + 1):  # round 0 warms up
                keep = rnd > 0
                for row in rows:
                    q, hist = row["question"], row.get("history") or []
                    user = [{"role": "user", "content": q}]
                    for name, (dt, out) in (("ask", timed(ask, q)), ("chat", timed(chat, user)),
                                            ("chat_stream_done", timed(chat, user, stream=True))):
                        if keep:
                            times[name].append(dt)
                            if name == "chat_stream_done":
                                times["chat_stream_first"].append(out[1] or dt)
                    if hist:
                        t0 = time.perf_counter()
                        cid = None
                        for h in hist + [q]:
                            body = {"question": h, **({"conversation_id": cid} if cid else {})}
                            t1 = time.perf_counter()
                            cid = c.post("/ask", json=body).raise_for_status().json()["conversation_id"]
                        last_turn = time.perf_counter() - t1  # the follow-up alone on /ask ...
                        last_ask = time.perf_counter() - t0  # the whole conversation on /ask ...
                        msgs = [m for h in hist for m in ({"role": "user", "content": h},
                                                          {"role": "assistant", "content": "..."})] + user
                        dt, _ = timed(chat, msgs)  # ... vs one completion that replays the history
                        if keep:
                            times["ask_follow_up_turn"].append(last_turn)
                            times["ask_follow_up"].append(last_ask)
                            times["chat_follow_up"].append(dt)
    finally:
        stop(proc)
    print(f"{len(rows)} questions x {args.rounds} rounds, {sum(1 for r in rows if r.get('history'))} with history; "
          f"index {args.index}")
    print(f"{'variant':<22}{'n':>5}{'p50 ms':>9}{'p95 ms':>9}{'mean ms':>9}")
    for name, xs in times.items():
        if xs:
            print(f"{name:<22}{len(xs):>5}{pct(xs, 50) * 1000:>9.1f}{pct(xs, 95) * 1000:>9.1f}"
                  f"{statistics.mean(xs) * 1000:>9.1f}")
    print("ask_follow_up_turn = the follow-up alone on /ask (its conversation already there); ask_follow_up = "
          "the history asked turn by turn on /ask, then the follow-up; chat_follow_up = one completion with the "
          "history in its messages (replayed, not answered)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
