"""The OpenAPI document as the server really behaves (checked by schemathesis with all its checks in
tests/test_hardening.py): every error status an operation returns, in the one error shape; the constraints
the code enforces (vocabularies, non-blank queries, "exactly one seed"); the media type of /ask/stream.

FastAPI derives the document from the route signatures; this module completes it after generation, so
the routes stay thin. Operations of other protocols (/v1 OpenAI-compatible, /mcp) keep their own."""

from __future__ import annotations

import copy
from typing import Any

from indexer.actionlines import FILTER_CODES
from indexer.models import KINDS
from indexer.tag import ROLES

# a query must hold one character that is neither white space nor a control character (those are removed)
NON_BLANK = r"[^\s\x00-\x1f\x7f]"
ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA = {
    "type": "object", "required": ["error"], "additionalProperties": False,
    "properties": {"error": {
        "type": "object", "required": ["status", "code", "message"],
        "properties": {"status": {"type": "integer"}, "code": {"type": "string"}, "message": {"type": "string"},
                       "details": {}}}},
}
WHY = {
    400: "A value the code refuses: an unknown action line, kind or role (the allowed values in `details`), "
         "a query that is blank once control characters are removed, or a seed combination the operation does "
         "not take.",
    404: "No such document, passage or action line.",
    413: "Request body over WSIS_MAX_BODY_BYTES (also a chunked body: refused as soon as it passes the limit).",
    422: "A parameter or body field outside its schema.",
    429: "Too many questions from this client (WSIS_ASK_RATE_PER_MINUTE); see Retry-After.",
    503: "The index is not loaded, the encoder is loading, or every answer worker is busy (then Retry-After).",
}
# the error statuses of each operation (method, path as in the document); others get DEFAULT_ERRORS
ERRORS: dict[tuple[str, str], tuple[int, ...]] = {
    ("get", "/search"): (400, 422, 503),
    ("get", "/browse"): (400, 422, 503),
    ("get", "/facets"): (400, 422, 503),
    ("get", "/documents/{doc_id}"): (404, 503),
    ("get", "/passages/{passage_id}"): (404, 422, 503),
    ("get", "/related"): (400, 404, 422, 503),
    ("get", "/related/groups"): (400, 422, 503),
    ("get", "/action-lines"): (503,),
    ("get", "/action-lines/{code}"): (404, 422, 503),
    ("get", "/health"): (503,),
    ("get", "/stats"): (503,),
    ("post", "/ask"): (400, 413, 422, 429, 503),
    ("post", "/ask/stream"): (400, 413, 422, 429, 503),
}
DEFAULT_ERRORS = (400, 404, 422, 503)
SSE_EVENT = {"type": "object", "required": ["event", "data"],
             "properties": {"event": {"enum": ["meta", "passages", "notice", "sentence", "related", "done", "error"]},
                            "data": {"type": "string", "contentMediaType": "application/json"}}}
OTHER_PROTOCOLS = ("/v1", "/mcp")
VOCABULARY = {"action_line": sorted(FILTER_CODES), "kind": list(KINDS), "role": list(ROLES)}
YEARS = "1990-2100; a year_from after year_to is an empty range (no match)"


def install(app) -> None:
    """Replace app.openapi with the generated document completed by `complete` (computed once)."""
    generate = app.openapi

    def openapi():
        if app.openapi_schema is None:
            app.openapi_schema = complete(copy.deepcopy(generate()))
        return app.openapi_schema

    app.openapi_schema = None
    app.openapi = openapi


