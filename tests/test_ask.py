"""Question answering: cited extractive answers, abstention, follow-ups, streaming."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def client(engine):
    from indexer.settings import Settings
    from search_api.app import create_app

    with TestClient(create_app(Settings(ask_rate_per_minute=0), engine=engine)) as c:
        yield c


def passages_by_id(resp):
    return {p["passage_id"]: p for p in resp["passages"]}


def assert_verbatim(resp):
    cards = passages_by_id(resp)
    for sent in resp["answer"]:
        assert sent["citations"], sent
        for pid in sent["citations"]:
            assert sent["text"] in cards[pid]["text"], (sent["text"], pid)


def test_c11_recommendations_question_cites_the_c11_report(client):
    r = client.post("/ask", json={"question": "What did the facilitators recommend on international and regional "
                                              "cooperation and ICT indicators?"}).json()
    assert r["abstained"] is False
    assert 2 <= len(r["answer"]) <= 5
    assert_verbatim(r)
    cited = {pid for s in r["answer"] for pid in s["citations"]}
    cards = passages_by_id(r)
    assert any(cards[p]["document_id"] == "reports/c11-facilitator-report-2024.pdf"
               and cards[p]["role"] == "recommendation" for p in cited)
    assert r["conversation_id"] and r["related_initiatives"]


@pytest.mark.parametrize("q", ["What is the best recipe for a chocolate cake?",
                               "Who won the football world cup final?"])
def test_off_topic_question_abstains(client, q):
    r = client.post("/ask", json={"question": q}).json()
    assert r["abstained"] is True
    assert len(r["answer"]) == 1 and r["answer"][0]["citations"] == []
    assert "do not cover" in r["answer"][0]["text"]
    assert r["answer"][0]["nearest_action_lines"]


def test_follow_up_inherits_topic_and_filters(client):
    first = client.post("/ask", json={"question": "How do farmers get market prices and weather information?",
                                      "filters": {"kind": ["stocktaking_entry"]}}).json()
    cid = first["conversation_id"]
    assert all(p["kind"] == "stocktaking_entry" for p in first["passages"])
    follow = client.post("/ask", json={"question": "and in Kenya?", "conversation_id": cid}).json()
    assert follow["conversation_id"] == cid
    run = follow["query_run"]
    assert run["follow_up"] is True and "farmers" in run["text"] and "kenya" in run["text"].lower()
    assert run["filters"]["kinds"] == ["stocktaking_entry"]
    assert all(p["kind"] == "stocktaking_entry" for p in follow["passages"])
    assert_verbatim(follow)
    roles = client.post("/ask", json={"question": "what about the challenges?", "conversation_id": cid}).json()
    assert roles["query_run"]["filters"]["roles"] == ["challenge"]


def test_stream_parses_and_ends(client):
    with client.stream("POST", "/ask/stream", json={"question": "How are national CERTs fighting ransomware?"}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        body = "".join(r.iter_text())
    events = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    names = [e for e, _ in events]
    assert names[0] == "meta" and names[1] == "passages" and names[-1] == "done"
    assert names.index("passages") < names.index("sentence")
    cards = {c["passage_id"]: c for c in events[1][1]}
    for name, data in events:
        if name == "sentence":
            assert all(data["text"] in cards[p]["text"] for p in data["citations"])


@pytest.mark.parametrize("body,status", [
    ({}, 422), ({"question": ""}, 422), ({"question": "x" * 1001}, 422), ({"question": "ok", "extra": 1}, 422),
    ({"question": "ok", "filters": {"action_line": ["C42"]}}, 400), ({"question": "\x00\x00"}, 400),
])
def test_ask_bad_input(client, body, status):
    r = client.post("/ask", json=body)
    assert r.status_code == status and r.json()["error"]["status"] == status


def test_conversations_are_bounded():
    from search_api.answer import Conversations

    c = Conversations(max_count=3, max_age_s=3600)
    ids = [c.get_or_create(None).id for _ in range(10)]
    assert len(c) == 3 and c.get_or_create(ids[-1]).id == ids[-1]


def test_cli_ask(built_index, capsys, monkeypatch):
    from wsis_cli import main as cli
    from indexer.settings import get_settings

    monkeypatch.setenv("WSIS_INDEX_DIR", str(built_index[0]))
    get_settings.cache_clear()
    assert cli.main(["ask", "How can children be protected from grooming online?"]) == 0
    out = capsys.readouterr().out
    assert "[1]" in out and "\n[1] " in out
    get_settings.cache_clear()


def test_generative_answerer_keeps_only_cited_sentences(engine):
    """Against a loopback server speaking the OpenAI chat-completions protocol (no model ships here)."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from search_api.answer import Conversations, answer_json
    from search_api.filters import Filters
    from search_api.generate import ChatAnswerer

    seen = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            seen["body"] = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            content = ("National CERTs share indicators within hours [1]. This sentence cites nothing. "
                       "Regional teams serve small islands [2][9].")
            data = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    srv = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        gen = ChatAnswerer(f"http://127.0.0.1:{srv.server_port}/v1", "local-model")
        convs = Conversations()
        out = answer_json(engine, "How do CERTs cooperate against ransomware?", Filters(), convs.get_or_create(None),
                          convs, generator=gen)
        assert out["answerer"] == "generative"
        assert [s["text"] for s in out["answer"]] == ["National CERTs share indicators within hours.",
                                                      "Regional teams serve small islands."]
        ids = [c["passage_id"] for c in out["passages"]]
        assert out["answer"][0]["citations"] == [ids[0]] and out["answer"][1]["citations"] == [ids[1]]
        assert seen["body"]["model"] == "local-model" and "[1]" in seen["body"]["messages"][1]["content"]
    finally:
        srv.shutdown()
    # an unreachable endpoint falls back to the extractive answer
    dead = ChatAnswerer("http://127.0.0.1:9/v1", "m", timeout_s=1)
    out = answer_json(engine, "How do CERTs cooperate against ransomware?", Filters(), convs.get_or_create(None),
                      convs, generator=dead)
    assert out["answerer"] == "extractive" and "failed" in out["notice"] and out["answer"]
