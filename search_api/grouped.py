"""Results grouped by document, for the page: one card per document with its best passage and the other
passages of that document that also ranked ("N more passages in this document"); and browsing a
filtered selection without a query (most recent first), in the same shape as a search.

A grouped search ranks the passages once (the engine's flat ranking, near-duplicates collapsed) and
groups that ranking by document, so the order of documents is the order of their best passages and the
passages under a document are the ones that ranked, best first. Counts that mean something: `documents`
(documents among the ranked passages), `relevant` (passages, and their documents, whose dense cosine to
the query reaches `RELEVANT_COSINE`: the level under which /ask abstains), and `passages_matched` (every
passage holding a query word or close enough to count as a match: what the facets count)."""

from __future__ import annotations

import re
import time

import numpy as np

from .engine import Engine
from .facets import facets
from .filters import Filters
from .fusion import Hit
from .present import mark, passage_cards
from .service import clean_query

RELEVANT_COSINE = 0.40  # as WSIS_ASK_ABSTAIN_BELOW: a passage this close to the query is on its topic
MORE_SHOWN = 5  # passages shown under a document's best one (more_count says how many ranked in all)


# words that give a passage its role: a card of a passage with a role shows the window around them
_ROLE_WORDS = {"recommendation": ["recommend", "should", "must", "need", "urge", "call", "encourag", "essential",
                                  "important", "ensure", "promot", "strengthen"],
               "challenge": ["challeng", "barrier", "obstacle", "lack", "difficult", "problem", "risk", "threat",
                             "gap", "concern", "hinder", "hamper", "limited", "insufficient", "unable"],
               "achievement": ["achiev", "accomplish", "success", "launched", "established", "completed",
                               "implemented", "deployed", "trained", "connected", "adopted", "delivered", "improved",
                               "increased", "reached", "milestone", "progress"],
               "commitment": ["commit", "pledge", "will", "plan", "aim", "roadmap", "next"]}


def role_excerpt(text: str, role: str, max_chars: int = 320) -> str:
    """The window of `text` (HTML-escaped, verbatim) that starts at the sentence with most of the role's
    words, questions left out ("What are your recommendations?" recommends nothing)."""
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    pat = re.compile(r"\b(" + "|".join(_ROLE_WORDS[role]) + r")\w*", re.I)
    scores = [len(pat.findall(x)) if not x.rstrip().endswith("?") else -1 for x in sentences]
    best = max(range(len(sentences)), key=lambda i: (scores[i], -i)) if sentences else 0
    out, j = sentences[best] if sentences else "", best + 1
    while j < len(sentences) and len(out) + len(sentences[j]) < max_chars:
        out += " " + sentences[j]
        j += 1
    if len(out) > max_chars:
        out = out[:max_chars].rsplit(" ", 1)[0] + " …"
    return mark(("… " if best > 0 else "") + out, None)


def _brief(card: dict) -> dict:
    keep = ("passage_id", "score", "snippet", "page", "speaker", "heading", "role", "action_lines")
    return {k: card.get(k) for k in keep}


def _group(engine: Engine, hits: list[Hit]) -> tuple[list[str], dict[str, list[Hit]]]:
    groups: dict[str, list[Hit]] = {}
    for h in hits:
        groups.setdefault(str(engine.doc_ids[h.vid]), []).append(h)
    return list(groups), groups


def _page_cards(engine: Engine, docs: list[str], groups: dict[str, list[Hit]], q: str) -> list[dict]:
    """One card per document of the page (its best hit), each with `more` (the next MORE_SHOWN hits of
    the document, briefly) and `more_count` (all its other hits)."""
    cards = passage_cards(engine, [groups[d][0] for d in docs], q)
    more_hits = [h for d in docs for h in groups[d][1:1 + MORE_SHOWN]]
    more = {}
    for c in passage_cards(engine, more_hits, q):
        more.setdefault(c["document_id"], []).append(_brief(c))
    for c in cards:
        c["more"] = more.get(c["document_id"], [])
        c["more_count"] = len(groups[c["document_id"]]) - 1
    return cards


