"""Related initiatives: who else works on the same problem or uses the same approach, and the IGF
discussions and report recommendations around it, each with why.

Initiatives are compared through what they do, not who does it and where: the build embeds each
stocktaking entry's title and description with its organisation, acronym, country and other place names
removed and the words about the tool ("mobile app", "platform") left out (`indexer/initiatives.py`, exposed
as `engine.index.initiatives`). The score is a convex mix of the cosine of those vectors and BM25 over the
same stripped texts; shared action lines only break ties. Same-organisation and same-country entries go to
their own short lists; variants of one project (the same entry another year) are folded. An index built without the artifact falls back to the first method
(`related_legacy`)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

import numpy as np

from .engine import Engine
from .errors import BadRequest, NotFound, Unavailable
from .filters import Filters, lines_of
from .fusion import Hit
from .present import passage_cards
from .related_legacy import related_legacy
from .service import clean_query

DISCUSSIONS = Filters(kinds=("igf_transcript",))
# Report recommendations: the facilitators' reports and the reference texts (Plan of Action, outcome
# documents, their summaries), passages whose role is a recommendation.
RECOMMENDATIONS = Filters(kinds=("action_line_report", "reference"), roles=("recommendation",))


@dataclass(frozen=True)
class RelatedSettings:
    lexical_weight: float = 0.4  # share of the BM25 (0..1) in the initiative score (tuned on dev)
    passage_lexical_weight: float = 0.1  # the same for a passage, a document or a text (a question) seed
    mmr_lambda: float = 1.0  # relevance vs novelty (1: variants folded only; any novelty weight lost on dev)
    variant_cosine: float = 0.92  # at or above: a variant of an item already listed (another year's entry)
    line_bonus: float = 0.005  # per shared action line: a tie-breaker, not a signal
    full_text_weight: float = 0.3  # share of the cosine of the whole texts as indexed (context the stripped
    # problem text loses, e.g. an IGF passage's session title); chosen on the dev seeds
    pool: int = 40  # candidates MMR chooses from
    side: int = 3  # length of the same-organisation and same-country lists


DEFAULT = RelatedSettings()


@dataclass
class Seed:
    type: str  # initiative | igf_passage | recommendation | passage | document | text
    text: str  # what the lexical signal and the key phrases read (names removed for an initiative)
    title: str
    vec: np.ndarray
    document_id: str | None = None
    passage_id: str | None = None
    row: int | None = None  # the seed's row among the initiatives
    lines: set[str] = field(default_factory=set)
    exclude: set[str] = field(default_factory=set)
    full: np.ndarray | None = None  # the seed's vector as indexed (organisation and places left in)


def related(engine: Engine, *, document_id: str | None = None, passage_id: str | None = None,
            text: str | None = None, k: int = 5, cfg: RelatedSettings = DEFAULT) -> dict:
    """For a document, a passage or a text: related initiatives (same problem or approach), the IGF
    discussions and report recommendations on it, and the seed's organisation's and country's other
    initiatives apart. Every item has `why`: shared key phrases (also <mark>ed in its snippet),
    similarity, shared action lines."""
    given = [x for x in (document_id, passage_id, text) if x]
    if len(given) != 1:
        raise BadRequest("give exactly one of document_id, passage_id or text")
    seed = resolve_seed(engine, document_id, passage_id, text)
    out: dict = {"query": {"type": seed.type, "document_id": seed.document_id, "passage_id": seed.passage_id,
                           "title": seed.title, "text": seed.text[:300], "action_lines": sorted(seed.lines)}}
    ini = engine.index.initiatives
    if ini is None:  # an index built before initiatives.npy: the first method
        out["query"]["method"] = "passage-average"
        out.update(related_legacy(engine, seed.vec, seed.lines, seed.document_id, seed.title or seed.text, k))
        out.update({"more_from_organisation": [], "elsewhere_in_country": []})
        return out
    out["query"]["method"] = "problem"
    out["query"]["key_phrases"] = ini.key_phrases([seed.row]) if seed.row is not None else []
    rows, side = rank_initiatives(engine, seed, k, cfg)
    out["initiatives"] = initiative_cards(engine, seed, rows)
    out["more_from_organisation"] = initiative_cards(engine, seed, side["organisation"])
    out["elsewhere_in_country"] = initiative_cards(engine, seed, side["country"])
    out["discussions"] = passage_items(engine, seed, DISCUSSIONS, k)
    out["recommendations"] = passage_items(engine, seed, RECOMMENDATIONS, k)
    return out


# ---------------------------------------------------------------- the seed


def resolve_seed(engine: Engine, document_id: str | None, passage_id: str | None, text: str | None) -> Seed:
    store, ini = engine.index.store, engine.index.initiatives
    if text:
        q = clean_query(text)
        vec = full = _encode(engine, q)
        lines: set[str] = set()
        if engine.tagger is not None:
            tags = engine.tagger.tag(q, "", "", [], engine.tagger.scores(vec.reshape(1, -1))[0])
            lines = {t["line"] for t in tags["action_lines"]}
        if ini is not None:
            vec = _encode(engine, ini.problem_text(q))
        return Seed("text", q, "", vec, lines=lines, full=full)
    if passage_id:
        p = store.passage_by_id(passage_id)
        if p is None:
            raise NotFound(f"no passage with id {passage_id!r}")
        doc = store.document(p.doc_id) or {}
        if doc.get("kind") == "stocktaking_entry" and ini is not None and p.doc_id in ini.row:
            seed = _initiative_seed(engine, doc)
            seed.passage_id = passage_id
            return seed
        kind = "recommendation" if p.role == "recommendation" else \
            "igf_passage" if doc.get("kind") == "igf_transcript" else "passage"
        title = doc.get("title", "")
        # an IGF session's title names its topic; a report's title names the report
        full = f"{title}. {p.text}" if title and kind == "igf_passage" else p.text
        vec = _encode(engine, ini.problem_text(full)) if ini is not None else \
            _unit(np.asarray(engine.embeddings[p.vid], dtype=np.float32))
        return Seed(kind, full, title, vec, document_id=p.doc_id, passage_id=passage_id,
                    lines=lines_of(engine.cols.line_masks[p.vid]), exclude={p.doc_id},
                    full=_unit(np.asarray(engine.embeddings[p.vid], dtype=np.float32)))
    doc = store.document(document_id)
    if doc is None:
        raise NotFound(f"no document with id {document_id!r}")
    if doc["kind"] == "stocktaking_entry" and ini is not None and document_id in ini.row:
        return _initiative_seed(engine, doc)
    ps = store.doc_passages(document_id)
    vec = np.asarray(engine.embeddings[[p.vid for p in ps]], dtype=np.float32).mean(axis=0)
    lines = set()
    for p in ps:
        lines |= lines_of(engine.cols.line_masks[p.vid])
    body = " ".join(p.text for p in ps)[:4000]
    return Seed("initiative" if doc["kind"] == "stocktaking_entry" else "document", f"{doc['title']}. {body}",
                doc["title"], _unit(vec), document_id=document_id, lines=lines, exclude={document_id}, full=_unit(vec))


def _initiative_seed(engine: Engine, doc: dict) -> Seed:
    ini = engine.index.initiatives
    row = ini.row[doc["id"]]
    lines = set()
    ps = engine.index.store.doc_passages(doc["id"])
    for p in ps:
        lines |= lines_of(engine.cols.line_masks[p.vid])
    full = _unit(np.asarray(engine.embeddings[[p.vid for p in ps]], dtype=np.float32).mean(axis=0)) if ps else None
    return Seed("initiative", ini.texts[row], doc["title"], ini.vectors[row], document_id=doc["id"], row=row,
                lines=lines, exclude={doc["id"]}, full=full)


def _encode(engine: Engine, text: str) -> np.ndarray:
    if not engine.wait_for_encoder(30):
        raise Unavailable("the encoder is still loading; try again in a few seconds")
    return _unit(np.asarray(engine.encode_query(text[:2000]), dtype=np.float32))


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


# ---------------------------------------------------------------- initiatives


def initiative_scores(engine: Engine, seed: Seed, cfg: RelatedSettings = DEFAULT) -> tuple[np.ndarray, np.ndarray]:
    """(score, dense cosine) of every initiative for the seed."""
    ini = engine.index.initiatives
    dense = ini.vectors @ seed.vec
    w = cfg.lexical_weight if seed.type == "initiative" else cfg.passage_lexical_weight
    score = (1 - w) * dense
    if w:
        score = score + w * ini.lexical(seed.text)
    if seed.full is not None and cfg.full_text_weight:
        b = cfg.full_text_weight
        score = (1 - b) * score + b * (np.asarray(engine.embeddings[_row_vids(engine)], dtype=np.float32) @ seed.full)
    if seed.lines and cfg.line_bonus:
        masks = engine.cols.line_masks[_row_vids(engine)]
        shared = np.array([len(seed.lines & lines_of(m)) for m in masks])
        score = score + cfg.line_bonus * np.minimum(shared, 2)
    return score, dense


def rank_initiatives(engine: Engine, seed: Seed, k: int, cfg: RelatedSettings = DEFAULT):
    """Rows of the related initiatives (MMR over the best `pool`, variants folded), and the rows of the
    seed's organisation's and country's other initiatives {"organisation": [...], "country": [...]}."""
    ini = engine.index.initiatives
    score, _ = initiative_scores(engine, seed, cfg)
    org = ini.organisations[seed.row] if seed.row is not None else ""
    country = ini.countries[seed.row] if seed.row is not None else ""
    side: dict[str, list[int]] = {"organisation": [], "country": []}
    pool: list[int] = []
    for r in np.argsort(-score, kind="stable").tolist():
        if ini.ids[r] in seed.exclude:
            continue
        if org and ini.organisations[r] == org:
            if len(side["organisation"]) < cfg.side:
                side["organisation"].append(r)
        elif country and ini.countries[r] == country:
            if len(side["country"]) < cfg.side:
                side["country"].append(r)
        elif len(pool) < cfg.pool:
            pool.append(r)
        if len(pool) >= cfg.pool and len(side["organisation"]) >= cfg.side and len(side["country"]) >= cfg.side:
            break
    return mmr(ini.vectors, score, pool, k, cfg, ini.texts), side


