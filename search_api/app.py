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
from .guards import AskPool, Guards, TokenBuckets
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
        app.state.ask_pool.shutdown()

    app = FastAPI(title="WSIS knowledge search", version="0.1.0", lifespan=lifespan,
                  description="Search the WSIS record: facilitators' reports, IGF transcripts and stocktaking "
                              "initiatives, tagged with action lines C1-C11, roles and SDGs.",
                  docs_url=None, redoc_url=None)  # /docs is served below from local files, never a CDN
    app.state.settings = settings
    app.state.engine = engine  # a given engine serves at once (also without a lifespan, e.g. schemathesis)
    app.state.ask_pool = AskPool(settings.ask_workers, settings.ask_queue, settings.ask_retry_after_s)
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


def json_error_protocol():
    """uvicorn's h11 protocol whose own 400 (a request that does not parse: a 1 MB URL, a bad
    Content-Length) is in the error shape instead of plain text."""
    import json

    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class JsonErrorH11Protocol(H11Protocol):
        def send_400_response(self, msg: str) -> None:
            body = json.dumps(errors.error_body(400, "bad_request", msg)).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                       (b"connection", b"close")]
            for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body),
                          h11.EndOfMessage()):
                self.transport.write(self.conn.send(event))
            self.transport.close()

    return JsonErrorH11Protocol


def serve(app: FastAPI, host: str, port: int, log_level: str = "warning", access_log: bool = False) -> None:
    """Run the app under uvicorn: its low-level 400s in the error shape, and no X-Forwarded-For handling of
    its own (uvicorn trusts it from any loopback peer by default; the rate limit reads it only from
    WSIS_TRUSTED_PROXIES, see guards.client_key)."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=access_log, http=json_error_protocol(),
                proxy_headers=False)
