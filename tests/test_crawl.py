"""The crawler against a real HTTP server on 127.0.0.1 serving a site in the structure of the real ones."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import MODEL_NAME
from crawl_site import T1, T2, Site, sources_for

from indexer.crawl import Crawler, Refused, check_address, normalise


def test_normalise_and_address_checks():
    assert normalise("HTTP://Example.org:80/a//b?b=2&a=1&PHPSESSID=x&utm_source=y#frag") == "http://example.org/a/b?a=1&b=2"
    for bad in ("file:///etc/passwd", "ftp://example.org/", "http://169.254.169.254/", "http://10.1.2.3/",
                "http://192.168.0.1/", "http://[::1]/", "http://0.0.0.0/"):
        with pytest.raises(Refused):
            check_address(bad)
    with pytest.raises(Refused, match="loopback"):
        check_address("http://127.0.0.1:9/")
    check_address("http://127.0.0.1:9/", allow_loopback=True)


def test_crawl_fetches_exactly_what_it_should_and_build_reads_it(tmp_path, embedder):
    out = tmp_path / "raw"
    with Site() as site:
        report = Crawler(sources_for(site), out, allow_loopback=True).run().as_dict()
        b = site.base
        assert sorted(d["url"] for d in report["documents"]) == sorted([
            f"{b}/en/content/{T1}", f"{b}/en/content/{T2}",
            f"{b}/net4/wsis/stocktaking/Project/Details?projectId=4242", f"{b}/reports/c5.pdf"])
        assert site.hits[f"/en/content/{T1}"] == 1  # session-id and sitemap duplicates normalised away
        assert site.hits["/private/secret"] == 0
        assert f"{b}/private/secret" in report["robots_disallowed"]
        assert "http://example.com/elsewhere" in report["out_of_scope"]
        assert "http://other.example.net/x" in report["out_of_scope"]
        reasons = {e["url"]: e["reason"] for e in report["errors"]}
        assert "redirect loop" in reasons[f"{b}/en/loop1"]
        assert "byte limit" in reasons[f"{b}/en/big"]
        assert "timed out" in reasons[f"{b}/en/slow"] or "longer" in reasons[f"{b}/en/slow"]
        assert "169.254.169.254" in reasons["http://169.254.169.254/latest/meta-data"]
        assert "non-public" in reasons["http://10.0.0.1/admin"]
        assert "file" in reasons[f"{b}/en/ssrf-file"] and "file" in reasons["file:///etc/passwd"]
        assert max(int(u.split("=")[-1]) for u in report["fetched"] if "calendar" in u) <= 3  # depth cap
        assert site.hits["/robots.txt"] == 1

        # a re-crawl sends conditional requests and gets 304s
        again = Crawler(sources_for(site), out, allow_loopback=True).run().as_dict()
        assert f"{b}/en/content/{T1}" in again["not_modified"] and f"{b}/reports/c5.pdf" in again["not_modified"]
        assert site.conditional[f"/en/content/{T1}"] == 1 and site.hits[f"/en/content/{T1}"] == 2

    from indexer.build import build_index
    from indexer.chunk import ChunkSettings

    r = build_index([out], tmp_path / "index", embedder=embedder, chunk=ChunkSettings(), max_file_bytes=10**7,
                    progress=False, model_name=MODEL_NAME)
    assert r.failures == []
    assert r.documents == {"action_line_report": 1, "igf_transcript": 2, "stocktaking_entry": 1}
    entry = json.loads(next((out / "stocktaking" / "entries").glob("*.json")).read_text())["entries"][0]
    assert entry["organisation"] == "Rural Voices Network" and entry["country"] == "Malawi"
    assert entry["action_lines"][0].startswith("C7") and entry["year"] == "2023"


def test_loopback_refused_without_the_setting(tmp_path):
    with Site() as site:
        report = Crawler(sources_for(site)[:1], tmp_path / "raw", allow_loopback=False).run().as_dict()
        assert report["fetched"] == [] and sum(site.hits.values()) == 0
        assert "loopback" in report["errors"][0]["reason"]


def test_crawl_resumes_after_kill(tmp_path):
    out = tmp_path / "raw"
    with Site() as site:
        site.delay_all = 0.25
        cmd = [sys.executable, "-m", "wsis_cli.main", "crawl", "--url", site.base + "/en/transcripts",
               "--allow-host", "127.0.0.1", "--allow-path", "/en/content/", "--allow-path", "/en/transcripts",
               "--kind", "igf_transcript", "--rate-limit", "0", "--out", str(out)]
        env = {**os.environ, "WSIS_CRAWL_ALLOW_LOOPBACK": "1"}
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline and site.hits[f"/en/content/{T1}"] == 0:
            time.sleep(0.05)
        time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = json.loads((out / ".crawl-state.json").read_text())
        assert state["run_complete"] is False and state["done"]
        first_hits = sum(site.hits.values())
        rc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        assert rc.returncode == 0, rc.stdout + rc.stderr
        state = json.loads((out / ".crawl-state.json").read_text())
        assert state["run_complete"] is True
        assert site.hits["/en/transcripts"] == 1  # the listing fetched before the kill is not fetched again
        assert {p.name for p in (out / "adhoc").iterdir()} == {f"en__content__{T1}.html", f"en__content__{T2}.html"}
        assert sum(site.hits.values()) - first_hits <= 3


def test_sources_file_loads():
    from indexer.crawl import load_sources
    from indexer.settings import Settings

    src = load_sources(Settings().sources_file)
    assert {"igf-transcripts", "wsis-stocktaking", "action-line-reports"} <= set(src)
    assert src["igf-transcripts"].in_scope("https://www.intgovforum.org/en/content/igf-2020-day-3-x")
    assert not src["igf-transcripts"].in_scope("https://evil.example/en/content/igf-2020-day-3-x")
    assert src["wsis-stocktaking"].detail_patterns and src["igf-transcripts"].rate_limit_seconds >= 1
