"""An OpenAI-compatible chat API over the same answers as /ask, for the front-ends people already use (Open
WebUI, LibreChat, any OpenAI client library): `GET /v1/models`, `POST /v1/chat/completions` (JSON, or
server-sent chunks with `stream: true`).

- The last user message is the question; the earlier user messages are replayed, in order, into a fresh
  server-side conversation (never one named by the client), so follow-ups resolve exactly as on /ask.
- The answer text carries numbered citations `[1]` and a "Sources" list; the structured answer (items,
  numbered citations, passages, abstention, query run) travels in the extra field `wsis`, which standard
  clients ignore. An abstention is an ordinary answer that says so (`wsis.abstained`).
- Filters: the extra body field `filters` (the keys of /ask's filters) and/or prefixes of the question,
  `action line C5: ...`, `C7.e-health: ...`, `kind igf_transcript: ...`, `role recommendation: ...`,
  `year 2020: ...` / `years 2015-2020: ...`, `country Kenya: ...`, chained (`C5: year 2020: ...`).
- Errors in the OpenAI shape `{"error": {"message", "type", "param", "code"}}` (`OpenAIErrors` rewrites every
  error response under /v1); the /ask rate limit (same token buckets), the body limit, and the bearer token
  `WSIS_API_TOKEN` when it is set."""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from indexer.actionlines import ACTION_LINES, normalise_filter
from indexer.models import KINDS
from indexer.tag import ROLES

from . import errors, service
from .answer import AnswerSettings, Conversations, Turn, answer, answer_json, collect
from .conversation import resolve
from .engine import Engine
from .filters import Filters
from .question import understand
from .routes import AskFilters, FastJSON, get_engine

log = logging.getLogger(__name__)

EXTRACTIVE, GENERATIVE = "wsis-extractive", "wsis-generative"
MAX_REPLAYED = 20  # earlier user messages replayed into the conversation (the conversation keeps 20 turns)
_LINE_NAMES = {a.code: a.name for a in ACTION_LINES}
KIND_LABELS = {"igf_transcript": "IGF transcript", "stocktaking_entry": "WSIS stocktaking entry",
               "action_line_report": "action line report", "reference": "reference"}


# ---------------------------------------------------------------- errors in the OpenAI shape

class ModelNotFound(errors.NotFound):
    code = "model_not_found"


class Internal(errors.ApiError):
    status, code = 500, "internal_error"


def openai_error(status: int, message: str, code: str | None = None, param: str | None = None) -> dict:
    kind = ("server_error" if status >= 500 else "requests" if status == 429 else "invalid_request_error")
    code = {"rate_limited": "rate_limit_exceeded", "http_error": None}.get(code, code) if code else None
    if status == 401:
        code = "invalid_api_key"
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _param(details) -> str | None:
    if isinstance(details, dict) and isinstance(details.get("field"), str):
        return details["field"]
    if isinstance(details, list) and details and isinstance(details[0], dict):
        return details[0].get("field")
    return None


def to_openai(status: int, raw: bytes) -> tuple[int, bytes]:
    """An error response of the API (the one shape of `errors`) as the OpenAI error shape; a 422 (invalid
    body) becomes the 400 the OpenAI API answers."""
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        body = None
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict) and "type" in err and "message" in err:
        return status, raw  # already in the OpenAI shape
    if status == 422:
        status = 400
    if isinstance(err, dict):
        out = openai_error(status, str(err.get("message", "error")), err.get("code"), _param(err.get("details")))
    else:
        out = openai_error(status, raw.decode("utf-8", "replace")[:500] or "error")
    return status, json.dumps(out, ensure_ascii=False).encode("utf-8")


class OpenAIErrors:
    """ASGI middleware: every error response under /v1 (from a route, validation, the body limit, the rate
    limit, an unknown path) is rewritten to the OpenAI error shape. Successful and streamed responses pass."""

    def __init__(self, app, prefix: str = "/v1"):
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == self.prefix or path.startswith(self.prefix + "/")):
            await self.app(scope, receive, send)
            return
        held: dict = {}
        chunks: list[bytes] = []

        async def send_(message):
            if message["type"] == "http.response.start" and message["status"] >= 400:
                held["start"] = message
                return
            if message["type"] == "http.response.body" and "start" in held:
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                status, body = to_openai(held["start"]["status"], b"".join(chunks))
                headers = [(k, v) for k, v in held["start"].get("headers", [])
                           if k.lower() not in (b"content-length", b"content-type")]
                headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, send_)


