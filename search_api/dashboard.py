"""Overview data for the page, from the per-passage columns (no query): facet counts of the whole corpus
or of a filter (what the page shows before a search), and one action line's dashboard for its
facilitators (passages per year by role and by kind, the most recent recommendations and challenges with
their citations, the IGF sessions that discussed it)."""

from __future__ import annotations

import re
import threading
from collections import Counter

import numpy as np

from indexer.actionlines import ACTION_LINES, BY_CODE, normalise_filter
from indexer.tag import ROLES, descriptions

from .engine import Engine
from .errors import NotFound
from .facets import facets
from .filters import Filters
from .fusion import Hit
from .grouped import doc_codes, role_excerpt
from .present import passage_cards

RECENT = 5  # recommendations and challenges shown per role
SESSIONS = 10  # IGF sessions listed (the count says how many there are)
MIN_SUBSTANCE = 0.5  # procedural passages (thanks, hand-overs) are cited only when nothing better exists
_CACHE: dict[tuple[int, str], tuple[Engine, dict]] = {}
_LOCK = threading.Lock()


def _selection(engine: Engine, filters: Filters) -> np.ndarray:
    mask = engine.mask(filters)
    return np.flatnonzero(mask) if mask is not None else np.arange(engine.n)


def corpus_facets(engine: Engine, filters: Filters = Filters()) -> dict:
    """Exact facet counts over every passage inside `filters` (the whole corpus without filters), with the
    number of passages and documents they make."""
    key = (id(engine), repr(filters))
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0] is engine:
            return hit[1]
    vids = _selection(engine, filters)
    out = {"passages": int(len(vids)), "documents": int(len(np.unique(doc_codes(engine)[vids]))),
           "filters": filters.as_dict(), "facets": facets(engine.cols, vids)}
    _remember(key, engine, out)
    return out


def _remember(key, engine: Engine, out: dict) -> None:
    with _LOCK:
        _CACHE[key] = (engine, out)
        while len(_CACHE) > 128:
            _CACHE.pop(next(iter(_CACHE)))


def line_info(code: str) -> dict:
    """Code, name, description, facilitators (and sub-lines for C7) of one action line."""
    desc = descriptions()
    if code == "C7":
        subs = [a for a in ACTION_LINES if a.parent == "C7"]
        facilitators = list(dict.fromkeys(f for a in subs for f in a.facilitators))
        return {"code": "C7", "parent": "C7", "name": "ICT applications: benefits in all aspects of life",
                "description": "; ".join(f"{a.code.split('.')[1]}: {desc[a.code]}" for a in subs),
                "facilitators": facilitators, "sub_lines": [a.code for a in subs]}
    a = BY_CODE[code]
    return {"code": a.code, "parent": a.parent, "name": a.name, "description": desc[a.code],
            "facilitators": list(a.facilitators), "sub_lines": []}


def citation(card: dict) -> str:
    """"Title (IGF session, 2020), SPEAKER" / "Title (Report, 2019), page 3": who said it, where."""
    kind = {"action_line_report": "Report", "igf_transcript": "IGF session", "stocktaking_entry": "Initiative",
            "reference": "Reference"}.get(card.get("kind", ""), card.get("kind", ""))
    bits = ", ".join(str(x) for x in (kind, card.get("year")) if x)
    where = f"page {card['page']}" if card.get("page") else (card.get("speaker") or "")
    who = ", ".join(x for x in (card.get("organisation"), card.get("country")) if x)
    return f"{card.get('title', '')} ({bits})" + (f", {where}" if where else "") + (f"; {who}" if who else "")


_TITLE_STOP = {"the", "a", "an", "of", "in", "on", "and", "for", "to", "at"}


def _twin_key(doc: dict) -> tuple:
    """The edited and raw captions of one IGF session are two documents whose titles differ at most in small
    words ("... in the post pandemic times" / "... in post pandemic times"): one key."""
    words = tuple(w for w in re.findall(r"[a-z0-9]+", doc.get("title", "").lower()) if w not in _TITLE_STOP)
    return (words, doc.get("year")) if words else (doc.get("id"),)


def _recent(engine: Engine, vids: np.ndarray, n: int) -> list[int]:
    """Up to `n` passages, one per document (twins of a session count as one): most recent year first,
    primary sources before secondary ones, substantive before procedural."""
    cols = engine.cols
    if not len(vids):
        return []
    years = cols.years[vids].astype(np.int64)
    good = cols.substance[vids] >= MIN_SUBSTANCE
    order = np.lexsort((vids, -cols.substance[vids], ~cols.primary[vids], ~good, -np.where(years < 0, -1, years)))
    docs = engine.index.store.documents(sorted({str(engine.doc_ids[v]) for v in vids.tolist()}))
    out, seen = [], set()
    for v in vids[order].tolist():
        key = _twin_key(docs.get(str(engine.doc_ids[v]), {}))
        if key in seen:
            continue
        seen.add(key)
        out.append(v)
        if len(out) == n:
            break
    return out


