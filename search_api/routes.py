"""The HTTP routes: thin functions over `service`, `answer` and `related`, one error shape (`errors`)."""

from __future__ import annotations

import hmac
import json
import logging
import os
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from indexer.actionlines import FILTER_CODES

from . import dashboard, errors, grouped, related as related_, related_groups as related_groups_, service
from .answer import AnswerSettings, answer, answer_json
from .engine import Engine
from .lifecycle import reload_engine, reload_workers

log = logging.getLogger(__name__)


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
        try:  # orjson: ~10x faster than json on result pages; the same JSON text
            return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
        except TypeError:  # a value orjson does not know: json's rules
            return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def server_timing(timing_ms: dict[str, float]) -> dict[str, str]:
    return {"Server-Timing": ", ".join(f"{k};dur={v:.2f}" for k, v in timing_ms.items())}


router = APIRouter()


def codes(values: list[str] | None) -> list[str] | None:
    """Action-line filters over HTTP: exactly the codes the OpenAPI document lists (C1..C11, C7, C7.<sub>);
    the CLI and the question parser keep accepting looser spellings."""
    for v in values or []:
        if v not in FILTER_CODES:
            raise errors.BadRequest(f"unknown action line {v!r}",
                                    {"field": "action_line", "allowed": sorted(FILTER_CODES)})
    return values


def filter_params(
    action_line: Annotated[list[str] | None, Query(description="C1..C11, C7 or a sub-line such as C7.e-health")] = None,
    kind: Annotated[list[str] | None, Query()] = None,
    role: Annotated[list[str] | None, Query()] = None,
    year_from: Annotated[int | None, Query(ge=1990, le=2100)] = None,
    year_to: Annotated[int | None, Query(ge=1990, le=2100)] = None,
    country: Annotated[list[str] | None, Query(max_length=100)] = None,
    stakeholder: Annotated[list[str] | None, Query(max_length=100)] = None,
):
    return service.make_filters(codes(action_line), kind, role, year_from, year_to, country, stakeholder)


FiltersDep = Annotated[service.Filters, Depends(filter_params)]


@router.get("/search", summary="Hybrid search over passages, with filters and facets")
def search(
    engine: EngineDep,
    f: FiltersDep,
    q: Annotated[str, Query(max_length=service.MAX_QUERY_CHARS, description="the query")] = "",
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    offset: Annotated[int, Query(ge=0, le=1000)] = 0,
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid",
    group_by: Literal["none", "document"] = "none",
):
    """Passages matching the query, each with its document, tags and a highlighted snippet; facet counts
    over the whole match set; the query actually run; timing per stage."""
    if group_by == "document":  # one card per document, with the document's other ranked passages
        out = grouped.search_grouped(engine, q, k=k, offset=offset, filters=f, mode=mode)
    else:
        out = service.search(engine, q, k=k, offset=offset, filters=f, mode=mode)
    return FastJSON(out, headers=server_timing(out["timing_ms"]))




@router.get("/browse", summary="The passages inside filters, without a query (most recent first)")
def browse(engine: EngineDep, f: FiltersDep, k: Annotated[int, Query(ge=1, le=100)] = 10,
           offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
           group_by: Literal["none", "document"] = "document"):
    """What a number on the page summarises: the passages of a filter (action line, role, kind, years, ...),
    most recent first, substantive before procedural, grouped by document by default; facets count them."""
    return FastJSON(grouped.browse(engine, k=k, offset=offset, filters=f,
                                   group_by=None if group_by == "none" else group_by))


@router.get("/facets", summary="Facet counts of the whole corpus, or of the passages inside filters")
def corpus_facets(engine: EngineDep, f: FiltersDep):
    """Passages per action line, kind, role, year and year x kind, with the passage and document totals:
    what the page shows before a search."""
    return FastJSON(dashboard.corpus_facets(engine, f))


@router.get("/documents/{doc_id:path}", summary="One document with its text, sections and passages")
def document(doc_id: str, engine: EngineDep):
    """The full document: metadata, text, sections (heading, page, speaker, span) and passage list."""
    return FastJSON(service.document(engine, doc_id))


@router.get("/passages/{passage_id:path}", summary="One passage with its neighbours")
def passage(passage_id: str, engine: EngineDep, context: Annotated[int, Query(ge=0, le=5)] = 1):
    """A passage card plus the passages just before and after it in its document."""
    return FastJSON(service.passage(engine, passage_id, context))


@router.get("/related", summary="Related initiatives, IGF discussions and report recommendations")
def related(engine: EngineDep, document_id: Annotated[str | None, Query(max_length=500)] = None,
            passage_id: Annotated[str | None, Query(max_length=500)] = None,
            text: Annotated[str | None, Query(max_length=service.MAX_QUERY_CHARS)] = None,
            k: Annotated[int, Query(ge=1, le=20)] = 5):
    """For exactly one of a document, a passage or a text: initiatives on the same problem (names of who and
    where left out), the IGF discussions and report recommendations on it, the seed's organisation's and
    country's other initiatives apart; each item with why (shared key phrases, similarity, shared lines)."""
    if sum(x is not None for x in (document_id, passage_id, text)) != 1:  # an empty value counts as given
        raise errors.BadRequest("give exactly one of document_id, passage_id or text")
    return FastJSON(related_.related(engine, document_id=document_id, passage_id=passage_id, text=text, k=k))


