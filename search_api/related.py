"""Related initiatives, IGF discussions and report recommendations for a document or a text."""

from __future__ import annotations

import numpy as np

from .engine import Engine
from .errors import BadRequest, NotFound, Unavailable
from .filters import Filters, lines_of
from .fusion import Hit
from .present import passage_cards
from .service import clean_query


def related(engine: Engine, *, document_id: str | None = None, text: str | None = None, k: int = 5) -> dict:
    """Stocktaking initiatives, IGF discussions and report recommendations close to a document or a text,
    each with why it is related (shared action lines, similarity)."""
    if bool(document_id) == bool(text):
        raise BadRequest("give exactly one of document_id or text")
    if document_id:
        doc = engine.index.store.document(document_id)
        if doc is None:
            raise NotFound(f"no document with id {document_id!r}")
        vids = [p.vid for p in engine.index.store.doc_passages(document_id)]
        vec = np.asarray(engine.embeddings[vids]).mean(axis=0)
        lines = set()
        for v in vids:
            lines |= _lines_of(engine, v)
        exclude = document_id
        query_text = doc["title"]
    else:
        query_text = clean_query(text)
        if not engine.wait_for_encoder(30):
            raise Unavailable("the encoder is still loading; try again in a few seconds")
        vec = engine.encode_query(query_text)
        exclude = None
        lines = set()
        if engine.tagger is not None:
            tags = engine.tagger.tag(query_text, "", "", [], engine.tagger.scores(vec.reshape(1, -1))[0])
            lines = {t["line"] for t in tags["action_lines"]}
    vec = vec / max(float(np.linalg.norm(vec)), 1e-12)
    groups = {
        "initiatives": Filters(kinds=("stocktaking_entry",)),
        "discussions": Filters(kinds=("igf_transcript",)),
        "recommendations": Filters(kinds=("action_line_report",), roles=("recommendation",)),
    }
    out: dict = {"query": {"document_id": document_id, "text": query_text, "action_lines": sorted(lines)}}
    for name, f in groups.items():
        ids, scores = engine.dense(vec.astype(np.float32), 200, engine.mask(f), f)
        items, seen = [], set()
        for vid, s in zip(ids.tolist(), scores.tolist()):
            d = engine.doc_ids[vid]
            if d == exclude or d in seen:
                continue
            seen.add(d)
            shared = sorted(lines & _lines_of(engine, vid))
            items.append((vid, s, shared))
            if len(items) >= k:
                break
        cards = passage_cards(engine, [Hit(vid=v, score=1.0) for v, _, _ in items], query_text)
        for c, (_, s, shared) in zip(cards, items):
            c["score"] = round(float(s), 4)
            why = [f"similarity {s:.2f}"]
            if shared:
                why.insert(0, "shares action line" + ("s " if len(shared) > 1 else " ") + ", ".join(shared))
            c["why"] = {"similarity": round(float(s), 4), "shared_action_lines": shared, "text": "; ".join(why)}
        out[name] = cards
    return out


def _lines_of(engine: Engine, vid: int) -> set[str]:
    return lines_of(engine.cols.line_masks[vid])