def mmr(vectors: np.ndarray, score: np.ndarray, pool: list[int], k: int, cfg: RelatedSettings = DEFAULT,
        titles: list[str] | None = None) -> list[int]:
    """Maximal marginal relevance over `pool`; a candidate at or above `variant_cosine` to one already
    chosen, or with the same title, is a variant of it (the same project entered another year) and is
    not listed."""
    if not pool:
        return []
    vecs = vectors[pool]
    sims = vecs @ vecs.T
    rel = score[pool]
    chosen: list[int] = []
    left = list(range(len(pool)))
    while left and len(chosen) < k:
        if chosen:
            red = sims[np.ix_(left, chosen)].max(axis=1)
            val = cfg.mmr_lambda * rel[left] - (1 - cfg.mmr_lambda) * red
        else:
            red = np.zeros(len(left))
            val = rel[left]
        i = int(np.argmax(val))
        pick = left.pop(i)
        if chosen and (red[i] >= cfg.variant_cosine or titles is not None and
                       _title_key(titles[pool[pick]]) in {_title_key(titles[pool[c]]) for c in chosen}):
            continue
        chosen.append(pick)
    return [pool[i] for i in chosen]


def _title_key(text: str) -> str:
    """The title part of a stripped text, lower-case letters and digits only."""
    return re.sub(r"[^a-z0-9]+", "", text.split(". ")[0].lower())