class OpenAIRoute(APIRoute):
    """An unexpected exception becomes an error response here, inside the middleware that reshapes errors
    (Starlette's catch-all handler runs outside every middleware)."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def run(request):
            try:
                return await handler(request)
            except (StarletteHTTPException, RequestValidationError, errors.ApiError):
                raise
            except Exception as exc:
                log.exception("unhandled error on %s", request.url.path)
                raise Internal("internal error") from exc

        return run


def check_token(request: Request) -> None:
    """`Authorization: Bearer <WSIS_API_TOKEN>` when the setting is non-empty."""
    token = request.app.state.settings.api_token
    if not token:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise StarletteHTTPException(401, "invalid or missing API key: send Authorization: Bearer <token>",
                                     headers={"WWW-Authenticate": "Bearer"})


def rate_limit(request: Request) -> None:
    """The /ask token buckets: questions asked here and on /ask share one budget per client."""
    buckets = getattr(request.app.state, "ask_buckets", None)
    if buckets is None:
        return
    ok, retry = buckets.allow(request.client.host if request.client else "unknown")
    if not ok:
        raise StarletteHTTPException(429, "too many questions; slow down",
                                     headers={"Retry-After": str(max(1, int(retry + 0.999)))})


router = APIRouter(prefix="/v1", route_class=OpenAIRoute, dependencies=[Depends(check_token)],
                   tags=["OpenAI-compatible"])


# ---------------------------------------------------------------- models

def generator_for(app):
    """The generative answerer behind `wsis-generative`: the app's (WSIS_ANSWERER=generative), else one for
    WSIS_LLM_URL when that is set; None when no endpoint is configured."""
    gen = getattr(app.state, "generator", None)
    if gen is not None:
        return gen
    s = app.state.settings
    if not s.llm_url:
        return None
    gen = getattr(app.state, "chat_generator", None)
    if gen is None:
        from .generate import ChatAnswerer

        gen = app.state.chat_generator = ChatAnswerer(s.llm_url, s.llm_model, s.llm_api_key, s.llm_timeout_s)
    return gen


_CREATED = int(time.time())


def _model_card(name: str) -> dict:
    return {"id": name, "object": "model", "created": _CREATED, "owned_by": "wsis-search"}


def model_names(app) -> list[str]:
    return [EXTRACTIVE] + ([GENERATIVE] if generator_for(app) is not None else [])


@router.get("/models", summary="The answer modes, as OpenAI models")
def list_models(request: Request):
    """`wsis-extractive` (verbatim cited sentences), and `wsis-generative` when an LLM endpoint is set."""
    return {"object": "list", "data": [_model_card(m) for m in model_names(request.app)]}


@router.get("/models/{model}", summary="One answer mode")
def get_model(model: str, request: Request):
    if model not in model_names(request.app):
        raise ModelNotFound(f"the model {model!r} does not exist; use one of {model_names(request.app)}",
                            {"field": "model"})
    return _model_card(model)


# ---------------------------------------------------------------- the request

class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = Field(max_length=40)
    text: str | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return " ".join(p.text for p in self.content or [] if p.type == "text" and p.text)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatRequest(BaseModel):
    """The OpenAI chat-completions body. Sampling parameters (temperature, max_tokens, ...) are accepted and
    ignored: the extractive answer has none. `filters` is our extra field."""

    model_config = ConfigDict(extra="ignore")
    model: str = Field(min_length=1, max_length=100)
    messages: list[Message] = Field(min_length=1, max_length=200)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(default=1, ge=1, le=1, description="one answer per request")
    filters: AskFilters | None = Field(default=None, description="the filters of /ask (our extension)")


# ---------------------------------------------------------------- filters written in the question

_KEYED = re.compile(r"^\s*(?P<key>action[ -]?lines?|kinds?|roles?|years?|countr(?:y|ies))\s+(?P<value>[^:\n]{1,100}?)"
                    r"\s*:\s*", re.I)
_BARE = re.compile(r"^\s*(?P<value>C(?:1[01]|[1-9])(?:[ .]e-?[a-z]+)?)\s*:\s*", re.I)
_YEARS = re.compile(r"^(\d{4})(?:\s*(?:-|–|to)\s*(\d{4}))?$")
KIND_ALIASES = {"transcript": "igf_transcript", "transcripts": "igf_transcript", "igf": "igf_transcript",
                "initiative": "stocktaking_entry", "initiatives": "stocktaking_entry", "stocktaking": "stocktaking_entry",
                "report": "action_line_report", "reports": "action_line_report"}


def _values(text: str) -> list[str]:
    return [v.strip() for v in re.split(r"\s*(?:,|\band\b|/)\s*", text) if v.strip()]


def split_prefix(text: str) -> tuple[str, dict]:
    """(question, filters) from a question that starts with filter prefixes ("action line C5: year 2020: ...").
    An `action line` prefix with an unknown code is an error; another key with a value that is not one of its
    values (a question such as "Role of ICTs: ...") is not a prefix and stays in the question."""
    found: dict = {"action_line": [], "kind": [], "role": [], "country": []}
    while True:
        m = _BARE.match(text)
        if m and normalise_filter(m["value"]):
            found["action_line"].append(m["value"])
            text = text[m.end():]
            continue
        m = _KEYED.match(text)
        if not m:
            break
        key, vals = m["key"].lower(), _values(m["value"])
        if key.startswith("action"):
            bad = [v for v in vals if normalise_filter(v) is None]
            if bad:
                raise errors.BadRequest(f"unknown action line {bad[0]!r} in the question's prefix",
                                        {"field": "messages", "allowed": sorted({a.code for a in ACTION_LINES})})
            found["action_line"] += vals
        elif key.startswith("kind"):
            kinds = [KIND_ALIASES.get(v.lower(), v.lower()) for v in vals]
            if not all(k in KINDS for k in kinds):
                break
            found["kind"] += kinds
        elif key.startswith("role"):
            roles = [v.lower().rstrip("s") if v.lower().rstrip("s") in ROLES else v.lower() for v in vals]
            if not all(r in ROLES for r in roles):
                break
            found["role"] += roles
        elif key.startswith("year"):
            y = _YEARS.match(m["value"].strip())
            if not y:
                break
            found["year_from"], found["year_to"] = int(y[1]), int(y[2] or y[1])
        else:  # a country is a proper name
            if not all(v[:1].isupper() for v in vals):
                break
            found["country"] += vals
        text = text[m.end():]
    return text, found


def combined_filters(body: AskFilters | None, pre: dict) -> Filters:
    f = body or AskFilters()
    return service.make_filters(f.action_line + pre["action_line"], f.kind + pre["kind"], f.role + pre["role"],
                                pre.get("year_from", f.year_from), pre.get("year_to", f.year_to),
                                f.country + pre["country"], f.stakeholder)


# ---------------------------------------------------------------- the conversation

def replay(engine: Engine, earlier: list[tuple[str, Filters]], conversations: Conversations):
    """A fresh conversation holding the earlier questions as turns, each understood and resolved against the
    ones before it as /ask did when they were asked (`compose`'s first steps, without answering them)."""
    conv = conversations.get_or_create(None)
    for question, f in earlier[-MAX_REPLAYED:]:
        q, f2, _ = resolve(understand(question, engine), f, conv)
        conversations.add(conv, Turn(question=question, understood=q, filters=f2))
    return conv


def parse_messages(body: ChatRequest) -> tuple[str, Filters, list[tuple[str, Filters]]]:
    """(question, its filters, earlier questions with theirs). Earlier messages that are not questions we
    can run (empty, too long) are skipped."""
    users = [i for i, m in enumerate(body.messages) if m.role == "user"]
    if not users:
        raise errors.BadRequest("no user message: the last user message is the question", {"field": "messages"})
    earlier = []
    for i in users[:-1]:
        try:
            text, pre = split_prefix(body.messages[i].text())
            earlier.append((service.clean_query(text), combined_filters(body.filters, pre)))
        except errors.ApiError:
            continue
    text, pre = split_prefix(body.messages[users[-1]].text())
    try:
        question = service.clean_query(text)
    except errors.ApiError as exc:
        raise errors.BadRequest(exc.message.replace("the query", "the question"), {"field": "messages"}) from exc
    return question, combined_filters(body.filters, pre), earlier


# ---------------------------------------------------------------- the answer as cited text

class CitedText:
    """Numbers the passages an answer cites in order of first citation, renders each answer item as a line
    with its `[n]`, and the numbered sources (title, kind, year, speaker or page, URL)."""

    def __init__(self, cards: list[dict]):
        self.cards = {c["passage_id"]: c for c in cards}
        self.sources: dict[str, dict] = {}

    def refs(self, item: dict) -> list[int]:
        out = []
        src = item.get("source") or {}
        for pid in item.get("citations") or []:
            if pid not in self.sources:
                card = self.cards.get(pid, {})
                get = lambda k: src.get(k) or card.get(k)  # noqa: E731
                self.sources[pid] = {
                    "n": len(self.sources) + 1, "passage_id": pid,
                    "document_id": get("document_id") or pid.split("::")[0], "title": get("title") or pid,
                    "kind": get("kind") or "", "year": get("year"), "speakers": [], "page": get("page"),
                    "url": get("url") or card.get("source") or "", "organisation": get("organisation") or "",
                    "country": get("country") or ""}
            entry = self.sources[pid]
            speaker = src.get("speaker") or (self.cards.get(pid, {}).get("speaker") if not src else "")
            if speaker and speaker not in entry["speakers"]:
                entry["speakers"].append(speaker)
            out.append(entry["n"])
        return out

    def line(self, item: dict) -> str:
        refs = "".join(f"[{n}]" for n in self.refs(item))
        text = item["text"].strip() + (f" {refs}" if refs else "")
        init = item.get("initiative")
        if init:
            bits = ", ".join(str(x) for x in (init.get("organisation"), init.get("country"), init.get("year")) if x)
            return f"- **{init['title']}**" + (f" ({bits})" if bits else "") + f": {text}"
        src = item.get("source") or {}
        if src.get("speaker"):
            who = src["speaker"] + (f" ({src['organisation']})" if src.get("organisation") else "")
            return f"{who}: {text}"
        return text

    @staticmethod
    def separator(prev: dict | None, item: dict) -> str:
        """What goes before `item`: nothing first, a line break between initiatives, a paragraph around a
        sentence led by its speaker, else a space."""
        if prev is None:
            return ""
        if item.get("initiative"):
            return "\n"
        spoken = any((i.get("source") or {}).get("speaker") for i in (prev, item))
        return "\n\n" if spoken else " "

    def text(self, items: list[dict]) -> str:
        return "".join(self.separator(items[i - 1] if i else None, it) + self.line(it) for i, it in enumerate(items))

    def source_line(self, s: dict) -> str:
        bits = [KIND_LABELS.get(s["kind"], s["kind"]), str(s["year"]) if s["year"] else ""]
        if s["speakers"]:
            bits.append(", ".join(s["speakers"]))
        elif s["page"]:
            bits.append(f"page {s['page']}")
        where = s["url"] if s["url"].startswith(("http://", "https://")) else ""
        return f"[{s['n']}] {s['title']} ({', '.join(b for b in bits if b)})" + (f" <{where}>" if where else "")

    def sources_text(self) -> str:
        if not self.sources:
            return ""
        return "\n\nSources:\n" + "\n".join(self.source_line(s) for s in self.sources.values())

    def citations(self) -> list[dict]:
        return list(self.sources.values())


def abstention_text(item: dict) -> str:
    text = item.get("text", "")
    if item.get("reason"):
        text += f" ({item['reason']})"
    near = item.get("nearest_action_lines") or []
    if near:
        text += "\n\nThe nearest action lines: " + "; ".join(f"{c} {_LINE_NAMES.get(c, '')}".strip() for c in near)
    return text


def cited_text(out: dict) -> tuple[str, list[dict]]:
    """The whole answer (the `answer_json` shape) as text with numbered citations and sources."""
    if out.get("abstained"):
        return abstention_text(out["answer"][0] if out["answer"] else {}), []
    ct = CitedText(out.get("passages", []))
    return ct.text(out["answer"]) + ct.sources_text(), ct.citations()


# ---------------------------------------------------------------- the route

def _chunk(cid: str, created: int, model: str, delta: dict, finish: str | None = None, **extra) -> str:
    data = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": None, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                                     "finish_reason": finish}], **extra}
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def _usage(question: str, text: str) -> dict:
    p, c = len(question.split()), len(text.split())  # words, not tokens: there is no tokenizer here
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _extra(out: dict, citations: list[dict]) -> dict:
    """The structured answer for clients that read it: items with their citation numbers, the numbered
    citations, the passages, and how the question was run."""
    numbers = {c["passage_id"]: c["n"] for c in citations}
    items = [{**i, "refs": [numbers[p] for p in i.get("citations", []) if p in numbers]} for i in out["answer"]]
    extra = {"abstained": out.get("abstained", False), "answer_kind": out.get("answer_kind"),
             "answerer": out.get("answerer", "extractive"), "answer": items, "citations": citations,
             "passages": out.get("passages", []), "related_initiatives": out.get("related_initiatives", []),
             "query_run": out.get("query_run"), "evidence": out.get("evidence")}
    if out.get("notice"):
        extra["notice"] = out["notice"]
    return extra


@router.post("/chat/completions", summary="A cited answer, as an OpenAI chat completion",
             dependencies=[Depends(rate_limit)])
def chat_completions(body: ChatRequest, request: Request):
    """The last user message is the question (filters may prefix it: `action line C5: ...`), the earlier user
    messages its conversation. `stream: true` sends `chat.completion.chunk` events ending with `[DONE]`."""
    app = request.app
    if body.model not in (EXTRACTIVE, GENERATIVE) or (body.model == GENERATIVE and generator_for(app) is None):
        raise ModelNotFound(f"the model {body.model!r} does not exist; use one of {model_names(app)}",
                            {"field": "model"})
    generator = generator_for(app) if body.model == GENERATIVE else None
    question, filters, earlier = parse_messages(body)
    engine = get_engine(request)
    if not engine.wait_for_encoder(60):
        raise errors.Unavailable("the encoder is still loading; try again in a few seconds")
    s = app.state.settings
    conversations = Conversations(max_count=1, max_age_s=s.ask_conversation_ttl_s)  # this request's only
    conv = replay(engine, earlier, conversations)
    cfg = AnswerSettings.from_settings(s)
    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    fingerprint = f"wsis-{engine.index.manifest.get('build_id', '')}"
    if not body.stream:
        out = answer_json(engine, question, filters, conv, conversations, cfg, generator)
        text, citations = cited_text(out)
        return FastJSON({"id": cid, "object": "chat.completion", "created": created, "model": body.model,
                         "system_fingerprint": fingerprint,
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                                      "logprobs": None, "finish_reason": "stop"}],
                         "usage": _usage(question, text), "wsis": _extra(out, citations)})
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    events = answer(engine, question, filters, conv, conversations, cfg, generator)
    first = next(events)  # the answer is decided here: its errors are HTTP errors, not stream errors

    def stream():
        out = collect([first])
        ct = CitedText([])
        sent: list[dict] = []
        text = ""
        yield _chunk(cid, created, body.model, {"role": "assistant", "content": ""})
        try:
            for name, data in events:
                collect([(name, data)], out)
                if name == "passages":
                    ct = CitedText(data)
                elif name == "sentence":
                    if out["abstained"]:
                        piece = abstention_text(data)
                    else:
                        piece = CitedText.separator(sent[-1] if sent else None, data) + ct.line(data)
                    sent.append(data)
                    text += piece
                    yield _chunk(cid, created, body.model, {"content": piece})
            tail = "" if out["abstained"] else ct.sources_text()
            if tail:
                text += tail
                yield _chunk(cid, created, body.model, {"content": tail})
            yield _chunk(cid, created, body.model, {}, "stop", wsis=_extra(out, ct.citations()))
            if include_usage:
                data = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": body.model,
                        "system_fingerprint": None, "choices": [], "usage": _usage(question, text)}
                yield f"data: {json.dumps(data)}\n\n"
        except Exception:  # the stream has started: report in-band, in the OpenAI shape
            log.exception("error while streaming a chat completion")
            yield f"data: {json.dumps(openai_error(500, 'internal error', 'internal_error'))}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
