"""Initiatives grouped by problem: the stocktaking entries of one action line, or the best matches of a
query, clustered on their problem vectors (average linkage, cosine), each group labelled with the key
phrases its members share."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from .engine import Engine
from .errors import BadRequest, Unavailable
from indexer.columns import tag_line_masks

from .filters import line_mask
from .related import _row_vids
from .service import clean_query, make_filters

SIMILARITY = 0.45  # members of a group are at least this similar on average (cosine of problem vectors)
MAIN_LINE_SCORE = 0.5  # an initiative belongs to a line's groups when its tag for the line scores at least this
MAX_MEMBERS = 400  # initiatives clustered at most (the best matches of a query, all entries of a line)
_CACHE: OrderedDict = OrderedDict()
_LOCK = threading.Lock()


def related_groups(engine: Engine, *, action_line: str | None = None, q: str | None = None,
                   limit: int = 100, similarity: float = SIMILARITY) -> dict:
    """{"groups": [{"label", "key_phrases", "size", "initiatives": [...]}], "ungrouped": [...]} for the
    entries of `action_line`, or for the `limit` best stocktaking matches of `q` (both: the matches within
    the line)."""
    ini = engine.index.initiatives
    if ini is None:
        raise Unavailable("this index has no initiative representations; rebuild it to group initiatives")
    if not action_line and not q:
        raise BadRequest("give action_line, q or both")
    f = make_filters([action_line] if action_line else None, ["stocktaking_entry"])
    vids = _row_vids(engine)
    if q:
        query = clean_query(q)
        res = engine.search(query, k=min(limit, MAX_MEMBERS), filters=f, group_by="document")
        row_of = {v: r for r, v in enumerate(vids.tolist())}
        rows = [row_of[h.vid] for h in res.hits if h.vid in row_of]
    else:
        query = ""
        # an action line's initiatives are those filed mainly under it (declared, named, or inferred with
        # a score of at least MAIN_LINE_SCORE), not every entry the line's filter reaches as a secondary line
        bits = line_mask(f.action_lines)
        mains = tag_line_masks(engine.index.store, MAIN_LINE_SCORE)
        kinds = engine.cols.kinds
        rows = [r for r, v in enumerate(vids.tolist())
                if kinds[v] == "stocktaking_entry" and mains[v] & bits][:MAX_MEMBERS]
    key = (id(engine), action_line, query, limit, similarity)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    out = {"action_line": f.action_lines[0] if f.action_lines else None, "q": query or None,
           "initiatives": len(rows), **cluster(engine, rows, similarity)}
    with _LOCK:
        _CACHE[key] = out
        while len(_CACHE) > 64:
            _CACHE.popitem(last=False)
    return out


def cluster(engine: Engine, rows: list[int], similarity: float = SIMILARITY) -> dict:
    """Average-linkage clusters of `rows` cut where the mean cosine falls under `similarity`; groups of
    two or more, largest first, members nearest the group's centre first; the rest `ungrouped`."""
    ini = engine.index.initiatives
    if len(rows) < 2:
        return {"groups": [], "ungrouped": _members(engine, rows)}
    from scipy.cluster.hierarchy import fcluster, linkage

    vecs = ini.vectors[rows].astype(np.float64)
    z = linkage(vecs, method="average", metric="cosine")
    labels = fcluster(z, t=1.0 - similarity, criterion="distance")
    groups, ungrouped = [], []
    for lab in sorted(set(labels.tolist())):
        members = [rows[i] for i in np.flatnonzero(labels == lab)]
        if len(members) < 2:
            ungrouped += members
            continue
        centre = ini.vectors[members].mean(axis=0)
        members.sort(key=lambda r: -float(ini.vectors[r] @ centre))
        phrases = ini.key_phrases(members, top=3)
        label = ", ".join(phrases) if phrases else ini.texts[members[0]].split(". ")[0][:60]
        groups.append({"label": label, "key_phrases": phrases, "size": len(members),
                       "initiatives": _members(engine, members)})
    groups.sort(key=lambda g: (-g["size"], g["label"]))
    return {"groups": groups, "ungrouped": _members(engine, ungrouped)}


def _members(engine: Engine, rows: list[int]) -> list[dict]:
    ini = engine.index.initiatives
    docs = engine.index.store.documents([ini.ids[r] for r in rows])
    out = []
    for r in rows:
        d = docs.get(ini.ids[r], {})
        meta = d.get("metadata", {})
        out.append({"document_id": ini.ids[r], "title": d.get("title", ""), "year": d.get("year"),
                    "country": meta.get("country", ""), "organisation": meta.get("organisation", "")})
    return out
