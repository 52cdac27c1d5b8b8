"""FastAPI application factory: the lifespan loads the index and the model once (`lifecycle`); the routes
(`routes`) are thin functions over the domain layer."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from indexer.settings import Settings, get_settings

from . import errors, mcp_server
from .answer import Conversations
from .conversation import SharedConversations
from .engine import Engine
from .guards import AskPool, Guards, SharedTokenBuckets, TokenBuckets
from .lifecycle import install_sighup, load_engine
from .openai_api import OpenAIErrors, router as openai_router
from .routes import router

WEB_DIR = Path(__file__).resolve().parents[1] / "web"


def create_app(settings: Settings | None = None, engine: Engine | None = None, loaded=None) -> FastAPI:
    """Build the app. `engine` may be given (tests share one); otherwise the lifespan loads it once (from
    `loaded`, an index `wsis serve` has just loaded to check it, when given)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        nonlocal loaded
        app.state.engine = engine if engine is not None else load_engine(settings, loaded=loaded)
        loaded = None  # a reload opens the build the index path points at then
        if engine is None:
            install_sighup(app)
        async with mcp_server.lifespan(app):
            yield
        app.state.engine = None
        app.state.ask_pool.shutdown()

    app = FastAPI(title="WSIS knowledge search", version="0.1.0", lifespan=lifespan,
                  description="Search the WSIS record: facilitators' reports, IGF transcripts and stocktaking "
                              "initiatives, tagged with action lines C1-C11, roles and SDGs.",
                  docs_url=None, redoc_url=None)  # /docs is served below from local files, never a CDN
    app.state.settings = settings
    app.state.engine = engine  # a given engine serves at once (also without a lifespan, e.g. schemathesis)
    app.state.ask_pool = AskPool(settings.ask_workers, settings.ask_queue, settings.ask_retry_after_s)
    app.state.conversations = conversation_store(settings)
    app.state.generator = None
    if settings.answerer == "generative" and settings.llm_url:
        from .generate import ChatAnswerer

        app.state.generator = ChatAnswerer(settings.llm_url, settings.llm_model, settings.llm_api_key,
                                           settings.llm_timeout_s)
    errors.install(app)
    buckets = rate_buckets(settings)
    app.state.ask_buckets = buckets  # /ask, /v1/chat/completions and the MCP `ask` tool share them
    app.add_middleware(Guards, max_body_bytes=settings.max_body_bytes, ask_buckets=buckets,
                       trusted_proxies=settings.trusted_proxies)
    app.add_middleware(OpenAIErrors)  # outside Guards: its 413 on /v1 gets the OpenAI shape too
    if settings.cors_origins:
        app.add_middleware(errors.json_cors_middleware(), allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", "Authorization"])
    app.include_router(router)
    app.include_router(openai_router)
    mcp_server.install(app)
    install_pages(app)
    from . import openapi

    openapi.install(app)  # every status, error shape, constraint and media type the server uses
    return app


def shared_state(settings: Settings) -> bool:
    """Whether conversations and rate-limit budgets live in SQLite files every worker process shares (several
    workers, or WSIS_CONVERSATION_STORE=sqlite) rather than in this process's memory."""
    kind = settings.conversation_store
    if kind not in ("auto", "memory", "sqlite"):
        raise ValueError(f"WSIS_CONVERSATION_STORE must be memory, sqlite or auto, not {kind!r}")
    return kind == "sqlite" or (kind == "auto" and settings.workers > 1)


def rate_buckets(settings: Settings):
    """The /ask rate limit's per-client budgets (None: no limit)."""
    if settings.ask_rate_per_minute <= 0:
        return None
    if shared_state(settings):
        return SharedTokenBuckets(Path(settings.state_dir) / "rate_limits.sqlite", settings.ask_rate_per_minute,
                                  settings.ask_rate_burst)
    return TokenBuckets(settings.ask_rate_per_minute, settings.ask_rate_burst)


def conversation_store(settings: Settings):
    """Where /ask keeps conversations: this process's memory, or a SQLite file every worker process shares."""
    if not shared_state(settings):
        return Conversations(max_count=settings.ask_max_conversations, max_age_s=settings.ask_conversation_ttl_s)
    return SharedConversations(Path(settings.state_dir) / "conversations.sqlite",
                               max_count=settings.ask_max_conversations, max_age_s=settings.ask_conversation_ttl_s)


def install_pages(app: FastAPI) -> None:
    """The web page's files and /docs (Swagger UI from the fastapi-offline package's files, no CDN), each an
    explicit GET route: no catch-all mount, so a wrong method on an API path is a 405 naming its methods."""
    from starlette.responses import FileResponse, HTMLResponse, Response

    def file_route(path: str, file: Path):
        async def endpoint(request):
            return FileResponse(file)

        app.add_route(path, endpoint, methods=["GET", "HEAD"], include_in_schema=False)

    if (WEB_DIR / "index.html").exists():
        file_route("/", WEB_DIR / "index.html")
        for f in sorted(WEB_DIR.iterdir()):
            if f.is_file() and f.suffix in (".html", ".js", ".css", ".svg", ".png", ".ico"):
                file_route("/" + f.name, f)
    assets = docs_assets()
    if assets is None:
        return
    for name in ("swagger-ui.css", "swagger-ui-bundle.js", "favicon.png"):
        file_route("/docs-assets/" + name, assets / name)

    async def docs_init(request):
        return Response(DOCS_INIT_JS, media_type="text/javascript")

    async def docs(request):
        return HTMLResponse(DOCS_HTML.replace("{title}", app.title))

    app.add_route("/docs-assets/init.js", docs_init, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_route("/docs", docs, methods=["GET", "HEAD"], include_in_schema=False)


def docs_assets() -> Path | None:
    try:
        import fastapi_offline
    except ImportError:
        return None
    folder = Path(fastapi_offline.__file__).resolve().parent / "static"
    return folder if (folder / "swagger-ui-bundle.js").exists() else None


DOCS_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - API</title>
<link rel="icon" href="/docs-assets/favicon.png"><link rel="stylesheet" href="/docs-assets/swagger-ui.css">
</head><body><div id="swagger-ui"></div>
<script src="/docs-assets/swagger-ui-bundle.js"></script><script src="/docs-assets/init.js"></script>
</body></html>
"""
DOCS_INIT_JS = """window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset], layout: "BaseLayout"});
"""
