"""The OpenAI-compatible chat API through the real `openai` client: against `wsis serve` on 127.0.0.1 with the
bundled index, and in-process (TestClient as the client's HTTP transport) for the settings variants (bearer
token, rate limit, body limit, generative model)."""

from __future__ import annotations

import os
import re
import subprocess

import httpx
import openai
import pytest
from fastapi.testclient import TestClient

CITED_Q = "What did the facilitators recommend on international and regional cooperation and ICT indicators?"
OFF_TOPIC = "What is the best recipe for a chocolate cake?"


@pytest.fixture(scope="module")
def server(built_index):
    from evaluation.localserver import start, stop

    env = {**os.environ, "WSIS_INDEX_DIR": str(built_index[0]), "WSIS_ASK_RATE_PER_MINUTE": "0"}
    proc, base = start(env, output=subprocess.PIPE)
    yield base
    stop(proc)


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key="unused", max_retries=0, timeout=60)


def ask(client, *messages, **kw):
    msgs = [{"role": "user" if i % 2 == 0 else "assistant", "content": m} for i, m in enumerate(messages)]
    return client.chat.completions.create(model="wsis-extractive", messages=msgs, **kw)


def wsis(obj) -> dict:
    return obj.model_extra["wsis"]


def test_models_lists_the_answer_modes(client):
    assert [m.id for m in client.models.list()] == ["wsis-extractive"]
    assert client.models.retrieve("wsis-extractive").owned_by == "wsis-search"


def test_a_question_gets_a_cited_answer(client):
    r = ask(client, CITED_Q)
    text = r.choices[0].message.content
    assert r.object == "chat.completion" and r.choices[0].finish_reason == "stop"
    extra = wsis(r)
    assert extra["abstained"] is False and extra["citations"]
    body, _, sources = text.partition("\n\nSources:\n")
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", body)}
    assert numbers == {c["n"] for c in extra["citations"]} == set(range(1, len(extra["citations"]) + 1))
    for c in extra["citations"]:  # each number has its source line: title, kind, year
        line = next(x for x in sources.splitlines() if x.startswith(f"[{c['n']}] "))
        assert c["title"] in line and str(c["year"]) in line and c["kind"] and c["document_id"]
    cards = {p["passage_id"]: p for p in extra["passages"]}
    for item in extra["answer"]:  # each sentence is a verbatim span of a passage it cites, and is in the text
        assert item["refs"] and item["text"] in text
        assert any(item["text"] in cards[p]["text"] for p in item["citations"] if p in cards)
    assert any(c["document_id"] == "reports/c11-facilitator-report-2024.pdf" for c in extra["citations"])
    assert r.usage.completion_tokens > 0