def _row_vids(engine: Engine) -> np.ndarray:
    """The passage id (vid) of each initiative row: its entry's first passage. Cached per engine."""
    cached = getattr(engine, "_initiative_vids", None)
    ini = engine.index.initiatives
    if cached is None or len(cached) != len(ini):
        first: dict[str, int] = {}
        for vid, d in enumerate(engine.doc_ids.tolist()):
            first.setdefault(d, vid)
        cached = np.array([first.get(d, 0) for d in ini.ids], dtype=np.int64)
        engine._initiative_vids = cached
    return cached


def initiative_cards(engine: Engine, seed: Seed, rows: list[int]) -> list[dict]:
    ini = engine.index.initiatives
    vids = _row_vids(engine)[rows].tolist() if rows else []
    score, dense = initiative_scores(engine, seed) if rows else (None, None)
    cards = passage_cards(engine, [Hit(vid=v, score=1.0) for v in vids], "")
    for c, r in zip(cards, rows):
        phrases = ini.shared_phrases(seed.text, ini.texts[r])
        _explain(engine, c, seed, float(dense[r]), float(score[r]), phrases, c["text"])
    return cards


# ---------------------------------------------------------------- discussions, recommendations


def passage_items(engine: Engine, seed: Seed, f: Filters, k: int, min_similarity: float = 0.3) -> list[dict]:
    """The best passage of each of the k nearest documents of a kind (hybrid: the seed's vector and its
    text as keywords), the seed's own document excluded, nothing under `min_similarity` (cosine)."""
    res = engine.search(seed.text[:1000], k=3 * k + len(seed.exclude), filters=f, qvec=seed.vec, group_by="document")
    hits, sims, titles = [], [], set()
    docs = engine.index.store.documents([engine.doc_ids[h.vid] for h in res.hits])
    for h in res.hits:
        d = engine.doc_ids[h.vid]
        title = _title_key(docs.get(d, {}).get("title", d))  # a session's edited and raw captions: one
        sim = float(np.dot(np.asarray(engine.embeddings[h.vid], dtype=np.float32), seed.vec))
        if d in seed.exclude or title in titles or sim < min_similarity:
            continue
        titles.add(title)
        hits.append(h)
        sims.append(sim)
        if len(hits) >= k:
            break
    cards = passage_cards(engine, hits, "")
    ini = engine.index.initiatives
    for c, h, sim in zip(cards, hits, sims):
        phrases = ini.shared_phrases(seed.text, c["text"]) if ini is not None else []
        _explain(engine, c, seed, sim, float(h.score), phrases, c["text"])
    return cards