def search_grouped(engine: Engine, q: str, *, k: int = 10, offset: int = 0, filters: Filters = Filters(),
                   mode: str = "hybrid") -> dict:
    """`service.search`'s response with one card per document (`group_by: "document"`); `total` and
    `available` count documents, `passages_matched` the passages of the match set."""
    t0 = time.perf_counter()
    q = clean_query(q)
    depth = max(engine.candidates, (k + offset) * 3)
    res = engine.search(q, k=2 * depth, offset=0, filters=filters, mode=mode, depth=depth)
    t = time.perf_counter()
    docs, groups = _group(engine, res.hits)
    cards = _page_cards(engine, docs[offset:offset + k], groups, q)
    relevant = None
    if res.mode != "bm25":
        close = [h for h in res.hits if h.dense_score is not None and h.dense_score >= RELEVANT_COSINE]
        relevant = {"passages": len(close), "documents": len({str(engine.doc_ids[h.vid]) for h in close}),
                    "cosine": RELEVANT_COSINE}
    timings = dict(res.timings)
    timings["present"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    return {
        "build_id": engine.index.manifest.get("build_id"),
        "query": q, "query_run": {"text": q, "mode": res.mode, "filters": filters.as_dict(), "group_by": "document"},
        **({"notice": res.notice} if res.notice else {}),
        "total": len(docs), "available": len(docs), "documents": len(docs), "passages_ranked": len(res.hits),
        "passages_matched": res.total, "relevant": relevant,
        "k": k, "offset": offset, "results": cards, "facets": res.facets,
        "timing_ms": {name: round(v * 1000, 3) for name, v in timings.items()},
    }


def browse(engine: Engine, *, k: int = 10, offset: int = 0, filters: Filters = Filters(),
           group_by: str | None = "document") -> dict:
    """The passages inside `filters` without a query: most recent year first, then the more substantive
    (procedure last), one card per document with `group_by="document"`. Facets count the selection."""
    t0 = time.perf_counter()
    cols = engine.cols
    mask = engine.mask(filters)
    vids = np.flatnonzero(mask) if mask is not None else np.arange(engine.n)
    years = cols.years[vids].astype(np.int64)
    order = np.lexsort((vids, -cols.substance[vids], -np.where(years < 0, -1, years)))
    ranked = vids[order]
    if group_by == "document":
        codes = doc_codes(engine)[ranked]
        _, first = np.unique(codes, return_index=True)
        heads = ranked[np.sort(first)]
        page = heads[offset:offset + k]
        groups = {}
        for v in page.tolist():
            members = ranked[codes == doc_codes(engine)[v]]
            groups[str(engine.doc_ids[v])] = [Hit(vid=int(m), score=0.0) for m in members]
        cards = _page_cards(engine, list(groups), groups, "")
        total = len(heads)
    else:
        cards = passage_cards(engine, [Hit(vid=int(v), score=0.0) for v in ranked[offset:offset + k]], "")
        total = len(ranked)
    for c in cards:  # no query to highlight: show what gives a passage its role
        for x in [c, *c.get("more", [])]:
            if x.get("role") in _ROLE_WORDS:
                x["snippet"] = role_excerpt(_text(engine, c, x), x["role"])
    out_facets = facets(cols, vids, exact_below=engine.facets_exact_below)
    return {
        "build_id": engine.index.manifest.get("build_id"),
        "query": "", "query_run": {"text": "", "mode": "browse", "filters": filters.as_dict(), "group_by": group_by},
        "total": total, "available": total, "documents": int(len(np.unique(doc_codes(engine)[vids]))),
        "passages_matched": int(len(vids)), "relevant": None,
        "k": k, "offset": offset, "results": cards, "facets": out_facets,
        "timing_ms": {"total": round((time.perf_counter() - t0) * 1000, 3)},
    }


def _text(engine: Engine, card: dict, x: dict) -> str:
    if x is card:
        return card["text"]
    p = engine.index.store.passage_by_id(x["passage_id"])
    return p.text if p is not None else ""


def doc_codes(engine: Engine) -> np.ndarray:
    """An integer per passage naming its document (the document column's codes)."""
    return np.asarray(engine.doc_ids.codes, dtype=np.int64)
