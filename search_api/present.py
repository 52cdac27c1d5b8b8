"""Turn engine hits into result cards: passage, document fields, tags, and an HTML-escaped snippet."""

from __future__ import annotations

import html
import re
from bisect import bisect_right
from functools import lru_cache


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@lru_cache(maxsize=512)
def term_pattern(stems: tuple[str, ...]) -> re.Pattern | None:
    """The pattern of words starting with one of the stemmed query terms (None: no term to mark)."""
    stems = tuple(t.lower() for t in stems if len(t) >= 2)
    return re.compile(r"\b(" + "|".join(re.escape(s) for s in stems) + r")\w*", re.I) if stems else None


def snippet(text: str, terms: list[str], max_chars: int = 320) -> str:
    """The best sentence window around the query terms, HTML-escaped, with the terms wrapped in
    <mark>. Escaping happens before marking, so document text can never inject markup. The first sentence
    holding the most term matches starts the window (matches counted in one pass over the text: a match
    never spans the whitespace between sentences)."""
    if not text:
        return ""
    sentences = _SENTENCE_END.split(text)
    pat = term_pattern(tuple(terms))
    best = 0
    if pat is not None and len(sentences) > 1:
        starts = [0] + [m.end() for m in _SENTENCE_END.finditer(text)]
        counts = [0] * len(sentences)
        for m in pat.finditer(text):
            counts[bisect_right(starts, m.start()) - 1] += 1
        best = counts.index(max(counts))
    out = sentences[best]
    j = best + 1
    while j < len(sentences) and len(out) + len(sentences[j]) < max_chars:
        out += " " + sentences[j]
        j += 1
    if len(out) > max_chars:
        out = out[:max_chars].rsplit(" ", 1)[0] + " …"
    prefix = "… " if best > 0 else ""
    return mark(prefix + out, pat)


def mark(text: str, pat: re.Pattern | None) -> str:
    """HTML-escape `text`, wrapping the matches of `pat` in <mark>. Matches are found in the raw text and
    each piece is escaped on its own, so a mark can never fall inside an entity or a tag."""
    if pat is None:
        return html.escape(text, quote=True)
    out, pos = [], 0
    for m in pat.finditer(text):
        out.append(html.escape(text[pos:m.start()], quote=True))
        out.append(f"<mark>{html.escape(m.group(0), quote=True)}</mark>")
        pos = m.end()
    out.append(html.escape(text[pos:], quote=True))
    return "".join(out)


def passage_cards(engine, hits, query: str) -> list[dict]:
    rows = engine.index.store.passages([h.vid for h in hits])
    docs = engine.index.store.documents([rows[h.vid].doc_id for h in hits if h.vid in rows])
    terms = engine.index.keyword.terms(query)
    cards = []
    for h in hits:
        p = rows.get(h.vid)
        if p is None:
            continue
        d = docs.get(p.doc_id, {})
        meta = d.get("metadata", {})
        cards.append({
            "passage_id": p.id, "score": round(h.score, 6), "text": p.text, "snippet": snippet(p.text, terms),
            "document_id": p.doc_id, "title": d.get("title", ""), "kind": d.get("kind", ""), "year": d.get("year"),
            "source": d.get("source", ""), "url": d.get("url") or meta.get("url", ""), "page": p.page,
            "speaker": p.speaker, "heading": p.heading, "action_lines": p.action_lines, "role": p.role,
            "sdgs": p.sdgs, "country": meta.get("country", ""), "organisation": meta.get("organisation", ""),
            "ranks": {"dense": h.dense_rank, "bm25": h.bm25_rank},
        })
    return cards
