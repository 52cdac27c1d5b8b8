"""`wsis mcp`: the MCP server over stdio, for an AI assistant that starts it as a subprocess (the same tools
are served over streamable HTTP at /mcp by `wsis serve`)."""

from __future__ import annotations

import sys
from pathlib import Path

from .common import settings


def cmd_mcp(args) -> int:
    import os

    from indexer.index import IndexError_

    if args.index:
        os.environ["WSIS_INDEX_DIR"] = str(Path(args.index).absolute())
        from indexer.settings import get_settings

        get_settings.cache_clear()
    s = settings()
    from search_api.answer import AnswerSettings
    from search_api.lifecycle import load_engine
    from search_api.mcp_server import build_server

    try:
        engine = load_engine(s)  # the query encoder loads in the background; tools that need it wait
    except IndexError_ as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    generator = None
    if s.answerer == "generative" and s.llm_url:
        from search_api.generate import ChatAnswerer

        generator = ChatAnswerer(s.llm_url, s.llm_model, s.llm_api_key, s.llm_timeout_s)
    server = build_server(lambda: engine, answer_settings=AnswerSettings.from_settings(s), generator=generator)
    print(f"wsis mcp: index {engine.index.manifest.get('build_id')} ({engine.n} passages) on stdio",
          file=sys.stderr, flush=True)  # stdout carries the protocol: nothing else may be written there
    server.run("stdio")
    return 0