# ---------------------------------------------------------------- why


def _explain(engine: Engine, card: dict, seed: Seed, sim: float, score: float, phrases: list[str], text: str) -> None:
    shared_lines = sorted(seed.lines & set(_card_lines(card)))
    why = []
    if phrases:
        why.append("both about " + ", ".join(f"“{p}”" for p in phrases))
    why.append(f"similarity {sim:.2f}")
    if shared_lines:
        why.append("shares action line" + ("s " if len(shared_lines) > 1 else " ") + ", ".join(shared_lines))
    card["score"] = round(score, 4)
    card["why"] = {"shared_phrases": phrases, "similarity": round(sim, 4), "shared_action_lines": shared_lines,
                   "text": "; ".join(why)}
    card["snippet"] = highlight(engine, text, phrases)


def _card_lines(card: dict) -> list[str]:
    out = []
    for t in card.get("action_lines") or []:
        out.append(t["line"] if isinstance(t, dict) else str(t))
    return out


_WORDS = re.compile(r"[A-Za-z0-9]+(?:[-'][A-Za-z0-9]+)*")


def highlight(engine: Engine, text: str, phrases: list[str], max_chars: int = 360) -> str:
    """The start of `text` (HTML-escaped), with the words of the shared phrases wrapped in <mark>: words
    are compared by stem, so "networks" marks "network"."""
    ini = engine.index.initiatives
    if len(text) > max_chars:
        text = text[:max_chars].rsplit(" ", 1)[0] + " …"
    if ini is None or not phrases:
        return html.escape(text, quote=True)
    stems = {ini.stem(w) for p in phrases for w in p.split()}
    out, pos = [], 0
    for m in _WORDS.finditer(text):
        if ini.stem(m.group(0)) in stems:
            out.append(html.escape(text[pos:m.start()], quote=True))
            out.append(f"<mark>{html.escape(m.group(0), quote=True)}</mark>")
            pos = m.end()
    out.append(html.escape(text[pos:], quote=True))
    return "".join(out)
