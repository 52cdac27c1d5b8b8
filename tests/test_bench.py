"""`wsis bench --quick` runs end to end (components and HTTP on 127.0.0.1) and writes valid JSON."""

import json

from wsis_cli import main as cli


def test_bench_quick_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert cli.main(["bench", "--quick", "--work", str(tmp_path / "work"), "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    b = r["scales"]["bundled"]
    for key in ("encode_alone", "bm25s_alone", "faiss_flat_alone", "engine_python"):
        assert b["components"][key]["p50_ms"] > 0
    assert b["components"]["ratio_engine_to_bare_p50"] > 0
    assert b["http"]["http_c1"]["qps"] > 0 and b["http"]["http_c4"]["p99_ms"] > 0
    assert b["http"]["cold_start_s_first_200_search"] > 0 and b["http"]["rss_mib_after_load"] > 0
    assert b["build"]["passages"] > 100
    assert r["env"]["versions"]["faiss"] and r["env"]["dtype"] in ("fp32", "bf16")
    assert "engine / (encode + flat + bm25)" in capsys.readouterr().out
