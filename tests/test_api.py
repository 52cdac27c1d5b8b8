"""The HTTP API through TestClient (inside `with`, so the lifespan runs) on the bundled corpus."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def client(engine):
    from indexer.settings import Settings
    from search_api.app import create_app

    with TestClient(create_app(Settings(ask_rate_per_minute=0), engine=engine)) as c:
        yield c


def assert_error(r, status):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert body["error"]["status"] == status and body["error"]["code"] and body["error"]["message"]


def test_search_returns_cards_facets_and_timing(client):
    r = client.get("/search", params={"q": "community networks spectrum", "k": 5})
    assert r.status_code == 200
    j = r.json()
    assert len(j["results"]) == 5 and j["total"] >= 5
    card = j["results"][0]
    for key in ("passage_id", "score", "text", "snippet", "document_id", "title", "kind", "year", "source", "url",
                "page", "speaker", "action_lines", "role", "sdgs"):
        assert key in card
    assert j["query_run"]["text"] == "community networks spectrum"
    assert "Server-Timing" in r.headers and "encode;dur=" in r.headers["Server-Timing"]
    assert {"action_line", "kind", "role", "year"} <= set(j["facets"])
    # facet counts add up over the whole match set
    assert sum(j["facets"]["kind"].values()) == j["total"]
    assert sum(j["facets"]["role"].values()) == j["total"]


def test_filters_narrow_results_and_agree_with_facets(client):
    base = client.get("/search", params={"q": "training teachers digital skills", "k": 100}).json()
    f = client.get("/search", params={"q": "training teachers digital skills", "k": 100,
                                      "kind": "stocktaking_entry", "action_line": "C4"}).json()
    assert 0 < f["total"] < base["total"]
    for c in f["results"]:
        assert c["kind"] == "stocktaking_entry"
        assert "C4" in {t["line"] for t in c["action_lines"]}
    assert set(f["facets"]["kind"]) == {"stocktaking_entry"}
    # recall is not lost by filtering: a C4 entry found unfiltered is found filtered too (C4 among its tags
    # scoring at least the index's filter threshold: a filter counts every such tag, not only the first)
    from indexer.tag import FILTER_THRESHOLD

    unfiltered_c4 = [c["passage_id"] for c in base["results"] if c["kind"] == "stocktaking_entry"
                     and any(t["line"] == "C4" and t["score"] >= FILTER_THRESHOLD for t in c["action_lines"])]
    assert unfiltered_c4
    assert set(unfiltered_c4) <= {c["passage_id"] for c in f["results"]}
    y = client.get("/search", params={"q": "broadband", "year_from": 2023, "year_to": 2024, "k": 50}).json()
    assert y["results"] and all(2023 <= c["year"] <= 2024 for c in y["results"])
    sub = client.get("/search", params={"q": "health", "action_line": "C7.e-health", "role": "recommendation"}).json()
    assert sub["results"] and all(c["role"] == "recommendation" for c in sub["results"])
    parent = client.get("/search", params={"q": "health", "action_line": "C7", "k": 100}).json()
    assert parent["total"] >= sub["total"]


def test_pagination_and_group_by_document(client):
    p1 = client.get("/search", params={"q": "internet", "k": 5}).json()["results"]
    p2 = client.get("/search", params={"q": "internet", "k": 5, "offset": 5}).json()["results"]
    assert not {c["passage_id"] for c in p1} & {c["passage_id"] for c in p2}
    g = client.get("/search", params={"q": "cybersecurity", "k": 20, "group_by": "document"}).json()["results"]
    docs = [c["document_id"] for c in g]
    assert len(docs) == len(set(docs))


def test_snippets_are_html_escaped(client):
    j = client.get("/search", params={"q": "ethics course web security script alert", "k": 10}).json()
    card = next(c for c in j["results"] if "<script>" in c["text"])
    snip = card["snippet"]
    assert "<script" not in snip and "&lt;" in snip and "&gt;" in snip
    assert "<mark>" in snip
    # the only tags in a snippet are the highlight marks
    import re
    assert set(re.findall(r"</?[a-z]+", snip)) <= {"<mark", "</mark"}
    j = client.get("/search", params={"q": "<img src=x onerror=alert(1)> security"}).json()
    assert all("<img" not in c["snippet"] for c in j["results"])


def test_document_and_passage(client):
    doc_id = "reports/c5-facilitator-report-2024.pdf"
    d = client.get(f"/documents/{doc_id}").json()
    assert d["title"].startswith("Sample: Action Line C5") and d["kind"] == "action_line_report"
    assert d["passages"] and d["sections"] and d["text"]
    pid = d["passages"][1]["passage_id"]
    p = client.get("/passages/" + quote(pid, safe="")).json()
    assert p["passage_id"] == pid and p["document_id"] == doc_id
    assert [x["passage_id"] for x in p["previous"]] == [d["passages"][0]["passage_id"]]
    assert p["next"] and p["next"][0]["ordinal"] == 2


def test_related_excludes_the_document_itself(client):
    doc_id = "stocktaking/2021/S050"
    r = client.get("/related", params={"document_id": doc_id}).json()
    assert r["initiatives"] and r["discussions"] and r["recommendations"]
    assert doc_id not in {c["document_id"] for c in r["initiatives"]}
    assert all(c["kind"] == "stocktaking_entry" for c in r["initiatives"])
    assert all(c["kind"] == "igf_transcript" for c in r["discussions"])
    assert all(c["role"] == "recommendation" for c in r["recommendations"])
    assert r["discussions"][0]["document_id"].endswith("digital-agriculture-for-smallholder-farmers.html")
    assert any("C7.e-agriculture" in c["why"]["shared_action_lines"] for c in r["initiatives"])
    t = client.get("/related", params={"text": "telemedicine for remote islands"}).json()
    assert t["initiatives"][0]["why"]["similarity"] > 0.3


def test_action_lines_health_stats(client):
    al = client.get("/action-lines").json()["action_lines"]
    assert len(al) == 18 and al[0]["code"] == "C1" and al[6]["code"] == "C7.e-government"
    c11 = next(a for a in al if a["code"] == "C11")
    assert c11["by_role"]["recommendation"] >= 1 and c11["facilitators"] == ["UNDESA"]
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/stats").json()["counts"]["passages"] > 100
    assert client.get("/openapi.json").json()["paths"]["/search"]


@pytest.mark.parametrize("path,params,status", [
    ("/search", {"q": ""}, 400),
    ("/search", {}, 400),
    ("/search", {"q": "   \x00\x01 "}, 400),
    ("/search", {"q": "x" * 1001}, 422),
    ("/search", {"q": "ok", "action_line": "C99"}, 400),
    ("/search", {"q": "ok", "kind": "novel"}, 400),
    ("/search", {"q": "ok", "role": "hero"}, 400),
    ("/search", {"q": "ok", "k": 0}, 422),
    ("/search", {"q": "ok", "k": 101}, 422),
    ("/search", {"q": "ok", "k": "ten"}, 422),
    ("/search", {"q": "ok", "offset": -1}, 422),
    ("/search", {"q": "ok", "offset": 10**9}, 422),
    ("/search", {"q": "ok", "mode": "magic"}, 422),
    ("/documents/no/such/doc", {}, 404),
    ("/documents/../../etc/passwd", {}, 404),
    ("/passages/nope::3", {}, 404),
    ("/related", {}, 400),
    ("/related", {"document_id": "nope"}, 404),
    ("/no-such-route", {}, 404),
])
def test_bad_input_gets_the_error_shape(client, path, params, status):
    assert_error(client.get(path, params=params), status)


def test_an_inverted_year_range_is_an_empty_range(client):
    # not a 400: the OpenAPI document cannot state "year_from <= year_to", so the server takes every pair its
    # schema allows, and from 2020 to 2010 matches nothing (issue 17: the contract is what the server does)
    r = client.get("/search", params={"q": "broadband", "year_from": 2020, "year_to": 2010})
    assert r.status_code == 200 and r.json()["total"] == 0 and r.json()["results"] == []


def test_unknown_parameters_are_ignored_and_control_chars_cleaned(client):
    r = client.get("/search", params={"q": "broad\x00band\x07", "debug": "1"})
    assert r.status_code == 200 and r.json()["query"] == "broad band"


def test_app_factory_loads_the_index_and_warms_the_encoder(built_index, monkeypatch):
    import time

    from indexer.settings import Settings
    from search_api.app import create_app

    settings = Settings(index_dir=built_index[0])
    with TestClient(create_app(settings)) as c:
        first = c.get("/search", params={"q": "community networks"})
        assert first.status_code == 200 and first.json()["results"]
        deadline = time.time() + 60
        while c.get("/health").json()["encoder"] != "ready" and time.time() < deadline:
            time.sleep(0.2)
        assert c.get("/health").json()["encoder"] == "ready"
        later = c.get("/search", params={"q": "community networks"}).json()
        assert later["query_run"]["mode"] == "hybrid" and "notice" not in later


def test_loader_refuses_an_index_of_another_model(built_index):
    from indexer.index import IndexError_
    from indexer.settings import Settings
    from search_api.app import create_app

    settings = Settings(index_dir=built_index[0], model_name="another/model")
    with pytest.raises(IndexError_):
        with TestClient(create_app(settings)):
            pass
