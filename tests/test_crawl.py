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
               "--allow-host", f"127.0.0.1:{site.port}", "--allow-path", "/en/content/", "--allow-path", "/en/transcripts",
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


# ------------------------------------------------------------------ a hostile site (issue 17: items 3-6)

def _crawl_in_thread(crawler, limit: float):
    """Run a crawl with a time limit of the test's own: (report dict or None, seconds, exception)."""
    import threading

    box: dict = {}

    def work():
        try:
            box["report"] = crawler.run().as_dict()
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            box["error"] = exc

    t0 = time.monotonic()
    th = threading.Thread(target=work, daemon=True)
    th.start()
    th.join(limit)
    return box.get("report"), time.monotonic() - t0, box.get("error")


def test_hostile_links_and_trickling_responses_never_stop_the_crawl(tmp_path):
    from crawl_site import HostileSite

    with HostileSite(trickle_every=0.5, trickle_for=15) as site:
        crawler = Crawler([site.source(timeout_seconds=1.5)], tmp_path / "raw", allow_loopback=True)
        report, seconds, error = _crawl_in_thread(crawler, 40)
        assert error is None, repr(error)
        assert report is not None, "the crawl did not end within 40 s"
        reasons = {e["url"]: e["reason"] for e in report["errors"]}
        assert f"{site.base}/h/fine" in report["fetched"]
        assert "99999" in " ".join(reasons) or any("99999" in r for r in reasons.values())
        assert any("[::1/x" in u for u in reasons), reasons
        assert "99999" in reasons[f"{site.base}/h/redirect-badport"]
        assert "location" in reasons[f"{site.base}/h/redirect-badv6"].lower()  # reported by httpx or by us
        # a response that trickles a byte every 0.5 s is cut at the 1.5 s deadline, headers included
        for path in ("/h/trickle-body", "/h/trickle-headers"):
            assert "longer than 1.5 s" in reasons[site.base + path], reasons.get(site.base + path)
        assert seconds < 12, f"two trickling responses held the crawl for {seconds:.1f} s"
        # carrier-grade NAT behind a redirect: refused by address, before scope
        assert "non-public" in reasons["http://100.100.100.200/latest/meta-data/"]
        state = json.loads((tmp_path / "raw" / ".crawl-state.json").read_text())
        assert state["run_complete"] is True and state["frontier"] == []


def test_a_poisoned_or_corrupt_state_file_does_not_crash_the_rerun(tmp_path):
    from crawl_site import HostileSite

    out = tmp_path / "raw"
    out.mkdir()
    with HostileSite() as site:
        src = site.source(seeds=[site.base + "/h/fine"], max_depth=0)
        (out / ".crawl-state.json").write_text(json.dumps({
            "frontier": [["hostile", "http://127.0.0.1:99999/x", 0], ["hostile", "http://[::1/x", 0], "garbage",
                         ["hostile", "http://127.0.0.1:1/a b", "deep"], ["hostile", site.base + "/h/fine", 0]],
            "seen": [1, 2], "pages": {"x": 1}, "done": None, "run_complete": False}))
        report = Crawler([src], out, allow_loopback=True).run().as_dict()
        assert report["fetched"] == [site.base + "/h/fine"]
        dropped = [e for e in report["errors"] if "dropped from the saved frontier" in e["reason"]]
        assert len(dropped) == 4, report["errors"]
        assert json.loads((out / ".crawl-state.json").read_text())["run_complete"] is True

        (out / ".crawl-state.json").write_text('{"frontier": [["hostile", "http://127.0.0.1:99999/x"')
        report = Crawler([src], out, allow_loopback=True).run().as_dict()
        assert "moved to .crawl-state.json.corrupt" in report["errors"][0]["reason"]
        assert (out / ".crawl-state.json.corrupt").exists() and report["fetched"] == [site.base + "/h/fine"]


@pytest.mark.parametrize("mode", ["503", "slow", "reset"])
def test_unreachable_robots_txt_means_disallow_all(tmp_path, mode):
    from crawl_site import HostileSite

    with HostileSite(robots=mode) as site:
        report = Crawler([site.source(timeout_seconds=1.5)], tmp_path / "raw", allow_loopback=True).run().as_dict()
        assert report["fetched"] == [] and site.hits["/h/links"] == 0
        assert report["robots_disallowed"] == [site.base + "/h/links"]
        assert "disallow all" in report["robots"][site.base]


def test_robots_txt_404_means_no_rules_and_crawl_delay_is_capped(tmp_path):
    from crawl_site import HostileSite

    with HostileSite(robots="404") as site:
        report = Crawler([site.source(seeds=[site.base + "/h/fine"], max_depth=0)], tmp_path / "a",
                         allow_loopback=True).run().as_dict()
        assert report["fetched"] == [site.base + "/h/fine"] and "unavailable" in report["robots"][site.base]
    with HostileSite(robots="delay:86400") as site:
        src = site.source(seeds=[site.base + "/h/fine", site.base + "/h/missing"], max_depth=0,
                          max_crawl_delay_seconds=0.5)
        report, seconds, error = _crawl_in_thread(Crawler([src], tmp_path / "b", allow_loopback=True), 20)
        assert error is None and report is not None, "a Crawl-delay of one day was obeyed"
        assert report["fetched"] == [site.base + "/h/fine"] and seconds < 10
        assert report["crawl_delay_capped"] == {f"127.0.0.1:{site.port}": 86400.0}


def test_address_checks_use_is_global_and_scope_checks_the_port():
    from indexer.crawl import check_literal
    from indexer.crawl_rules import SourceConfig

    for bad in ("http://100.64.0.1/", "http://100.100.100.200/latest/meta-data/", "http://[::ffff:100.64.0.1]/",
                "http://[64:ff9b::a9fe:a9fe]/", "http://[2002:a9fe:a9fe::1]/", "http://198.18.0.1/",
                "http://192.0.2.1/", "http://[fd00::1]/", "http://[fe80::1]/", "http://240.0.0.1/"):
        with pytest.raises(Refused):
            check_literal(bad)
        with pytest.raises(Refused):
            check_address(bad)
    check_literal("http://8.8.8.8/")
    assert normalise("HTTP://[2001:DB8::1]:8080/a?b=1") == "http://[2001:db8::1]:8080/a?b=1"
    assert normalise("https://[2001:db8::1]:443/") == "https://[2001:db8::1]/"
    assert normalise("http://user:pw@Example.org/") == "http://example.org/"
    for bad in ("http://127.0.0.1:99999/x", "http://[::1/x", "http://h:abc/", "http://exa\x00mple.org/"):
        with pytest.raises(Refused):
            normalise(bad)
    src = SourceConfig(name="s", kind="reference", seeds=[], allow_hosts=["www.itu.int", "127.0.0.1:8081", "[::1]:9000"])
    assert src.in_scope("https://www.itu.int/x") and src.in_scope("http://www.itu.int:80/x")
    assert not src.in_scope("https://www.itu.int:8443/x") and not src.in_scope("http://www.itu.int:443/x")
    assert src.in_scope("http://127.0.0.1:8081/") and not src.in_scope("http://127.0.0.1:8082/")
    assert src.in_scope("http://[::1]:9000/") and not src.in_scope("http://[::1]:9001/")
    assert not src.in_scope("http://127.0.0.1:99999/")
