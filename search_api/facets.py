"""Facet counts (action line, kind, role, year, year x kind) over a set of passages, with numpy on the
integer columns prepared at load time."""

from __future__ import annotations

import re

import numpy as np

from indexer.actionlines import CODES, parent_code

from .filters import C7_MASK, LINE_BITS, Columns


_BITS = np.array(list(LINE_BITS.values()), dtype=np.int64)


def facets(cols: Columns, vids: np.ndarray, extra: np.ndarray | None = None,
           exact_below: int | None = None) -> dict[str, dict]:
    """Counts over `vids` (+ `extra`, disjoint). Above `exact_below` passages the counts are estimated from
    an evenly strided sample and scaled (`estimated: true` in the result); below, exact."""
    vids = np.asarray(vids, dtype=np.int64)
    if extra is not None and len(extra):
        vids = np.concatenate([vids, np.asarray(extra, dtype=np.int64)])
    n = len(vids)
    scale = 1.0
    if exact_below is not None and n > exact_below:
        step = int(np.ceil(n / exact_below))
        vids = vids[::step]
        scale = n / len(vids)
    out = _counts(cols, vids, scale)
    if scale != 1.0:
        out["estimated"] = True
        out["sampled"] = int(len(vids))
    return out


def _counts(cols: Columns, vids: np.ndarray, scale: float) -> dict[str, dict]:
    est = (lambda x: int(round(x * scale))) if scale != 1.0 else int
    masks = cols.line_masks[vids]
    per_line = ((masks[:, None] & _BITS[None, :]) != 0).sum(axis=0) if len(vids) else np.zeros(len(_BITS))
    lines: dict[str, int] = {code: est(c) for code, c in zip(LINE_BITS, per_line.tolist()) if c}
    c7 = int(np.count_nonzero(masks & C7_MASK))
    if c7:
        lines["C7"] = est(c7)
    kinds = np.bincount(cols.kind_codes[vids], minlength=len(cols.kind_names))
    roles = np.bincount(cols.role_codes[vids], minlength=len(cols.role_names))
    years = cols.years[vids]
    dated = years >= 0
    year_kind: dict[str, dict[str, int]] = {}
    if dated.any():
        nk = len(cols.kind_names)
        key = (years[dated].astype(np.int64) - cols.year_min) * nk + cols.kind_codes[vids][dated]
        counts = np.bincount(key)
        for k in np.flatnonzero(counts):
            y, kc = divmod(int(k), nk)
            year_kind.setdefault(str(y + cols.year_min), {})[cols.kind_names[kc]] = est(counts[k])
    by_year = {y: sum(v.values()) for y, v in year_kind.items()}

    def by_count(d):
        return dict(sorted(d.items(), key=lambda kv: -kv[1]))

    return {
        "year_kind": year_kind,
        "action_line": dict(sorted(lines.items(), key=lambda kv: line_order(kv[0]))),
        "kind": by_count({cols.kind_names[i]: est(c) for i, c in enumerate(kinds) if c}),
        "role": by_count({cols.role_names[i]: est(c) for i, c in enumerate(roles) if c}),
        "year": by_year,
    }


def line_order(code: str) -> tuple[int, int]:
    p = parent_code(code)
    num = int(re.sub(r"\D", "", p) or 0)
    return (num, CODES.index(code) + 1 if code in CODES else 0)
