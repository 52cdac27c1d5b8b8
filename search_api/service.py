"""The domain layer of the API: plain functions over an Engine, usable without HTTP."""

from __future__ import annotations

import re
import time
from collections import Counter

from indexer.actionlines import ACTION_LINES, FILTER_CODES, normalise_filter
from indexer.models import KINDS
from indexer.tag import ROLES, descriptions

from .engine import Engine
from .filters import LINE_BITS, Filters
from .fusion import Hit
from .errors import BadRequest, NotFound
from .present import passage_cards

MAX_QUERY_CHARS = 1000
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_query(q: str | None) -> str:
    q = _CTRL.sub(" ", q or "")
    q = re.sub(r"\s+", " ", q).strip()
    if not q:
        raise BadRequest("the query is empty", {"field": "q"})
    if len(q) > MAX_QUERY_CHARS:
        raise BadRequest(f"the query is longer than {MAX_QUERY_CHARS} characters", {"field": "q"})
    return q


def make_filters(action_line=None, kind=None, role=None, year_from=None, year_to=None, country=None,
                 stakeholder=None) -> Filters:
    lines = []
    for v in action_line or []:
        for part in str(v).split(","):
            if not part.strip():
                continue
            code = normalise_filter(part)
            if code is None:
                raise BadRequest(f"unknown action line {part.strip()!r}",
                                 {"field": "action_line", "allowed": sorted(FILTER_CODES)})
            lines.append(code)
    for v in kind or []:
        if v not in KINDS:
            raise BadRequest(f"unknown kind {v!r}", {"field": "kind", "allowed": list(KINDS)})
    for v in role or []:
        if v not in ROLES:
            raise BadRequest(f"unknown role {v!r}", {"field": "role", "allowed": list(ROLES)})
    # year_from after year_to is an empty range (no match), not an error: the OpenAPI document cannot state
    # the order of two parameters, and every request its schema allows is answered
    return Filters(action_lines=tuple(dict.fromkeys(lines)), kinds=tuple(kind or ()), roles=tuple(role or ()),
                   year_from=year_from, year_to=year_to,
                   countries=tuple(c.strip() for c in country or () if c.strip()),
                   stakeholders=tuple(s.strip() for s in stakeholder or () if s.strip()))


def search(engine: Engine, q: str, *, k: int = 10, offset: int = 0, filters: Filters = Filters(),
           mode: str = "hybrid", group_by: str | None = None) -> dict:
    t0 = time.perf_counter()
    q = clean_query(q)
    res = engine.search(q, k=k, offset=offset, filters=filters, mode=mode, group_by=group_by)
    t = time.perf_counter()
    cards = passage_cards(engine, res.hits, q)
    timings = dict(res.timings)
    timings["present"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    return {
        "build_id": engine.index.manifest.get("build_id"),
        "query": q, "query_run": {"text": q, "mode": res.mode, "filters": filters.as_dict(), "group_by": group_by},
        **({"notice": res.notice} if res.notice else {}),
        "total": res.total, "available": res.available, "k": k, "offset": offset, "results": cards,
        "facets": res.facets,
        "timing_ms": {name: round(v * 1000, 3) for name, v in timings.items()},
    }


def document(engine: Engine, doc_id: str) -> dict:
    d = engine.index.store.document(doc_id, with_text=True)
    if d is None:
        raise NotFound(f"no document with id {doc_id!r}")
    passages = engine.index.store.doc_passages(doc_id)
    d["passages"] = [{"passage_id": p.id, "ordinal": p.ordinal, "heading": p.heading, "page": p.page,
                      "speaker": p.speaker, "start": p.start, "end": p.end, "role": p.role,
                      "action_lines": p.action_lines} for p in passages]
    d.pop("content_hash", None)
    return d


def passage(engine: Engine, passage_id: str, context: int = 1) -> dict:
    p = engine.index.store.passage_by_id(passage_id)
    if p is None:
        raise NotFound(f"no passage with id {passage_id!r}")
    siblings = engine.index.store.doc_passages(p.doc_id)
    card = passage_cards(engine, [Hit(vid=p.vid, score=1.0)], "")[0]
    card["snippet"] = ""
    before = [s for s in siblings if p.ordinal - context <= s.ordinal < p.ordinal]
    after = [s for s in siblings if p.ordinal < s.ordinal <= p.ordinal + context]
    brief = lambda s: {"passage_id": s.id, "ordinal": s.ordinal, "text": s.text, "heading": s.heading,
                       "page": s.page, "speaker": s.speaker}
    card["previous"] = [brief(s) for s in before]
    card["next"] = [brief(s) for s in after]
    card["ordinal"] = p.ordinal
    card["passages_in_document"] = len(siblings)
    return card


def action_lines(engine: Engine) -> list[dict]:
    desc = descriptions()
    counts: dict[str, Counter] = {a.code: Counter() for a in ACTION_LINES}
    for code, bit in LINE_BITS.items():
        sel = (engine.cols.line_masks & bit) != 0
        counts[code] = Counter(engine.cols.roles[sel].tolist())
        counts[code]["_docs"] = len(set(engine.doc_ids[sel].tolist()))
    out = []
    for a in ACTION_LINES:
        c = counts[a.code]
        out.append({"code": a.code, "parent": a.parent, "name": a.name, "description": desc[a.code],
                    "facilitators": list(a.facilitators), "passages": sum(v for k, v in c.items() if k != "_docs"),
                    "documents": c["_docs"], "by_role": {r: c.get(r, 0) for r in ROLES}})
    return out


def stats(engine: Engine) -> dict:
    m = engine.index.manifest
    return {"build_id": m.get("build_id"), "built_at": m.get("built_at"), "model": m.get("model"),
            "counts": m.get("counts"), "chunker": m.get("chunker"), "tagger": m.get("tagger"),
            "vector_index": m.get("vector_index"), "corpus_hash": m.get("corpus_hash"),
            "package_version": m.get("package_version"),
            "kinds": dict(Counter(engine.cols.kinds.tolist())), "roles": dict(Counter(engine.cols.roles.tolist()))}