def action_line(engine: Engine, code: str, recent: int = RECENT, sessions: int = SESSIONS) -> dict:
    """One action line's dashboard: its text and facilitators; passages, documents, counts per role and
    per kind; per year x role and year x kind (undated passages counted apart); the most recent
    recommendations and challenges as cited cards; the IGF sessions with passages on the line."""
    norm = normalise_filter(str(code).strip())
    if norm is None:
        norm = normalise_filter(str(code).strip().upper())
    if norm is None:
        raise NotFound(f"no action line {code!r}")
    key = (id(engine), f"line:{norm}:{recent}:{sessions}")
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0] is engine:
            return hit[1]
    cols = engine.cols
    vids = _selection(engine, Filters(action_lines=(norm,)))
    years, roles, kinds = cols.years[vids], cols.roles[vids], cols.kinds[vids]
    dated = years >= 0
    year_role: dict[str, dict[str, int]] = {}
    year_kind: dict[str, dict[str, int]] = {}
    for (y, r), n in Counter(zip(years[dated].tolist(), roles[dated].tolist())).items():
        year_role.setdefault(str(y), {})[r] = n
    for (y, k), n in Counter(zip(years[dated].tolist(), kinds[dated].tolist())).items():
        year_kind.setdefault(str(y), {})[k] = n
    sort_years = lambda d: {y: d[y] for y in sorted(d, key=int)}
    codes = doc_codes(engine)

    def cards(role: str) -> list[dict]:
        chosen = _recent(engine, vids[roles == role], recent)
        out = passage_cards(engine, [Hit(vid=v, score=0.0) for v in chosen], "")
        for c in out:
            c["citation"] = citation(c)
            c["snippet"] = role_excerpt(c["text"], role)
            c.pop("ranks", None)
        return out

    igf = vids[kinds == "igf_transcript"]
    per_doc = Counter(codes[igf].tolist())
    first_vid = {}
    for v in igf.tolist():
        first_vid.setdefault(codes[v], v)
    doc_ids = [str(engine.doc_ids[first_vid[c]]) for c in per_doc]
    docs = engine.index.store.documents(doc_ids)
    role_of = Counter(zip(codes[igf].tolist(), cols.roles[igf].tolist()))
    # where to open each session: its most substantive passage on the line, and the first of each role
    best: dict[tuple, int] = {}
    for v in igf[np.lexsort((igf, -cols.substance[igf]))].tolist():
        best.setdefault((codes[v], "all"), v)
        best.setdefault((codes[v], str(cols.roles[v])), v)
    rows = engine.index.store.passages(sorted(set(best.values())))
    pid = lambda c, r: rows[best[(c, r)]].id
    by_key: dict[tuple, dict] = {}
    for c, d in zip(per_doc, doc_ids):
        meta = docs.get(d, {})
        item = {"document_id": d, "title": meta.get("title", d), "year": meta.get("year"),
                "url": meta.get("url", ""), "passages": per_doc[c],
                "by_role": {r: role_of[(c, r)] for r in ROLES if r != "none" and role_of[(c, r)]}}
        item["passage_id"] = pid(c, "all")
        item["passage_by_role"] = {r: pid(c, r) for r in item["by_role"]}
        # a session's edited and raw captions: one entry, the edited text's (raw only without it)
        key = _twin_key(meta)
        raw = bool(meta.get("metadata", {}).get("raw_captions"))
        if key not in by_key or (by_key[key]["_raw"] and not raw):
            by_key[key] = {**item, "_raw": raw}
    igf_sessions = [{k: v for k, v in s.items() if k != "_raw"} for s in by_key.values()]
    igf_sessions.sort(key=lambda s: (-s["passages"], -(s["year"] or 0), s["title"]))
    out = {
        **line_info(norm),
        "passages": int(len(vids)), "documents": int(len(np.unique(codes[vids]))),
        "undated": int((~dated).sum()),
        "by_role": {r: int((roles == r).sum()) for r in ROLES},
        "by_kind": dict(Counter(kinds.tolist()).most_common()),
        "documents_by_kind": dict(Counter(str(k) for k in
                                          cols.kinds[vids[np.unique(codes[vids], return_index=True)[1]]].tolist())),
        "year_role": sort_years(year_role), "year_kind": sort_years(year_kind),
        "recent": {"recommendation": cards("recommendation"), "challenge": cards("challenge")},
        "igf_sessions": igf_sessions[:sessions], "igf_session_count": len(igf_sessions),
    }
    _remember(key, engine, out)
    return out
