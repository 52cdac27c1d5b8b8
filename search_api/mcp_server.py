"""The engine as a Model Context Protocol server (the maintained SDK, PyPI `mcp`), for AI assistants: tools
`search`, `ask`, `related`, `get_document`, `action_lines`, and documents as resources
(`wsis://documents/{id}`). `wsis mcp` serves it over stdio; `wsis serve` also serves it over streamable HTTP
at /mcp (`install`), under the API's body limit, its /ask rate limit (for `ask`) and the bearer token
`WSIS_API_TOKEN` when that is set.

Every tool answers with readable text (numbered citations, sources) for the model and the same content as
structured data (`structuredContent`, described by the tool's output schema) for the application. A bad
argument or an unknown id is a tool error (`isError`), never a protocol failure."""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
from collections.abc import Callable
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from indexer import __version__
from indexer.models import KINDS
from indexer.tag import ROLES

from . import errors, related as related_, service
from .answer import AnswerSettings, Conversations, answer_json
from .engine import Engine
from .openai_api import KIND_LABELS, cited_text

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Search and answer questions from the record of the World Summit on the Information Society (WSIS): "
    "action-line facilitators' reports, Internet Governance Forum (IGF) session transcripts, and WSIS "
    "stocktaking initiatives, tagged with the action lines C1-C11 (C7 has sub-lines such as C7.e-health). "
    "Use `ask` for a cited answer, `search` for passages, `related` for initiatives on the same problem, "
    "`get_document` to read a source, `action_lines` for the codes. Quote the citations you rely on.")
Kind = Literal[KINDS]  # type: ignore[valid-type]
Role = Literal[ROLES]  # type: ignore[valid-type]
READ_ONLY = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False)

ActionLines = Annotated[list[str] | None, Field(
    default=None, max_length=20,
    description="Only passages tagged with these action lines: codes C1..C11, C7 (all of its sub-lines) or a "
                "sub-line such as C7.e-health; see the action_lines tool")]
Kinds = Annotated[list[Kind] | None, Field(
    default=None, description="Only these document kinds: igf_transcript (IGF session transcripts), "
                              "stocktaking_entry (WSIS stocktaking initiatives), action_line_report (facilitators' "
                              "reports), reference")]
Roles = Annotated[list[Role] | None, Field(
    default=None, description="Only passages of these roles: achievement, challenge, recommendation, commitment")]
YearFrom = Annotated[int | None, Field(default=None, ge=1990, le=2100, description="Only documents from this year")]
YearTo = Annotated[int | None, Field(default=None, ge=1990, le=2100, description="Only documents up to this year")]
Countries = Annotated[list[str] | None, Field(
    default=None, max_length=20, description="Only documents about these countries (English names, e.g. Kenya)")]


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Passage(Open):
    n: int = Field(description="the number the text uses to cite this passage, [n]")
    passage_id: str
    document_id: str
    title: str
    kind: str
    year: int | None = None
    speaker: str | None = None
    page: int | None = None
    url: str = ""
    action_lines: list[str] = []
    role: str = ""
    text: str


class SearchResult(Open):
    query: str
    total: int = Field(description="passages matching the query and filters")
    results: list[Passage]


class Citation(Open):
    n: int
    passage_id: str
    document_id: str
    title: str
    kind: str
    year: int | None = None
    speakers: list[str] = []
    page: int | None = None
    url: str = ""


class AskResult(Open):
    question: str
    answer: str = Field(description="the answer text with numbered citations [n] and its sources")
    abstained: bool = Field(description="true when the documents do not cover the question well enough")
    citations: list[Citation]
    items: list[dict[str, Any]] = Field(description="the answer's sentences or initiatives, each with the "
                                                    "passage ids it cites and who said or wrote it")
    conversation_id: str = Field(description="pass it back with a follow-up question")
    query_run: dict[str, Any]


class RelatedResult(Open):
    query: dict[str, Any]
    initiatives: list[dict[str, Any]] = Field(description="initiatives on the same problem, each with `why`")


class DocumentResult(Open):
    id: str
    title: str
    kind: str
    year: int | None = None
    url: str = ""
    text: str = Field(description="the text from `offset`, at most `max_chars` characters")
    offset: int
    text_length: int = Field(description="the length of the whole text; read on from offset + len(text)")
    passages: list[dict[str, Any]]


class ActionLine(Open):
    code: str
    name: str
    description: str
    facilitators: list[str]
    passages: int
    documents: int


class ActionLinesResult(Open):
    action_lines: list[ActionLine]


def _lines(card: dict) -> list[str]:
    return [t["line"] if isinstance(t, dict) else str(t) for t in card.get("action_lines") or []]


