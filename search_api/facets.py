"""Facet counts (action line, kind, role, year, year x kind) over a set of passages, with numpy on the
integer columns prepared at load time."""

from __future__ import annotations

import re

import numpy as np

from indexer.actionlines import CODES, parent_code

from .filters import C7_MASK, LINE_BITS, Columns


def facets(cols: Columns, vids: np.ndarray) -> dict[str, dict]:
    vids = np.asarray(vids, dtype=np.int64)
    masks = cols.line_masks[vids]
    lines: dict[str, int] = {}
    for code, bit in LINE_BITS.items():
        n = int(np.count_nonzero(masks & bit))
        if n:
            lines[code] = n
    c7 = int(np.count_nonzero(masks & C7_MASK))
    if c7:
        lines["C7"] = c7
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
            year_kind.setdefault(str(y + cols.year_min), {})[cols.kind_names[kc]] = int(counts[k])
    by_year = {y: sum(v.values()) for y, v in year_kind.items()}

    def by_count(d):
        return dict(sorted(d.items(), key=lambda kv: -kv[1]))

    return {
        "year_kind": year_kind,
        "action_line": dict(sorted(lines.items(), key=lambda kv: line_order(kv[0]))),
        "kind": by_count({cols.kind_names[i]: int(n) for i, n in enumerate(kinds) if n}),
        "role": by_count({cols.role_names[i]: int(n) for i, n in enumerate(roles) if n}),
        "year": by_year,
    }


def line_order(code: str) -> tuple[int, int]:
    p = parent_code(code)
    num = int(re.sub(r"\D", "", p) or 0)
    return (num, CODES.index(code) + 1 if code in CODES else 0)