def test_streaming_yields_chunks_and_ends(client, server):
    chunks = list(ask(client, CITED_Q, stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    content = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content) >= 3  # sentences arrive one by one, then the sources
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1 and finals[0].choices[0].finish_reason == "stop" and wsis(finals[0])["citations"]
    assert chunks[-1].usage is not None and not chunks[-1].choices
    assert "".join(content) == ask(client, CITED_Q).choices[0].message.content  # the same answer as JSON
    with httpx.stream("POST", server + "/v1/chat/completions", timeout=60,
                      json={"model": "wsis-extractive", "stream": True,
                            "messages": [{"role": "user", "content": CITED_Q}]}) as raw:
        assert raw.headers["content-type"].startswith("text/event-stream")
        events = [line for line in raw.iter_lines() if line]
    assert events[-1] == "data: [DONE]" and all(e.startswith("data: ") for e in events)


def test_a_follow_up_in_the_history_keeps_the_topic(client, server):
    first = "How do farmers get market prices and weather information?"
    previous = ask(client, first).choices[0].message.content
    r = ask(client, first, previous, "and in Kenya?")
    run = wsis(r)["query_run"]
    assert run["follow_up"] is True and "farmers" in run["text"] and "kenya" in run["text"].lower()
    assert wsis(r)["abstained"] is False
    # exactly as /ask resolves the same two questions in one conversation
    cid = httpx.post(server + "/ask", json={"question": first}, timeout=60).json()["conversation_id"]
    on_ask = httpx.post(server + "/ask", json={"question": "and in Kenya?", "conversation_id": cid}, timeout=60).json()
    assert on_ask["query_run"] == run
    # without the history the same words are no follow-up
    assert wsis(ask(client, "and in Kenya?"))["query_run"]["follow_up"] is False


def test_an_off_topic_question_abstains_as_an_ordinary_answer(client):
    r = ask(client, OFF_TOPIC)
    text = r.choices[0].message.content
    assert r.choices[0].finish_reason == "stop" and "do not cover" in text and "nearest action lines" in text
    assert wsis(r)["abstained"] is True and wsis(r)["citations"] == [] and "[1]" not in text
    streamed = "".join(c.choices[0].delta.content or "" for c in ask(client, OFF_TOPIC, stream=True) if c.choices)
    assert streamed == text


def _shape(exc: openai.APIStatusError) -> dict:
    body = exc.response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    return body["error"]


@pytest.mark.parametrize("kwargs,status,param,code", [
    ({"model": "gpt-4o"}, 404, "model", "model_not_found"),
    ({"messages": []}, 400, "messages", "invalid_request"),
    ({"messages": [{"role": "system", "content": "be brief"}]}, 400, "messages", "bad_request"),
    ({"messages": [{"role": "robot", "content": "hi"}]}, 400, "messages.0.role", "invalid_request"),
    ({"messages": [{"role": "user", "content": "x" * 1001}]}, 400, "messages", "bad_request"),
    ({"messages": [{"role": "user", "content": "action line C42: what about it?"}]}, 400, "messages", "bad_request"),
    ({"extra_body": {"filters": {"action_line": ["C42"]}}}, 400, "action_line", "bad_request"),
    ({"extra_body": {"filters": {"colour": "red"}}}, 400, "filters.colour", "invalid_request"),
    ({"n": 2}, 400, "n", "invalid_request"),
])
def test_a_bad_request_gets_the_openai_error_shape(client, kwargs, status, param, code):
    args = {"model": "wsis-extractive", "messages": [{"role": "user", "content": "What is C5 about?"}], **kwargs}
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(**args)
    assert info.value.status_code == status
    err = _shape(info.value)
    assert err["param"] == param and err["code"] == code and err["type"] == "invalid_request_error" and err["message"]


def test_other_errors_under_v1_have_the_openai_shape_too(server):
    r = httpx.post(server + "/v1/chat/completions", content=b"{not json", timeout=30,
                   headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.get(server + "/v1/nothing-here", timeout=30)
    assert r.status_code == 404 and set(r.json()["error"]) == {"message", "type", "param", "code"}
    r = httpx.get(server + "/search?q=", timeout=30)  # the rest of the API keeps its own shape
    assert r.status_code == 400 and r.json()["error"]["status"] == 400


def test_filters_from_the_extra_body_field_and_from_a_prefix(client):
    q = "How do farmers get market prices and weather information?"
    by_field = wsis(ask(client, q, extra_body={"filters": {"kind": ["stocktaking_entry"]}}))
    by_prefix = wsis(ask(client, "kind stocktaking_entry: " + q))
    for out in (by_field, by_prefix):
        assert out["query_run"]["filters"]["kinds"] == ["stocktaking_entry"]
        assert out["passages"] and all(p["kind"] == "stocktaking_entry" for p in out["passages"])
    assert by_prefix["query_run"]["text"] == by_field["query_run"]["text"]  # the prefix is not searched for
    lines = wsis(ask(client, "C7.e-agriculture: year 2023: " + q))["query_run"]["filters"]
    assert lines["action_lines"] == ["C7.e-agriculture"] and lines["year_from"] == lines["year_to"] == 2023


def test_split_prefix():
    from search_api.openai_api import split_prefix

    assert split_prefix("action line C5: what about spam?") == (
        "what about spam?", {"action_line": ["C5"], "kind": [], "role": [], "country": []})
    text, f = split_prefix("action lines C5, C7 e-health: role recommendations: years 2015-2020: country Kenya: hi")
    assert text == "hi" and f["action_line"] == ["C5", "C7 e-health"] and f["role"] == ["recommendation"]
    assert (f["year_from"], f["year_to"], f["country"]) == (2015, 2020, ["Kenya"])
    for question in ("Role of ICTs: what do reports say?", "Kind words: are they used?", "Country ownership: why?",
                     "C12: what is it?"):  # not filters: the question stays whole
        assert split_prefix(question)[0] == question


# ---------------------------------------------------------------- in-process, for the settings variants

@pytest.fixture(scope="module")
def faiss_engine(loaded, embedder):
    from search_api.engine import Engine

    return Engine(loaded, embedder)


@pytest.fixture
def make_client(faiss_engine):
    from indexer.settings import Settings
    from search_api.app import create_app

    opened = []

    def make(api_key: str = "unused", **settings):
        tc = TestClient(create_app(Settings(**{"ask_rate_per_minute": 0, **settings}), engine=faiss_engine))
        tc.__enter__()
        opened.append(tc)
        return openai.OpenAI(base_url="http://testserver/v1", api_key=api_key, http_client=tc, max_retries=0), tc

    yield make
    for tc in opened:
        tc.__exit__(None, None, None)


def test_bearer_token_when_set(make_client):
    bad, tc = make_client(api_key="wrong", api_token="s3cret")
    with pytest.raises(openai.AuthenticationError) as info:
        bad.models.list()
    assert _shape(info.value)["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        ask(bad, CITED_Q)
    assert tc.post("/mcp", json={}).status_code == 401  # the MCP endpoint too
    assert tc.get("/search?q=farmers").status_code == 200  # the rest of the API stays open
    good, _ = make_client(api_key="s3cret", api_token="s3cret")
    assert [m.id for m in good.models.list()] == ["wsis-extractive"]


def test_rate_limit_is_shared_with_ask(make_client):
    c, tc = make_client(ask_rate_per_minute=1, ask_rate_burst=2)
    assert not wsis(ask(c, CITED_Q))["abstained"]
    assert tc.post("/ask", json={"question": CITED_Q}).status_code == 200
    with pytest.raises(openai.RateLimitError) as info:
        ask(c, CITED_Q)
    err = _shape(info.value)
    assert err["code"] == "rate_limit_exceeded" and int(info.value.response.headers["retry-after"]) >= 1
    assert tc.post("/ask", json={"question": CITED_Q}).status_code == 429


def test_body_limit(make_client):
    c, _ = make_client(max_body_bytes=2_000)
    with pytest.raises(openai.APIStatusError) as info:
        ask(c, "farmers " * 400)
    assert info.value.status_code == 413 and _shape(info.value)["message"].startswith("request body over")


def test_generative_model_when_an_endpoint_is_configured(make_client):
    c, _ = make_client(llm_url="http://127.0.0.1:9/v1", llm_model="m")  # nothing listens there
    assert [m.id for m in c.models.list()] == ["wsis-extractive", "wsis-generative"]
    r = c.chat.completions.create(model="wsis-generative", messages=[{"role": "user", "content": CITED_Q}])
    extra = wsis(r)  # the endpoint fails: the extractive answer, saying why
    assert extra["answerer"] == "extractive" and "generative answerer failed" in extra["notice"]
    assert "[1]" in r.choices[0].message.content