def _person(name: str | None) -> str | None:
    return (name.title() if name.isupper() else name) if name else None


def _why(item: dict) -> str:
    why = item.get("why")
    return why.get("text", "") if isinstance(why, dict) else str(why or "")


def _result(text: str, data: BaseModel) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content=data.model_dump(mode="json"))


def _filters(action_line, kind, role, year_from, year_to, country):
    return service.make_filters(action_line, kind, role, year_from, year_to, country)


def build_server(get_engine: Callable[[], Engine | None], *, answer_settings: AnswerSettings | None = None,
                 conversations: Conversations | None = None, generator=None,
                 limiter: Callable[[Context], None] | None = None) -> MCPServer:
    """The MCP server over whichever engine `get_engine` returns at each call (the served one, after reloads
    too). `limiter` may refuse a question (raise ToolError): the HTTP endpoint's rate limit."""
    cfg = answer_settings or AnswerSettings()
    convs = conversations if conversations is not None else Conversations()
    root, quiet = logging.getLogger(), logging.NullHandler()
    root.addHandler(quiet)  # MCPServer() calls logging.basicConfig: the application configures logging, not it
    try:
        mcp = MCPServer("wsis-search", title="WSIS knowledge search", version=__version__, instructions=INSTRUCTIONS)
    finally:
        root.removeHandler(quiet)

    def engine(encoder: bool = False) -> Engine:
        e = get_engine()
        if e is None:
            raise ToolError("the index is not loaded yet; try again in a few seconds")
        if encoder and not e.wait_for_encoder(60):
            raise ToolError("the query encoder is still loading; try again in a few seconds")
        return e

    @contextlib.contextmanager
    def as_tool_error():
        try:
            yield
        except errors.ApiError as exc:
            detail = exc.details.get("allowed") if isinstance(exc.details, dict) else None
            raise ToolError(exc.message + (f" (allowed: {', '.join(map(str, detail))})" if detail else "")) from exc

    @mcp.tool(title="Search the WSIS record", annotations=READ_ONLY)
    def search(query: Annotated[str, Field(min_length=1, max_length=service.MAX_QUERY_CHARS,
                                           description="What to look for, in plain words")],
               action_line: ActionLines = None, kind: Kinds = None, role: Roles = None,
               year_from: YearFrom = None, year_to: YearTo = None, country: Countries = None,
               k: Annotated[int, Field(ge=1, le=50, description="How many passages (default 8)")] = 8,
               ) -> Annotated[CallToolResult, SearchResult]:
        """Hybrid (meaning + keyword) search over passages of WSIS reports, IGF transcripts and stocktaking
        initiatives. Returns the best passages, numbered, each with its document, kind, year, speaker or page,
        URL, action lines and role, and the number of matching passages."""
        with as_tool_error():
            f = _filters(action_line, kind, role, year_from, year_to, country)
            out = service.search(engine(encoder=True), query, k=k, filters=f)
        results = [Passage(n=n, passage_id=c["passage_id"], document_id=c["document_id"], title=c["title"],
                           kind=c["kind"], year=c["year"], speaker=_person(c.get("speaker")), page=c.get("page"),
                           url=c.get("url") or "", action_lines=_lines(c), role=c.get("role") or "",
                           text=c["text"]) for n, c in enumerate(out["results"], start=1)]
        lines = [f"{out['total']} passages match {out['query']!r}" + (f"; the best {len(results)}:" if results else ".")]
        for p in results:
            bits = [KIND_LABELS.get(p.kind, p.kind), str(p.year or ""), p.speaker or (f"page {p.page}" if p.page else "")]
            lines.append(f"\n[{p.n}] {p.title} ({', '.join(b for b in bits if b)})" + (f" <{p.url}>" if p.url else ""))
            lines.append(f"passage {p.passage_id}" + (f"; action lines {', '.join(p.action_lines)}" if p.action_lines
                                                     else "") + (f"; {p.role}" if p.role not in ("", "none") else ""))
            lines.append(p.text if len(p.text) <= 900 else p.text[:900].rsplit(" ", 1)[0] + " …")
        return _result("\n".join(lines), SearchResult(query=out["query"], total=out["total"], results=results))

    @mcp.tool(title="Answer a question with citations", annotations=READ_ONLY)
    def ask(question: Annotated[str, Field(min_length=1, max_length=service.MAX_QUERY_CHARS,
                                           description="The question, in plain words (names of people, countries, "
                                                       "action lines are understood)")],
            action_line: ActionLines = None, kind: Kinds = None, role: Roles = None,
            year_from: YearFrom = None, year_to: YearTo = None, country: Countries = None,
            conversation_id: Annotated[str | None, Field(
                default=None, max_length=64, description="The conversation_id of an earlier answer, so that a "
                                                         "follow-up (\"What did she recommend?\") keeps its topic")] = None,
            ctx: Context | None = None) -> Annotated[CallToolResult, AskResult]:
        """A cited answer from the indexed documents: 2-5 sentences quoted verbatim from the sources (or a list
        of initiatives for "which initiatives ..." questions), each with a numbered citation, and the sources.
        Says so plainly (abstained: true) when the documents do not cover the question."""
        if limiter is not None and ctx is not None:
            limiter(ctx)
        with as_tool_error():
            q = service.clean_query(question)
            f = _filters(action_line, kind, role, year_from, year_to, country)
            conv = convs.get_or_create(conversation_id)
            out = answer_json(engine(encoder=True), q, f, conv, convs, cfg, generator)
        text, citations = cited_text(out)
        text += f"\n\n(conversation_id for follow-ups: {out['conversation_id']})"
        data = AskResult(question=q, answer=text, abstained=out["abstained"], citations=citations,
                         items=out["answer"], conversation_id=out["conversation_id"], query_run=out["query_run"])
        return _result(text, data)

    @mcp.tool(title="Related initiatives", annotations=READ_ONLY)
    def related(document_id: Annotated[str | None, Field(
                    default=None, max_length=500, description="A document id (from search, ask or get_document): "
                                                              "initiatives related to that document")] = None,
                text: Annotated[str | None, Field(
                    default=None, max_length=service.MAX_QUERY_CHARS,
                    description="Or a description of a problem or project: initiatives working on it")] = None,
                k: Annotated[int, Field(ge=1, le=20, description="How many initiatives (default 5)")] = 5,
                ) -> Annotated[CallToolResult, RelatedResult]:
        """WSIS stocktaking initiatives on the same problem or approach as a document or a text (give exactly
        one), each with why it is related (shared key phrases, similarity, shared action lines), plus the IGF
        discussions and report recommendations on it."""
        with as_tool_error():
            out = related_.related(engine(encoder=True), document_id=document_id, text=text, k=k)
        lines = []
        for key, head in (("initiatives", "Related initiatives"), ("discussions", "IGF discussions"),
                          ("recommendations", "Report recommendations")):
            items = out.get(key) or []
            if not items:
                continue
            lines.append(f"{head}:")
            for n, it in enumerate(items, start=1):
                bits = ", ".join(str(x) for x in (it.get("organisation"), it.get("country"), it.get("year")) if x)
                lines.append(f"{n}. {it.get('title', '')}" + (f" ({bits})" if bits else "")
                             + f" [document {it.get('document_id', '')}]" + (f" <{it['url']}>" if it.get("url") else ""))
                if _why(it):
                    lines.append(f"   why: {_why(it)}")
            lines.append("")
        text_out = "\n".join(lines).strip() or "No related initiatives found."
        return _result(text_out, RelatedResult(**out))

    @mcp.tool(title="Read a document", annotations=READ_ONLY)
    def get_document(document_id: Annotated[str, Field(min_length=1, max_length=500,
                                                        description="The document id, as search and ask return it")],
                     offset: Annotated[int, Field(ge=0, description="Where to start reading (characters)")] = 0,
                     max_chars: Annotated[int, Field(ge=100, le=50_000, description="How much text to return "
                                                                                    "(default 8000)")] = 8000,
                     ) -> Annotated[CallToolResult, DocumentResult]:
        """A document's metadata (title, kind, year, URL, organisation, country), a window of its text, and the
        list of its passages (id, heading, page, speaker, action lines, role). Long texts are read in pieces
        with `offset`."""
        with as_tool_error():
            d = service.document(engine(), document_id)
        full = d.get("text") or ""
        piece = full[offset:offset + max_chars]
        passages = [{k: p.get(k) for k in ("passage_id", "heading", "page", "speaker", "role")}
                    | {"action_lines": _lines(p)} for p in d.get("passages", [])]
        meta = d.get("metadata") or {}
        data = DocumentResult(id=d["id"], title=d.get("title", ""), kind=d.get("kind", ""), year=d.get("year"),
                              url=d.get("url") or meta.get("url", "") or "", text=piece, offset=offset,
                              text_length=len(full), passages=passages,
                              organisation=meta.get("organisation", ""), country=meta.get("country", ""))
        head = f"{data.title} ({KIND_LABELS.get(data.kind, data.kind)}, {data.year or 'n.d.'})" + \
            (f" <{data.url}>" if data.url else "")
        more = offset + len(piece) < len(full)
        text = (f"{head}\ncharacters {offset}-{offset + len(piece)} of {len(full)}"
                + (f" (read on with offset={offset + len(piece)})" if more else "") + f"\n\n{piece}")
        return _result(text, data)

    @mcp.tool(title="The WSIS action lines", annotations=READ_ONLY)
    def action_lines() -> Annotated[CallToolResult, ActionLinesResult]:
        """The WSIS action lines C1-C11 and the C7 sub-lines: code, name, description, facilitators, and how
        many passages and documents the index holds for each (the codes the filters of search and ask take)."""
        rows = service.action_lines(engine())
        text = "\n".join(f"{a['code']} {a['name']}: {a['passages']} passages in {a['documents']} documents"
                         for a in rows)
        return _result(text, ActionLinesResult(action_lines=rows))

    @mcp.resource("wsis://documents/{+document_id}", name="document", title="A WSIS document",
                  mime_type="application/json",
                  description="A document of the index by id (percent-encode '#' as %23): metadata, full text, "
                              "sections and passages, as JSON")
    def document_resource(document_id: str) -> str:
        try:
            return json.dumps(service.document(engine(), document_id), ensure_ascii=False)
        except errors.NotFound as exc:
            raise ResourceNotFoundError(exc.message) from exc
        except (errors.ApiError, ToolError) as exc:
            raise ResourceError(getattr(exc, "message", str(exc))) from exc

    @mcp.resource("wsis://action-lines", name="action-lines", title="The WSIS action lines",
                  mime_type="application/json", description="C1-C11 and the C7 sub-lines with passage counts")
    def action_lines_resource() -> str:
        try:
            return json.dumps(service.action_lines(engine()), ensure_ascii=False)
        except ToolError as exc:
            raise ResourceError(str(exc)) from exc

    return mcp