def complete(doc: dict[str, Any]) -> dict[str, Any]:
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    for path, ops in doc.get("paths", {}).items():
        if path.startswith(OTHER_PROTOCOLS):
            continue
        for method, op in ops.items():
            errors = ERRORS.get((method, path), DEFAULT_ERRORS + ((413,) if method == "post" else ()))
            responses = op.setdefault("responses", {})
            for code in [c for c in responses if c.startswith(("4", "5"))]:
                del responses[code]  # FastAPI's HTTPValidationError: not the shape the server sends
            for code in errors:
                entry = {"description": WHY[code], "content": {"application/json": {"schema": ERROR_REF}}}
                if code in (429, 503):
                    entry["headers"] = {"Retry-After": {"description": "seconds to wait (busy, rate limited)",
                                                        "schema": {"type": "string", "pattern": "^[0-9]+$"}}}
                responses[str(code)] = entry
            for p in op.get("parameters", []):
                _constrain(p, path)
            if (method, path) == ("get", "/related"):
                _one_of_params(op, ["document_id", "passage_id", "text"], exactly_one=True)
            if (method, path) == ("get", "/related/groups"):
                _one_of_params(op, ["action_line", "q"], exactly_one=False)
            if (method, path) == ("post", "/ask/stream"):
                responses["200"] = {"description": "server-sent events: meta, passages, one sentence per answer "
                                                   "sentence, related, done (or error); each `data` is JSON",
                                    "content": {"text/event-stream": {"itemSchema": SSE_EVENT}}}
    for name in ("AskFilters",):
        for field, values in VOCABULARY.items():
            prop = schemas.get(name, {}).get("properties", {}).get(field)
            if prop is not None:
                prop["items"] = {"type": "string", "enum": values}
        for field in ("year_from", "year_to"):
            prop = schemas.get(name, {}).get("properties", {}).get(field)
            if prop is not None:
                prop["description"] = YEARS
    if "AskRequest" in schemas:
        schemas["AskRequest"]["properties"]["question"]["pattern"] = NON_BLANK
    return doc


def _array_or_value(schema: dict) -> dict:
    """The schema of the values (the items of an array parameter, else the parameter itself)."""
    for alt in schema.get("anyOf", [schema]):
        if alt.get("type") == "array":
            return alt.setdefault("items", {"type": "string"})
    return schema


def _constrain(p: dict, path: str) -> None:
    name, schema = p["name"], p.setdefault("schema", {})
    if p.get("in") != "query":
        return
    alts = [a for a in schema.get("anyOf", []) if a.get("type") != "null"]
    if len(alts) == 1 and len(schema["anyOf"]) == 2:  # `X | None`: a query string cannot carry a null
        schema.pop("anyOf")
        schema.update(alts[0])
    if name in VOCABULARY:
        target = _array_or_value(schema)
        if target is schema and "anyOf" in schema:  # str | None
            schema.pop("anyOf")
            schema.update({"type": "string"})
            target = schema
        target.pop("maxLength", None)
        target.update({"type": "string", "enum": VOCABULARY[name]})
    elif name in ("year_from", "year_to"):
        p["description"] = YEARS
    elif name in ("q", "text") and path in ("/search",):
        p["required"] = True
        schema.pop("default", None)
        schema["minLength"] = 1
        schema["pattern"] = NON_BLANK


def _one_of_params(op: dict, names: list[str], exactly_one: bool) -> None:
    """Fold query parameters that go together into one object parameter (form style, exploded: the same
    query string) whose schema says which combinations are allowed, which separate parameters cannot."""
    params = [p for p in op.get("parameters", []) if p["name"] in names]
    props = {}
    for p in params:
        s = dict(p.get("schema", {}))
        s.pop("default", None)
        if "anyOf" in s:  # str | None
            alt = next(a for a in s["anyOf"] if a.get("type") != "null")
            s = {k: v for k, v in {**s, **alt}.items() if k != "anyOf"}
        if p["name"] in ("text", "q"):
            s["pattern"] = NON_BLANK
        if p["name"] in ("document_id", "passage_id"):
            s["minLength"] = 1
        props[p["name"]] = s
    # other (unknown) query parameters are ignored by the server, so the object allows them
    if exactly_one:
        schema = {"oneOf": [{"type": "object", "properties": {n: props[n]}, "required": [n],
                             "not": {"anyOf": [{"required": [m]} for m in names if m != n]}} for n in names]}
    else:
        schema = {"type": "object", "properties": props, "anyOf": [{"required": [n]} for n in names]}
    op["parameters"] = [p for p in op.get("parameters", []) if p["name"] not in names] + [{
        "name": "seed", "in": "query", "style": "form", "explode": True, "required": True, "schema": schema,
        "description": ("exactly one of " if exactly_one else "at least one of ") + ", ".join(names)}]
