"""The API data the page draws: results grouped by document, browsing a filter without a query, facet
counts before a search, one action line's dashboard (on the bundled corpus, through TestClient)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def client(loaded, embedder):
    from indexer.settings import Settings
    from search_api.app import create_app
    from search_api.engine import Engine

    with TestClient(create_app(Settings(ask_rate_per_minute=0), engine=Engine(loaded, embedder))) as c:
        yield c


def test_grouped_search_one_card_per_document_with_its_other_passages(client):
    flat = client.get("/search", params={"q": "community networks", "k": 100}).json()
    g = client.get("/search", params={"q": "community networks", "k": 100, "group_by": "document"}).json()
    docs = [c["document_id"] for c in g["results"]]
    assert len(docs) == len(set(docs)) == g["documents"] == g["total"]
    # the documents in the order of their best passage in the flat ranking, the other passages under them
    flat_docs = list(dict.fromkeys(c["document_id"] for c in flat["results"]))
    assert docs[:10] == flat_docs[:10]
    by_doc = {}
    for c in flat["results"]:
        by_doc.setdefault(c["document_id"], []).append(c["passage_id"])
    for card in g["results"]:
        assert card["passage_id"] == by_doc[card["document_id"]][0]
        assert card["more_count"] == len(by_doc[card["document_id"]]) - 1
        assert [m["passage_id"] for m in card["more"]] == by_doc[card["document_id"]][1:6]
    assert any(c["more_count"] for c in g["results"])
    assert g["passages_matched"] == flat["total"] and g["facets"] == flat["facets"]
    rel = g["relevant"]
    assert rel["cosine"] == 0.4 and 0 < rel["documents"] <= rel["passages"] <= g["passages_ranked"]
    page2 = client.get("/search", params={"q": "community networks", "k": 5, "offset": 5, "group_by": "document"}).json()
    assert [c["document_id"] for c in page2["results"]] == docs[5:10]
    assert client.get("/search", params={"q": "community networks", "group_by": "document", "mode": "bm25"}).json()[
        "relevant"] is None


def test_browse_lists_a_filter_most_recent_first(client):
    b = client.get("/browse", params={"action_line": "C5", "k": 100}).json()
    f = client.get("/facets", params={"action_line": "C5"}).json()
    assert b["passages_matched"] == f["passages"] == f["facets"]["action_line"]["C5"] > 0
    assert b["documents"] == f["documents"] == b["total"] == len(b["results"])
    years = [c["year"] or 0 for c in b["results"]]
    assert years == sorted(years, reverse=True)
    assert sum(1 + c["more_count"] for c in b["results"]) == b["passages_matched"]
    flat = client.get("/browse", params={"action_line": "C5", "role": "recommendation", "group_by": "none",
                                         "k": 100}).json()
    assert flat["total"] == len(flat["results"]) and all(c["role"] == "recommendation" for c in flat["results"])
    assert client.get("/browse", params={"role": "hero"}).status_code == 400


def test_facets_of_the_whole_corpus(client):
    f = client.get("/facets").json()
    stats = client.get("/stats").json()
    assert f["passages"] == stats["counts"]["passages"] and f["documents"] == stats["counts"]["documents"]
    assert sum(f["facets"]["kind"].values()) == f["passages"] == sum(f["facets"]["role"].values())
    assert all(f["facets"]["action_line"].get(c, 0) > 0 for c in ("C1", "C5", "C11"))


def test_action_line_dashboard(client):
    d = client.get("/action-lines/C5").json()
    assert d["code"] == "C5" and d["facilitators"] == ["ITU"] and "cybersecurity" in d["description"]
    f = client.get("/facets", params={"action_line": "C5"}).json()
    assert d["passages"] == f["passages"] and d["documents"] == f["documents"]
    assert d["by_role"] == {r: f["facets"]["role"].get(r, 0) for r in d["by_role"]}
    assert sum(n for y in d["year_role"].values() for n in y.values()) + d["undated"] == d["passages"]
    assert sum(n for y in d["year_kind"].values() for n in y.values()) + d["undated"] == d["passages"]
    recs = d["recent"]["recommendation"]
    assert recs and all(c["role"] == "recommendation" for c in recs)
    assert len({c["document_id"] for c in recs}) == len(recs)
    years = [c["year"] or 0 for c in recs]
    assert years == sorted(years, reverse=True)
    assert all(c["citation"].startswith(c["title"]) and str(c["year"]) in c["citation"] for c in recs)
    assert all("?" not in c["snippet"].split(" ")[0] for c in recs)
    assert d["recent"]["challenge"] and d["igf_session_count"] >= 1
    s = d["igf_sessions"][0]
    assert s["passages"] >= 1 and s["title"] and s["passages"] == max(x["passages"] for x in d["igf_sessions"])
    for pid in [s["passage_id"], *s["passage_by_role"].values()]:  # where the page opens the session
        p = client.get(f"/passages/{pid}").json()
        assert p["document_id"] == s["document_id"] and "C5" in str(p["action_lines"])
    assert {p: client.get(f"/passages/{pid}").json()["role"] for p, pid in s["passage_by_role"].items()} == \
        {r: r for r in s["passage_by_role"]}
    assert client.get("/action-lines/c5").json()["code"] == "C5"
    assert client.get("/action-lines/C7").json()["sub_lines"][0] == "C7.e-government"
    r = client.get("/action-lines/C99")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_role_excerpt_skips_questions():
    from search_api.dashboard import role_excerpt

    text = "What are your recommendations for small states? Governments should fund a national CERT. Thanks."
    assert role_excerpt(text, "recommendation").startswith("… Governments should fund")
    assert role_excerpt("A <b> barrier remains.", "challenge") == "A &lt;b&gt; barrier remains."