# ---------------------------------------------------------------- streamable HTTP on the API server

class _Endpoint:
    """/mcp: the bearer token check, then the session manager of the running server."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        from starlette.responses import JSONResponse

        token = self.app.state.settings.api_token
        if token and scope["type"] == "http":
            auth = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
            scheme, _, given = auth.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
                await JSONResponse(errors.error_body(401, "unauthorized", "invalid or missing bearer token"),
                                   status_code=401, headers={"WWW-Authenticate": "Bearer"})(scope, receive, send)
                return
        manager = getattr(self.app.state, "mcp_sessions", None)
        if manager is None:
            await JSONResponse(errors.error_body(503, "unavailable", "the MCP endpoint is not running"),
                               status_code=503)(scope, receive, send)
            return
        await manager.handle_request(scope, receive, send)


def security(settings) -> TransportSecuritySettings:
    """DNS-rebinding protection: loopback Host names and WSIS_MCP_ALLOWED_HOSTS ("*": no check)."""
    if "*" in settings.mcp_allowed_hosts:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    hosts = ["127.0.0.1", "localhost", "[::1]"] + list(settings.mcp_allowed_hosts)
    origins = [f"http://{h}" for h in hosts[:3]] + [f"https://{h}" for h in settings.mcp_allowed_hosts]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True,
                                     allowed_hosts=hosts + [f"{h}:*" for h in hosts],
                                     allowed_origins=origins + [f"{o}:*" for o in origins] + list(settings.cors_origins))


def install(app) -> None:
    """Serve the MCP server at /mcp (stateless streamable HTTP, JSON responses); `lifespan(app)` runs it."""
    from starlette.routing import Route

    buckets = getattr(app.state, "ask_buckets", None)

    def limiter(ctx: Context) -> None:
        request = getattr(ctx.request_context, "request", None)
        if buckets is None or request is None:
            return
        ok, retry = buckets.allow(request.client.host if request.client else "unknown")
        if not ok:
            raise ToolError(f"too many questions; try again in {max(1, int(retry + 0.999))} s")

    s = app.state.settings
    app.state.mcp = build_server(lambda: getattr(app.state, "engine", None),
                                 answer_settings=AnswerSettings.from_settings(s),
                                 conversations=app.state.conversations, generator=app.state.generator,
                                 limiter=limiter)
    app.router.routes.append(Route("/mcp", endpoint=_Endpoint(app)))


@contextlib.asynccontextmanager
async def lifespan(app):
    """A fresh session manager for each run of the app (a manager runs once)."""
    server = getattr(app.state, "mcp", None)
    if server is None:
        yield
        return
    s = app.state.settings
    server.streamable_http_app(streamable_http_path="/mcp", stateless_http=True, json_response=True,
                               transport_security=security(s), max_request_body_size=s.max_body_bytes)
    manager = server.session_manager
    async with manager.run():
        app.state.mcp_sessions = manager
        try:
            yield
        finally:
            app.state.mcp_sessions = None
