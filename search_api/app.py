"""FastAPI application factory: the lifespan loads the index and the model once; routers are thin."""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from indexer.settings import Settings, get_settings

from . import errors, service
from .engine import Engine

log = logging.getLogger(__name__)
WEB_DIR = Path(__file__).resolve().parents[1] / "web"


def load_engine(settings: Settings, warm_in_background: bool = True) -> Engine:
    """Open the index now; load the encoder (torch costs ~10 s to import) in a background thread when
    `warm_in_background`, so that keyword search answers from the first second."""
    import threading

    import faiss

    from indexer.index import load_index

    faiss.omp_set_num_threads(settings.threads)
    loaded = load_index(settings.index_dir, expected_model=settings.model_name)
    engine = engine_for(loaded, None, settings)

    def load_encoder():
        try:
            embedder = _onnx_encoder(loaded, settings) if settings.query_encoder != "torch" else None
            if embedder is None:
                from indexer.embed import Embedder

                embedder = Embedder(settings.model_dir, dtype=settings.embed_dtype,
                                    batch_size=settings.embed_batch_size, threads=settings.threads,
                                    max_seq_length=settings.max_seq_length)
            if embedder.dim != loaded.manifest["model"]["dim"]:
                raise RuntimeError("the configured model's dimension differs from the index's")
            embedder.encode_query("warm up")
            engine.set_embedder(embedder)
        except Exception as exc:  # keep serving keyword search; say why in /health
            log.exception("the encoder could not be loaded")
            engine.encoder_error = f"{type(exc).__name__}: {exc}"

    if warm_in_background:
        threading.Thread(target=load_encoder, name="encoder-loader", daemon=True).start()
    else:
        load_encoder()
    return engine


def _onnx_encoder(loaded, settings: Settings):
    """The index's checked ONNX export of its model, or None (then the torch encoder is loaded)."""
    entry = loaded.manifest.get("query_encoder") or {}
    if not entry.get("onnx"):
        return None
    try:
        from indexer.onnx_encoder import OnnxEncoder

        return OnnxEncoder(loaded.path / entry["onnx"], settings.model_dir,
                           max_seq_length=loaded.manifest["model"].get("max_seq_length", settings.max_seq_length),
                           threads=settings.threads, batch_size=settings.embed_batch_size)
    except Exception:
        log.exception("the ONNX query encoder could not be loaded; loading the torch encoder")
        return None


def get_engine(request: Request) -> Engine:
    engine = getattr(request.app.state, "engine", None)
    if engine is None:
        raise errors.Unavailable("the index is not loaded")
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


class FastJSON(Response):
    """JSON serialised straight from plain dicts (no jsonable_encoder walk: the payloads are plain already)."""

    media_type = "application/json"

    def render(self, content) -> bytes:
        import json

        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def server_timing(timing_ms: dict[str, float]) -> dict[str, str]:
    return {"Server-Timing": ", ".join(f"{k};dur={v:.2f}" for k, v in timing_ms.items())}


def _install_sighup(app: FastAPI) -> None:
    """`kill -HUP <pid>` reloads the index (in a thread, so the signal handler returns at once)."""
    import signal
    import threading

    def handler(signum, frame):
        def work():
            try:
                log.warning("SIGHUP: %s", reload_engine(app))
            except Exception:
                log.exception("reload on SIGHUP failed; the previous index keeps serving")
        threading.Thread(target=work, daemon=True).start()

    try:
        signal.signal(signal.SIGHUP, handler)
    except ValueError:  # not in the main thread (e.g. under a test client)
        pass


router = APIRouter()


@router.get("/search", summary="Hybrid search over passages, with filters and facets")
def search(
    engine: EngineDep,
    q: Annotated[str, Query(max_length=service.MAX_QUERY_CHARS, description="the query")] = "",
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    offset: Annotated[int, Query(ge=0, le=1000)] = 0,
    action_line: Annotated[list[str] | None, Query(description="C1..C11, C7 or a sub-line such as C7.e-health")] = None,
    kind: Annotated[list[str] | None, Query()] = None,
    role: Annotated[list[str] | None, Query()] = None,
    year_from: Annotated[int | None, Query(ge=1990, le=2100)] = None,
    year_to: Annotated[int | None, Query(ge=1990, le=2100)] = None,
    country: Annotated[list[str] | None, Query(max_length=100)] = None,
    stakeholder: Annotated[list[str] | None, Query(max_length=100)] = None,
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid",
    group_by: Literal["none", "document"] = "none",
):
    """Passages matching the query, each with its document, tags and a highlighted snippet; facet counts
    over the whole match set; the query actually run; timing per stage."""
    f = service.make_filters(action_line, kind, role, year_from, year_to, country, stakeholder)
    out = service.search(engine, q, k=k, offset=offset, filters=f, mode=mode,
                         group_by=None if group_by == "none" else group_by)
    return FastJSON(out, headers=server_timing(out["timing_ms"]))


