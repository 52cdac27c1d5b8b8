"""Filters and the per-passage columns they run on: everything a filter or a facet needs about a passage is
turned into numpy columns once, when an index is loaded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from indexer.actionlines import CODES
from indexer.tag import filter_codes

LINE_BITS = {c: 1 << i for i, c in enumerate(CODES)}
C7_MASK = sum(v for c, v in LINE_BITS.items() if c.startswith("C7."))


@dataclass(frozen=True)
class Filters:
    action_lines: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    year_from: int | None = None
    year_to: int | None = None
    countries: tuple[str, ...] = ()
    stakeholders: tuple[str, ...] = ()

    def empty(self) -> bool:
        return not (self.action_lines or self.kinds or self.roles or self.year_from or self.year_to
                    or self.countries or self.stakeholders)

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items() if v}


def line_mask(codes) -> int:
    """The action-line bits of a list of codes ("C7" stands for all its sub-lines)."""
    m = 0
    for code in codes:
        if code in LINE_BITS:
            m |= LINE_BITS[code]
        elif code == "C7":
            m |= C7_MASK
    return m


def lines_of(mask: int) -> set[str]:
    return {c for c, b in LINE_BITS.items() if int(mask) & b}


def filter_threshold(manifest: dict) -> float:
    """The tag score at which a passage counts under a line, as its index was built with (the setting
    `tag_filter_threshold`; 0, i.e. every stored tag, for an index built before it existed)."""
    return float((manifest.get("tagger") or {}).get("filter_threshold", 0.0))


def tag_line_masks(store, threshold: float) -> np.ndarray:
    """Per passage (vid order), the bits of the lines its tags score at least `threshold` on: the lines an
    action-line filter or facet counts it under (the same lines the Milvus `lines` field holds)."""
    masks, seen = [], {}
    for (tags,) in store.con.execute("SELECT action_lines FROM passages ORDER BY vid"):
        m = seen.get(tags)
        if m is None:
            m = seen[tags] = line_mask(filter_codes(json.loads(tags), threshold))
        masks.append(m)
    return np.array(masks, dtype=np.int64)


class Columns:
    """Per-passage columns of a loaded index (row = passage vid)."""

    def __init__(self, store, line_threshold: float = 0.0):
        cols = store.columns()
        self.n = len(cols["doc_id"])
        self.doc_ids = np.array(cols["doc_id"], dtype=object)
        self.kinds = np.array(cols["kind"], dtype=object)
        self.roles = np.array(cols["role"], dtype=object)
        self.years = np.array([y if y is not None else -1 for y in cols["year"]], dtype=np.int32)
        self.countries = np.array([(c or "").lower() for c in cols["country"]], dtype=object)
        self.stakeholders = np.array([(s or "").lower() for s in cols["stakeholder"]], dtype=object)
        # who speaks in each passage, and the passages of each speaker
        self.speaker_vids: dict[str, np.ndarray] = {}
        for vid, names in enumerate(cols["speaker"]):
            for name in names:
                self.speaker_vids.setdefault(name, []).append(vid)
        self.speaker_vids = {k: np.array(v, dtype=np.int64) for k, v in self.speaker_vids.items()}
        self.organisations = np.array(cols["organisation"], dtype=object)
        self.substance = np.array(cols["substance"], dtype=np.float32)
        # primary sources: reports, transcripts, entries and the action-line records; secondary: other
        # reference pages (wiki-style summaries of documents)
        self.primary = np.array([k != "reference" or "#" in d for k, d in zip(cols["kind"], cols["doc_id"])],
                                dtype=bool)
        self.line_threshold = line_threshold
        self.line_masks = tag_line_masks(store, line_threshold)
        names, codes = np.unique(self.kinds.astype(str), return_inverse=True)
        self.kind_names, self.kind_codes = [str(x) for x in names], codes.astype(np.int64)
        names, codes = np.unique(self.roles.astype(str), return_inverse=True)
        self.role_names, self.role_codes = [str(x) for x in names], codes.astype(np.int64)
        dated = self.years[self.years >= 0]
        self.year_min = int(dated.min()) if len(dated) else 0

    def mask(self, f: Filters) -> np.ndarray | None:
        """The passages inside the filter (None: no filter, every passage)."""
        if f.empty():
            return None
        m = np.ones(self.n, dtype=bool)
        if f.action_lines:
            m &= (self.line_masks & line_mask(f.action_lines)) != 0
        if f.kinds:
            m &= np.isin(self.kinds, list(f.kinds))
        if f.roles:
            m &= np.isin(self.roles, list(f.roles))
        if f.year_from is not None:
            m &= self.years >= f.year_from
        if f.year_to is not None:
            m &= (self.years <= f.year_to) & (self.years >= 0)
        if f.countries:
            wanted = [c.lower() for c in f.countries]
            m &= np.array([any(w in c for w in wanted) for c in self.countries], dtype=bool)
        if f.stakeholders:
            wanted = [s.lower() for s in f.stakeholders]
            m &= np.array([any(w in s for w in wanted) for s in self.stakeholders], dtype=bool)
        return m
