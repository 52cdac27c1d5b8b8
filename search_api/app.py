"""FastAPI application factory: the lifespan loads the index and the model once (`lifecycle`); the routes
(`routes`) are thin functions over the domain layer."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from indexer.settings import Settings, get_settings

from . import errors, mcp_server
from .answer import Conversations
from .engine import Engine
from .guards import Guards, TokenBuckets
from .lifecycle import install_sighup, load_engine
from .openai_api import OpenAIErrors, router as openai_router
from .routes import router

WEB_DIR = Path(__file__).resolve().parents[1] / "web"


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the app. `engine` may be given (tests share one); otherwise the lifespan loads it once."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.engine = engine if engine is not None else load_engine(settings)
        if engine is None:
            install_sighup(app)
        async with mcp_server.lifespan(app):
            yield
        app.state.engine = None

    app = FastAPI(title="WSIS knowledge search", version="0.1.0", lifespan=lifespan,
                  description="Search the WSIS record: facilitators' reports, IGF transcripts and stocktaking "
                              "initiatives, tagged with action lines C1-C11, roles and SDGs.")
    app.state.settings = settings
    app.state.conversations = Conversations(max_count=settings.ask_max_conversations,
                                            max_age_s=settings.ask_conversation_ttl_s)
    app.state.generator = None
    if settings.answerer == "generative" and settings.llm_url:
        from .generate import ChatAnswerer

        app.state.generator = ChatAnswerer(settings.llm_url, settings.llm_model, settings.llm_api_key,
                                           settings.llm_timeout_s)
    errors.install(app)
    buckets = TokenBuckets(settings.ask_rate_per_minute, settings.ask_rate_burst) if settings.ask_rate_per_minute > 0 \
        else None
    app.state.ask_buckets = buckets  # /ask, /v1/chat/completions and the MCP `ask` tool share them
    app.add_middleware(Guards, max_body_bytes=settings.max_body_bytes, ask_buckets=buckets)
    app.add_middleware(OpenAIErrors)  # outside Guards: its 413 on /v1 gets the OpenAI shape too
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", "Authorization"])
    app.include_router(router)
    app.include_router(openai_router)
    mcp_server.install(app)
    if (WEB_DIR / "index.html").exists():
        from fastapi.staticfiles import StaticFiles

        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app
