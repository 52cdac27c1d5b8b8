"""The attack run of issue 17, reproducible: a hostile site against the crawler, a hostile client against
`wsis serve`, a broken disk under the index. Prints a table of probes and outcomes.

    python scripts/attack_run.py [--index DIR] [--quick]

Everything runs on 127.0.0.1 (a hostile site from tests/crawl_site.py, two `wsis serve` processes on an
index of the bundled corpus built into a temporary folder unless --index is given); every loop is bounded
and every process started here is stopped at the end. Exit status 1 if any probe's outcome is not the
expected one. --quick shortens the trickling probes (a byte every 0.5 s instead of every 2 s)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))
WSIS = shutil.which("wsis", path=str(Path(sys.executable).parent)) or "wsis"
ROWS: list[tuple[str, str, str, bool]] = []


def probe(area: str, what: str, outcome: str, ok: bool) -> None:
    ROWS.append((area, what, outcome, ok))
    print(f"  [{'ok' if ok else 'FAIL'}] {area}: {what} -> {outcome}", flush=True)


def raw(base: str, data: bytes, timeout: float = 10.0) -> bytes:
    from evaluation.localserver import raw_http

    return raw_http(base, data, timeout)


def status_and_type(resp: bytes) -> str:
    head = resp.partition(b"\r\n\r\n")[0].decode("latin-1")
    if not head:
        return "no answer"
    ctype = next((ln.split(":", 1)[1].strip() for ln in head.splitlines() if ln.lower().startswith("content-type:")), "")
    return f"{head.split()[1]} {ctype.split(';')[0]}"


# ------------------------------------------------------------------ the hostile site

def crawler_probes(tmp: Path, quick: bool) -> None:
    from crawl_site import HostileSite

    from indexer.crawl import Crawler, Refused, check_address, normalise

    every = 0.5 if quick else 2.0
    with HostileSite(trickle_every=every, trickle_for=60) as site:
        t0 = time.monotonic()
        report = Crawler([site.source(timeout_seconds=5.0)], tmp / "crawl", allow_loopback=True).run().as_dict()
        took = time.monotonic() - t0
        reasons = {e["url"]: e["reason"] for e in report["errors"]}
        for link in ("http://127.0.0.1:99999/x", "http://[::1/x"):
            r = reasons.get(link, "not reported")
            probe("crawler", f'<a href="{link}">', "reported: " + r.split(": ", 1)[-1][:60], "refused link" in r)
        r = reasons.get(site.base + "/h/redirect-badport", "not reported")
        probe("crawler", "302 to http://127.0.0.1:99999/", r[:70], "99999" in r)
        for path, name in (("/h/trickle-body", "body"), ("/h/trickle-headers", "headers")):
            r = reasons.get(site.base + path, "not reported")
            probe("crawler", f"{name} trickled 1 byte / {every:g} s, 5 s deadline", r[:70], "longer than 5.0 s" in r)
        r = reasons.get("http://100.100.100.200/latest/meta-data/", "not reported")
        probe("crawler", "302 to 100.100.100.200 (CGNAT metadata)", r[:70], "non-public" in r)
        probe("crawler", "whole hostile crawl finishes", f"{took:.1f} s, {len(report['errors'])} errors reported, "
              f"{len(report['fetched'])} fetched", report["fetched"] == [site.base + "/h/links", site.base + "/h/fine"]
              or site.base + "/h/fine" in report["fetched"])
        state = tmp / "crawl" / ".crawl-state.json"
        state.write_text(json.dumps({"frontier": [["hostile", "http://127.0.0.1:99999/x", 0], "junk",
                                                  ["hostile", site.base + "/h/fine", 0]], "run_complete": False}))
        rerun = Crawler([site.source(seeds=[site.base + "/h/fine"], max_depth=0)], tmp / "crawl",
                        allow_loopback=True).run().as_dict()
        dropped = sum("dropped from the saved frontier" in e["reason"] for e in rerun["errors"])
        probe("crawler", "poisoned .crawl-state.json (bad URL first)", f"{dropped} entries dropped, rerun fetched "
              f"{len(rerun['fetched'])}", dropped == 2 and rerun["fetched"] == [site.base + "/h/fine"])
        state.write_text("{not json")
        rerun = Crawler([site.source(seeds=[site.base + "/h/fine"], max_depth=0)], tmp / "crawl",
                        allow_loopback=True).run().as_dict()
        probe("crawler", ".crawl-state.json not JSON", rerun["errors"][0]["reason"][:70],
              "moved to" in rerun["errors"][0]["reason"])
    for mode, want in (("503", "disallow all"), ("slow", "disallow all"), ("reset", "disallow all"),
                       ("404", "no rules")):
        with HostileSite(robots=mode) as site:
            rep = Crawler([site.source(seeds=[site.base + "/h/fine"], max_depth=0, timeout_seconds=2.0)],
                          tmp / f"robots-{mode}", allow_loopback=True).run().as_dict()
            how = rep["robots"].get(site.base, "?")
            probe("crawler", f"robots.txt {mode}", f"{how[:60]}; fetched {len(rep['fetched'])}",
                  want in how and (len(rep["fetched"]) == (1 if mode == "404" else 0)))
    with HostileSite(robots="delay:86400") as site:
        t0 = time.monotonic()
        rep = Crawler([site.source(seeds=[site.base + "/h/fine", site.base + "/h/other"], max_depth=0,
                                   max_crawl_delay_seconds=1.0)], tmp / "delay", allow_loopback=True).run().as_dict()
        probe("crawler", "Crawl-delay: 86400", f"capped {rep['crawl_delay_capped']} -> 1 s; run {time.monotonic() - t0:.1f} s",
              bool(rep["crawl_delay_capped"]) and time.monotonic() - t0 < 20)
    for url in ("http://100.64.0.1/", "http://[64:ff9b::a9fe:a9fe]/", "http://[::ffff:10.0.0.1]/"):
        try:
            check_address(url)
            probe("crawler", f"address {url}", "allowed", False)
        except Refused as exc:
            probe("crawler", f"address {url}", f"refused: {str(exc)[:50]}", True)
    n = normalise("http://[2001:db8::1]:8080/a")
    probe("crawler", "IPv6 URL normalised", n, n == "http://[2001:db8::1]:8080/a")


# ------------------------------------------------------------------ the hostile client

def client_probes(hostile: str, open_base: str, open_pid: int) -> None:
    host, port = hostile.rsplit("/", 1)[-1].split(":")
    sent, got = 0, b""
    t0 = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"POST /ask HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 65536
        try:
            while sent < 300 * 2**20 and not got:
                s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                sent += len(chunk)
                s.setblocking(False)
                try:
                    got = s.recv(65536)
                except BlockingIOError:
                    pass
                s.setblocking(True)
        except (BrokenPipeError, ConnectionResetError):
            pass
        s.settimeout(5)
        try:
            got += s.recv(65536)
        except (TimeoutError, ConnectionResetError, OSError):
            pass
    probe("client", "300 MB chunked POST /ask (limit 64 KiB)",
          f"{status_and_type(got)} after {sent / 2**20:.1f} MiB sent, {time.monotonic() - t0:.2f} s",
          status_and_type(got).startswith("413") and sent < 64 * 2**20)
    r = raw(hostile, b"POST /ask HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 52428800\r\n\r\n")
    probe("client", "Content-Length: 50 MB", status_and_type(r), status_and_type(r) == "413 application/json")
    for value in ("é".encode(), b"\xff\xfe", "clé".encode("latin-1")):
        r = httpx.post(hostile + "/admin/reload", headers={"X-Admin-Token": value})
        probe("client", f"X-Admin-Token {value!r}", f"{r.status_code} {r.headers.get('content-type')}",
              r.status_code == 404 and r.json()["error"]["code"] == "not_found")
    codes = [httpx.post(hostile + "/ask", json={}, headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
             for i in range(15)]
    probe("client", "15 POST /ask, each a new forged X-Forwarded-For", f"statuses {codes}", 429 in codes)
    for what, req in (("1 MB URL", b"GET /search?q=" + b"a" * 2**20 + b" HTTP/1.1\r\nHost: t\r\n\r\n"),
                      ("Content-Length: abc", b"POST /ask HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n"),
                      ("two Content-Lengths", b"POST /ask HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n"
                                              b"Content-Length: 2\r\n\r\n")):
        r = raw(hostile, req)
        probe("client", what, status_and_type(r), status_and_type(r) == "400 application/json")
    r = httpx.options(hostile + "/ask")
    probe("client", "OPTIONS /ask", f"{r.status_code} Allow: {r.headers.get('allow')} {r.headers.get('content-type')}",
          r.status_code == 405 and r.headers.get("allow") == "POST")
    r = httpx.options(hostile + "/ask", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    probe("client", "CORS preflight from another origin", f"{r.status_code} {r.headers.get('content-type')}",
          r.status_code == 400 and r.headers.get("content-type") == "application/json")
    a = httpx.post(open_base + "/ask", json={"question": "What did Fatima Diallo say about online safety?",
                                             "conversation_id": "demo"}, timeout=60).json()
    b = httpx.post(open_base + "/ask", json={"question": "what did she recommend?", "conversation_id": "demo"},
                   timeout=60).json()
    probe("client", 'two clients send conversation_id "demo"', f"ids {a['conversation_id'][:8]}… and "
          f"{b['conversation_id'][:8]}…, second a follow-up: {b['query_run']['follow_up']}",
          "demo" not in (a["conversation_id"], b["conversation_id"]) and not b["query_run"]["follow_up"])
    html = httpx.get(open_base + "/docs").text
    import re

    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    probe("client", "/docs assets", ", ".join(refs), bool(refs) and all(x.startswith("/") for x in refs))
    import ask_rss

    res = ask_rss.measure(open_base, open_pid, levels=(1, 10, 40), rounds=2)
    for lv in res["levels"]:
        probe("client", f"{lv['concurrent']} concurrent POST /ask (x2)",
              f"{lv['answered']} answered, {lv['refused']} busy 503; RSS peak {lv['peak_mib']} MiB = "
              f"{lv['peak_mib'] / res['idle_mib']:.2f} x idle {res['idle_mib']} MiB",
              lv["peak_mib"] <= 1.5 * res["idle_mib"] and not lv["other"])
    st = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if st:
        with tempfile.TemporaryDirectory() as d:
            proc = subprocess.run([st, "run", f"{open_base}/openapi.json", "--checks", "all", "--max-examples", "20",
                                   "--exclude-path-regex", "^/(v1|mcp)", "--no-color"], cwd=d, capture_output=True,
                                  text=True, timeout=900)
        m = re.search(r"(\d+) generated, .*", proc.stdout)
        probe("client", "schemathesis --checks all (20 examples)", m[0] if m else proc.stdout[-80:], proc.returncode == 0)


# ------------------------------------------------------------------ the broken disk

def disk_probes(index: Path, tmp: Path) -> None:
    import random

    real = Path(os.path.realpath(index))
    cases = {"vectors.faiss truncated": ("vectors.faiss", "truncate"), "store.sqlite truncated": ("store.sqlite", "truncate"),
             "embeddings.npy truncated": ("embeddings.npy", "truncate"),
             "store.sqlite random bytes": ("store.sqlite", "scribble"), "tagger.npz random bytes": ("tagger.npz", "scribble"),
             "a keyword file missing": ("keyword", "remove"), "manifest.json not JSON": ("manifest.json", "garble")}
    for what, (name, how) in cases.items():
        copy = tmp / f"disk-{name}-{how}"
        shutil.copytree(real, copy)
        path = copy / name
        if how == "truncate":
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        elif how == "scribble":
            data = bytearray(path.read_bytes())
            rng = random.Random(1)
            at = rng.randrange(0, max(1, len(data) - 4096))
            data[at:at + 4096] = os.urandom(min(4096, len(data) - at))
            path.write_bytes(bytes(data))
        elif how == "remove":
            sorted(p for p in path.iterdir() if p.is_file())[0].unlink()
        else:
            path.write_text('{"complete": true, "counts": ')
        proc = subprocess.run([WSIS, "serve", "--index", str(copy), "--port", "9"], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        out = (proc.stdout + proc.stderr).strip()
        lines = out.splitlines()
        said = lines[-1].split("is damaged: ", 1)[-1] if lines else ""
        probe("disk", what, f"exit {proc.returncode}, one line: damaged: {said[:80]}",
              proc.returncode == 2 and len(lines) == 1 and "Traceback" not in out and "serving" not in out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    from evaluation.localserver import start, stop

    tmp = Path(tempfile.mkdtemp(prefix="wsis-attack-"))
    servers = []
    try:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "WSIS_CACHE_DIR": str(tmp / "cache")}
        index = Path(args.index) if args.index else tmp / "index"
        if not args.index:
            print("building an index of the bundled corpus ...", flush=True)
            subprocess.run([WSIS, "build", "--index", str(index), "--quiet"], env=env, check=True, capture_output=True)
        print("hostile site -> crawler", flush=True)
        crawler_probes(tmp, args.quick)
        print("hostile client -> wsis serve", flush=True)
        hostile, hostile_base = start({**env, "WSIS_INDEX_DIR": str(index), "WSIS_ADMIN_TOKEN": "clé-secrète",
                                       "WSIS_CORS_ORIGINS": '["https://wsis.example.org"]'})
        servers.append(hostile)
        open_, open_base = start({**env, "WSIS_INDEX_DIR": str(index), "WSIS_ASK_RATE_PER_MINUTE": "0"})
        servers.append(open_)
        client_probes(hostile_base, open_base, open_.pid)
        print("broken disk -> wsis serve", flush=True)
        disk_probes(index, tmp)
    finally:
        for proc in servers:
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    w = [max(len(r[i]) for r in ROWS) for i in range(3)]
    w[2] = min(w[2], 110)
    print()
    print(f"| {'area':{w[0]}} | {'probe':{w[1]}} | {'outcome':{w[2]}} | ok |")
    print(f"|{'-' * (w[0] + 2)}|{'-' * (w[1] + 2)}|{'-' * (w[2] + 2)}|----|")
    for area, what, outcome, ok in ROWS:
        print(f"| {area:{w[0]}} | {what:{w[1]}} | {outcome[:w[2]]:{w[2]}} | {'yes' if ok else 'NO'} |")
    bad = [r for r in ROWS if not r[3]]
    print(f"\n{len(ROWS) - len(bad)} of {len(ROWS)} probes ended as expected")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