@router.get("/related/groups", summary="Initiatives of an action line or a query, grouped by problem")
def related_groups(engine: EngineDep, action_line: Annotated[str | None, Query(max_length=40)] = None,
                   q: Annotated[str | None, Query(max_length=service.MAX_QUERY_CHARS)] = None,
                   limit: Annotated[int, Query(ge=2, le=400)] = 100):
    """Groups of initiatives on the same problem, each labelled with its shared key phrases."""
    codes([action_line] if action_line is not None else None)
    if q is not None:
        service.clean_query(q)  # a blank q is a 400, not "no q"
    return FastJSON(related_groups_.related_groups(engine, action_line=action_line, q=q, limit=limit))


@router.get("/action-lines", summary="The WSIS action lines with passage counts per role")
def action_lines(engine: EngineDep):
    """C1-C11 and the C7 sub-lines: description, facilitators, and how much material each has, by role."""
    return {"action_lines": service.action_lines(engine)}


@router.get("/action-lines/{code}", summary="One action line's dashboard")
def action_line_dashboard(code: Annotated[str, Path(max_length=40)], engine: EngineDep):
    """The line's text and facilitators, passages per year by role and by kind, the most recent
    recommendations and challenges (cited), and the IGF sessions that discussed it."""
    return FastJSON(dashboard.action_line(engine, code))


@router.get("/health", summary="Liveness and the loaded index")
def health(request: Request):
    """`ok` with the build id of the loaded index, or 503 when no index is loaded."""
    engine = getattr(request.app.state, "engine", None)
    if engine is None:
        raise errors.Unavailable("the index is not loaded")
    return {"status": "ok", "build_id": engine.index.manifest.get("build_id"), "passages": engine.n,
            "encoder": "ready" if engine.embedder is not None else (engine.encoder_error or "loading"),
            "encoder_kind": getattr(engine.embedder, "kind", "torch") if engine.embedder is not None else None,
            "worker_pid": os.getpid()}


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
    engine = get_engine(request)
    if not engine.wait_for_encoder(60):
        raise errors.Unavailable("the encoder is still loading; try again in a few seconds")
    question = service.clean_query(body.question)
    f = body.filters
    filters = service.make_filters(codes(f.action_line), f.kind, f.role, f.year_from, f.year_to, f.country,
                                   f.stakeholder)
    conv = request.app.state.conversations.get_or_create(body.conversation_id)
    cfg = AnswerSettings.from_settings(request.app.state.settings)
    return engine, question, filters, conv, request.app.state.conversations, cfg, request.app.state.generator


@router.post("/ask", summary="Answer a question from the indexed documents, with citations")
async def ask(body: AskRequest, request: Request):
    """An extractive answer: 2-5 sentences, each a verbatim span of the passage it cites; abstains when the
    evidence is weak. Follow-ups (same conversation_id) inherit the previous topic and filters. The answer
    work runs on a small pool of its own (`WSIS_ASK_WORKERS`, `WSIS_ASK_QUEUE`): 503 with Retry-After
    when it is full."""
    args = await run_in_threadpool(_ask_args, request, body)
    return FastJSON(await request.app.state.ask_pool.run(answer_json, *args))


@router.post("/ask/stream", summary="The same answer as server-sent events")
async def ask_stream(body: AskRequest, request: Request):
    """Events: `meta`, `passages` (cards), one `sentence` per answer sentence, `related`, `done`."""
    args = await run_in_threadpool(_ask_args, request, body)  # validation errors surface before the stream
    items = request.app.state.ask_pool.stream(answer, *args)  # and so does a full pool (503)

    async def events():
        try:
            async for name, data in items:
                yield f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
        except Exception:  # the stream has started: report in-band, in the error shape
            log.exception("error while streaming an answer")
            yield f"event: error\ndata: {json.dumps(errors.error_body(500, 'internal_error', 'internal error'))}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.post("/admin/reload", summary="Load the index the index path points at now (token required)",
             include_in_schema=False)
def admin_reload(request: Request):
    """Swap in the current build: the new engine is loaded fully first, then replaces the old one in one
    assignment; requests in flight finish on the engine they started with."""
    token = request.app.state.settings.admin_token
    given = request.headers.get("x-admin-token", "")  # decoded as latin-1: encoding it gives the bytes sent
    if not token or not hmac.compare_digest(token.encode("utf-8"), given.encode("latin-1", "replace")):
        raise errors.NotFound("Not Found")
    if request.app.state.settings.workers > 1:
        return reload_workers(request.app)
    return reload_engine(request.app)
