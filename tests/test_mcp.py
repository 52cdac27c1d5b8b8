"""The MCP server through the real `mcp` client SDK, over streamable HTTP (`wsis serve` at /mcp on 127.0.0.1)
and over stdio (`wsis mcp` as a subprocess), on the bundled index: tools listed with readable schemas, each
tool called, results valid against the output schemas, bad calls as tool errors."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

TOOLS = {"search", "ask", "related", "get_document", "action_lines"}
ENTRY = "stocktaking/2023/S077"  # a community network in Nepal
SESSION = "transcripts/igf-2023-day-2-dc-community-networks-last-mile-connectivity.html"


@pytest.fixture(scope="module")
def http_url(built_index):
    from evaluation.localserver import start, stop

    env = {**os.environ, "WSIS_INDEX_DIR": str(built_index[0]), "WSIS_ASK_RATE_PER_MINUTE": "0"}
    proc, base = start(env, output=subprocess.PIPE)
    yield base + "/mcp"
    stop(proc)


@pytest.fixture(scope="module")
def stdio_params(built_index):
    wsis = shutil.which("wsis", path=str(Path(sys.executable).parent)) or "wsis"
    return StdioServerParameters(command=wsis, args=["mcp", "--index", str(built_index[0])],
                                 env={**os.environ, "HF_HUB_OFFLINE": "1"})


def run(coro):
    return asyncio.run(coro)


async def exercise(client: Client) -> dict:
    """List the tools and call each; returns what each call gave, for the assertions."""
    listed = {t.name: t for t in (await client.list_tools()).tools}
    out = {"tools": listed}
    out["search"] = await client.call_tool("search", {"query": "community networks last mile", "k": 3})
    out["search_filtered"] = await client.call_tool(
        "search", {"query": "farmers market prices", "kind": ["stocktaking_entry"], "action_line": ["C7.e-agriculture"]})
    out["ask"] = await client.call_tool("ask", {"question": "How do farmers get market prices and weather information?"})
    cid = out["ask"].structured_content["conversation_id"]
    out["follow_up"] = await client.call_tool("ask", {"question": "and in Kenya?", "conversation_id": cid})
    out["abstain"] = await client.call_tool("ask", {"question": "What is the best recipe for a chocolate cake?"})
    doc = SESSION
    out["related_doc"] = await client.call_tool("related", {"document_id": ENTRY, "k": 3})
    out["related_text"] = await client.call_tool("related", {"text": "mobile weather alerts for smallholder farmers"})
    out["document"] = await client.call_tool("get_document", {"document_id": doc, "max_chars": 500})
    out["document_next"] = await client.call_tool("get_document", {"document_id": doc, "offset": 500, "max_chars": 500})
    out["action_lines"] = await client.call_tool("action_lines", {})
    out["errors"] = {name: await client.call_tool(tool, args) for name, (tool, args) in {
        "unknown line": ("search", {"query": "spam", "action_line": ["C42"]}),
        "wrong type": ("search", {"query": 5}),
        "missing": ("ask", {}),
        "out of range": ("search", {"query": "spam", "k": 500}),
        "unknown kind": ("search", {"query": "spam", "kind": ["novel"]}),
        "unknown document": ("get_document", {"document_id": "no/such/doc"}),
        "both seeds": ("related", {"document_id": ENTRY, "text": "farmers"}),
        "no seed": ("related", {}),
        "empty question": ("ask", {"question": "\x00 \x01"}),
    }.items()}
    out["after_errors"] = await client.call_tool("search", {"query": "community networks", "k": 1})
    try:  # an unknown tool: a tool error or a protocol error, not a crash
        out["unknown_tool"] = (await client.call_tool("no_such_tool", {})).is_error
    except MCPError:
        out["unknown_tool"] = True
    out["templates"] = (await client.list_resource_templates()).resource_templates
    out["resource"] = await client.read_resource("wsis://documents/" + ENTRY)
    try:
        await client.read_resource("wsis://documents/no/such/doc")
        out["missing_resource"] = None
    except MCPError as exc:
        out["missing_resource"] = exc
    return out


def check(out: dict) -> None:
    tools = out["tools"]
    assert set(tools) == TOOLS
    for name, tool in tools.items():
        assert len(tool.description) > 60, name  # what the tool does, for the assistant
        jsonschema.Draft202012Validator.check_schema(tool.input_schema)
        jsonschema.Draft202012Validator.check_schema(tool.output_schema)
        for prop, schema in tool.input_schema.get("properties", {}).items():
            assert schema.get("description"), f"{name}.{prop} has no description"
    assert tools["search"].input_schema["required"] == ["query"]
    kinds = tools["search"].input_schema["properties"]["kind"]["anyOf"][0]["items"]["enum"]
    assert "igf_transcript" in kinds

    for key, tool in [("search", "search"), ("search_filtered", "search"), ("ask", "ask"), ("follow_up", "ask"),
                      ("abstain", "ask"), ("related_doc", "related"), ("related_text", "related"),
                      ("document", "get_document"), ("document_next", "get_document"),
                      ("action_lines", "action_lines"), ("after_errors", "search")]:
        res = out[key]
        assert not res.is_error, (key, res.content)
        assert res.content[0].text.strip(), key
        jsonschema.validate(res.structured_content, tools[tool].output_schema)

    search = out["search"].structured_content
    assert len(search["results"]) == 3 and search["total"] >= 3
    assert "[1]" in out["search"].content[0].text and search["results"][0]["title"] in out["search"].content[0].text
    assert all(r["kind"] == "stocktaking_entry" and "C7.e-agriculture" in r["action_lines"]
               for r in out["search_filtered"].structured_content["results"])

    ask = out["ask"].structured_content
    assert ask["abstained"] is False and ask["citations"] and "[1]" in ask["answer"] and "Sources:" in ask["answer"]
    follow = out["follow_up"].structured_content["query_run"]
    assert follow["follow_up"] is True and "farmers" in follow["text"] and "kenya" in follow["text"].lower()
    abstain = out["abstain"].structured_content
    assert abstain["abstained"] is True and abstain["citations"] == [] and "do not cover" in abstain["answer"]

    rel = out["related_doc"].structured_content
    assert rel["initiatives"] and all(i["document_id"] != ENTRY for i in rel["initiatives"])
    assert "why:" in out["related_doc"].content[0].text
    assert out["related_text"].structured_content["initiatives"]

    doc, nxt = out["document"].structured_content, out["document_next"].structured_content
    assert len(doc["text"]) == 500 and doc["passages"] and doc["text_length"] > 500
    assert nxt["offset"] == 500 and nxt["text"] != doc["text"]
    assert len(out["action_lines"].structured_content["action_lines"]) == 18  # C1-C11 less C7, and its 8 sub-lines

    for name, res in out["errors"].items():
        assert res.is_error, name
        assert res.content[0].text, name
    assert "C42" in out["errors"]["unknown line"].content[0].text
    assert "no document" in out["errors"]["unknown document"].content[0].text
    assert "exactly one" in out["errors"]["both seeds"].content[0].text
    assert out["unknown_tool"] is True

    assert [t.uri_template for t in out["templates"]] == ["wsis://documents/{+document_id}"]
    assert json.loads(out["resource"].contents[0].text)["id"] == ENTRY
    assert out["missing_resource"] is not None


def test_streamable_http(http_url):
    async def main():
        async with Client(http_url) as client:
            return await exercise(client)

    check(run(main()))


def test_stdio(stdio_params):
    async def main():
        async with Client(stdio_params) as client:
            return await exercise(client)

    check(run(main()))


def test_http_bearer_token_and_rate_limit(built_index):
    from evaluation.localserver import start, stop

    env = {**os.environ, "WSIS_INDEX_DIR": str(built_index[0]), "WSIS_API_TOKEN": "s3cret",
           "WSIS_ASK_RATE_PER_MINUTE": "1", "WSIS_ASK_RATE_BURST": "1"}
    proc, base = start(env, output=subprocess.PIPE)

    async def main(token: str | None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        transport = streamable_http_client(base + "/mcp", http_client=create_mcp_http_client(headers=headers))
        async with Client(transport) as client:
            first = await client.call_tool("ask", {"question": "What do community networks need?"})
            second = await client.call_tool("ask", {"question": "What do community networks need?"})
            search = await client.call_tool("search", {"query": "community networks"})
            return first, second, search

    try:
        with pytest.raises(Exception):
            run(main(None))
        with pytest.raises(Exception):
            run(main("wrong"))
        first, second, search = run(main("s3cret"))
        assert not first.is_error and not search.is_error
        assert second.is_error and "too many questions" in second.content[0].text
    finally:
        stop(proc)
