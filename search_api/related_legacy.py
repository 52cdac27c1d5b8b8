"""The first related-initiatives method, kept callable for before/after evaluation and as the fallback for
an index built without `initiatives.npy`: the seed's averaged passage vectors against the stocktaking
passages (title, byline and description as embedded), nearest first, one item per document."""

from __future__ import annotations

import numpy as np

from .engine import Engine
from .errors import BadRequest, NotFound, Unavailable
from .filters import Filters, lines_of
from .fusion import Hit
from .present import passage_cards

GROUPS = {
    "initiatives": Filters(kinds=("stocktaking_entry",)),
    "discussions": Filters(kinds=("igf_transcript",)),
    "recommendations": Filters(kinds=("action_line_report",), roles=("recommendation",)),
}


def related_legacy(engine: Engine, vec: np.ndarray, lines: set[str], exclude: str | None, query_text: str,
                   k: int = 5) -> dict[str, list[dict]]:
    vec = vec / max(float(np.linalg.norm(vec)), 1e-12)
    out: dict[str, list[dict]] = {}
    for name, f in GROUPS.items():
        ids, scores = engine.dense(vec.astype(np.float32), 200, engine.mask(f), f)
        items, seen = [], set()
        for vid, s in zip(ids.tolist(), scores.tolist()):
            d = engine.doc_ids[vid]
            if d == exclude or d in seen:
                continue
            seen.add(d)
            shared = sorted(lines & lines_of(engine.cols.line_masks[vid]))
            items.append((vid, s, shared))
            if len(items) >= k:
                break
        cards = passage_cards(engine, [Hit(vid=v, score=1.0) for v, _, _ in items], query_text)
        for c, (_, s, shared) in zip(cards, items):
            c["score"] = round(float(s), 4)
            why = [f"similarity {s:.2f}"]
            if shared:
                why.insert(0, "shares action line" + ("s " if len(shared) > 1 else " ") + ", ".join(shared))
            c["why"] = {"similarity": round(float(s), 4), "shared_action_lines": shared, "shared_phrases": [],
                        "text": "; ".join(why)}
        out[name] = cards
    return out


def legacy_related(engine: Engine, *, document_id: str | None = None, passage_id: str | None = None,
                   text: str | None = None, k: int = 5) -> dict:
    """The first method end to end: a document's averaged passage vectors, or the encoded text (a
    passage's text cut to 1000 characters, as /ask and the first API sent it)."""
    if len([x for x in (document_id, passage_id, text) if x]) != 1:
        raise BadRequest("give exactly one of document_id, passage_id or text")
    store = engine.index.store
    lines: set[str] = set()
    exclude = None
    if document_id:
        if store.document(document_id) is None:
            raise NotFound(f"no document with id {document_id!r}")
        vids = [p.vid for p in store.doc_passages(document_id)]
        vec = np.asarray(engine.embeddings[vids], dtype=np.float32).mean(axis=0)
        for v in vids:
            lines |= lines_of(engine.cols.line_masks[v])
        exclude, query_text = document_id, store.document(document_id)["title"]
    else:
        if passage_id:
            p = store.passage_by_id(passage_id)
            if p is None:
                raise NotFound(f"no passage with id {passage_id!r}")
            text, exclude = " ".join(p.text.split())[:1000], p.doc_id
        if not engine.wait_for_encoder(30):
            raise Unavailable("the encoder is still loading; try again in a few seconds")
        query_text = text
        vec = np.asarray(engine.encode_query(text), dtype=np.float32)
    out = {"query": {"document_id": document_id, "passage_id": passage_id, "text": query_text,
                     "action_lines": sorted(lines), "method": "passage-average"}}
    out.update(related_legacy(engine, vec, lines, exclude, query_text, k))
    return out