@router.get("/documents/{doc_id:path}", summary="One document with its text, sections and passages")
def document(doc_id: str, engine: EngineDep):
    """The full document: metadata, text, sections (heading, page, speaker, span) and passage list."""
    return FastJSON(service.document(engine, doc_id))


@router.get("/passages/{passage_id:path}", summary="One passage with its neighbours")
def passage(passage_id: str, engine: EngineDep, context: Annotated[int, Query(ge=0, le=5)] = 1):
    """A passage card plus the passages just before and after it in its document."""
    return FastJSON(service.passage(engine, passage_id, context))


@router.get("/related", summary="Related initiatives, IGF discussions and report recommendations")
def related(engine: EngineDep, document_id: str | None = None,
            text: Annotated[str | None, Query(max_length=service.MAX_QUERY_CHARS)] = None,
            k: Annotated[int, Query(ge=1, le=20)] = 5):
    """For a document or a text: who else works on this, with the reason (shared action lines, similarity)."""
    return FastJSON(service.related(engine, document_id=document_id, text=text, k=k))


@router.get("/action-lines", summary="The WSIS action lines with passage counts per role")
def action_lines(engine: EngineDep):
    """C1-C11 and the C7 sub-lines: description, facilitators, and how much material each has, by role."""
    return {"action_lines": service.action_lines(engine)}


@router.get("/health", summary="Liveness and the loaded index")
def health(request: Request):
    """`ok` with the build id of the loaded index, or 503 when no index is loaded."""
    engine = getattr(request.app.state, "engine", None)
    if engine is None:
        raise errors.Unavailable("the index is not loaded")
    return {"status": "ok", "build_id": engine.index.manifest.get("build_id"), "passages": engine.n,
            "encoder": "ready" if engine.embedder is not None else (engine.encoder_error or "loading"),
            "encoder_kind": getattr(engine.embedder, "kind", "torch") if engine.embedder is not None else None}


@router.get("/stats", summary="Index statistics from the manifest")
def stats(engine: EngineDep):
    """Model, chunker, tagger, counts and build of the loaded index."""
    return service.stats(engine)


class AskFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action_line: list[str] = Field(default_factory=list, max_length=20)
    kind: list[str] = Field(default_factory=list, max_length=10)
    role: list[str] = Field(default_factory=list, max_length=10)
    year_from: int | None = Field(default=None, ge=1990, le=2100)
    year_to: int | None = Field(default=None, ge=1990, le=2100)
    country: list[str] = Field(default_factory=list, max_length=20)
    stakeholder: list[str] = Field(default_factory=list, max_length=20)


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=service.MAX_QUERY_CHARS)
    conversation_id: str | None = Field(default=None, max_length=64)
    filters: AskFilters = Field(default_factory=AskFilters)


def _ask_args(request: Request, body: AskRequest):
    from .answer import AnswerSettings

    engine = get_engine(request)
    if not engine.wait_for_encoder(60):
        raise errors.Unavailable("the encoder is still loading; try again in a few seconds")
    question = service.clean_query(body.question)
    f = body.filters
    filters = service.make_filters(f.action_line, f.kind, f.role, f.year_from, f.year_to, f.country, f.stakeholder)
    conv = request.app.state.conversations.get_or_create(body.conversation_id)
    cfg = AnswerSettings(abstain_below=request.app.state.settings.ask_abstain_below)
    return engine, question, filters, conv, request.app.state.conversations, cfg, request.app.state.generator


@router.post("/ask", summary="Answer a question from the indexed documents, with citations")
def ask(body: AskRequest, request: Request):
    """An extractive answer: 2-5 sentences, each a verbatim span of the passage it cites; abstains when the
    evidence is weak. Follow-ups (same conversation_id) inherit the previous topic and filters."""
    from .answer import answer_json

    return FastJSON(answer_json(*_ask_args(request, body)))


@router.post("/ask/stream", summary="The same answer as server-sent events")
def ask_stream(body: AskRequest, request: Request):
    """Events: `meta`, `passages` (cards), one `sentence` per answer sentence, `related`, `done`."""
    import json as _json

    from fastapi.responses import StreamingResponse

    from .answer import answer

    args = _ask_args(request, body)  # validation errors surface before the stream starts

    def events():
        try:
            for name, data in answer(*args):
                yield f"event: {name}\ndata: {_json.dumps(data, ensure_ascii=False)}\n\n"
        except Exception:  # the stream has started: report in-band, in the error shape
            log.exception("error while streaming an answer")
            yield f"event: error\ndata: {_json.dumps(errors.error_body(500, 'internal_error', 'internal error'))}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.post("/admin/reload", summary="Load the index the index path points at now (token required)",
             include_in_schema=False)
def admin_reload(request: Request):
    """Swap in the current build: the new engine is loaded fully first, then replaces the old one in one
    assignment; requests in flight finish on the engine they started with."""
    import hmac

    token = request.app.state.settings.admin_token
    given = request.headers.get("x-admin-token", "")
    if not token or not hmac.compare_digest(token, given):
        raise errors.NotFound("Not Found")
    return reload_engine(request.app)


_reload_lock = threading.Lock()


def reload_engine(app: FastAPI) -> dict:
    with _reload_lock:
        old = app.state.engine
        new = load_engine(app.state.settings, warm_in_background=False) if old is None or old.embedder is None \
            else _engine_with(app.state.settings, old.embedder)
        app.state.engine = new
    return {"status": "reloaded", "build_id": new.index.manifest.get("build_id"),
            "previous": old.index.manifest.get("build_id") if old else None}


def _engine_with(settings: Settings, embedder) -> Engine:
    from indexer.index import load_index

    return engine_for(load_index(settings.index_dir, expected_model=settings.model_name), embedder, settings)


def engine_for(loaded, embedder, settings: Settings) -> Engine:
    """An engine over a loaded index with the configured fusion, query cache and the index's backend."""
    return Engine(loaded, embedder, fusion=settings.fusion, fusion_weight=settings.fusion_weight,
                  query_cache_size=settings.query_cache_size,
                  backend=open_backend(loaded.manifest, settings, loaded.keyword))


def open_backend(manifest: dict, settings: Settings, keyword_index=None):
    """The passage index the manifest says the build was written to (None: the embedded FAISS one)."""
    b = manifest.get("backend") or {"backend": "faiss"}
    if b.get("backend") == "milvus":
        from .backends import MilvusBackend

        # WSIS_BACKEND=milvus with WSIS_MILVUS_URI points at another address of the same cluster
        uri = settings.milvus_uri if settings.backend == "milvus" else b["uri"]
        return MilvusBackend(uri, b["collection"], settings.milvus_token, bm25=b.get("bm25", "server"),
                             keyword_index=keyword_index)
    return None


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the app. `engine` may be given (tests share one); otherwise the lifespan loads it once."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.engine = engine if engine is not None else load_engine(settings)
        if engine is None:
            _install_sighup(app)
        yield
        app.state.engine = None

    app = FastAPI(title="WSIS knowledge search", version="0.1.0", lifespan=lifespan,
                  description="Search the WSIS record: facilitators' reports, IGF transcripts and stocktaking "
                              "initiatives, tagged with action lines C1-C11, roles and SDGs.")
    app.state.settings = settings
    from .answer import Conversations

    app.state.conversations = Conversations(max_count=settings.ask_max_conversations,
                                            max_age_s=settings.ask_conversation_ttl_s)
    app.state.generator = None
    if settings.answerer == "generative" and settings.llm_url:
        from .generate import ChatAnswerer

        app.state.generator = ChatAnswerer(settings.llm_url, settings.llm_model, settings.llm_api_key,
                                           settings.llm_timeout_s)
    errors.install(app)
    from .guards import Guards, TokenBuckets

    buckets = TokenBuckets(settings.ask_rate_per_minute, settings.ask_rate_burst) if settings.ask_rate_per_minute > 0 \
        else None
    app.add_middleware(Guards, max_body_bytes=settings.max_body_bytes, ask_buckets=buckets)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type"])
    app.include_router(router)
    if (WEB_DIR / "index.html").exists():
        from fastapi.staticfiles import StaticFiles

        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app
