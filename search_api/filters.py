"""Filters and the per-passage columns they run on: everything a filter or a facet needs about a passage is
turned into numpy columns once, when an index is loaded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from indexer.columns import C7_MASK, LINE_BITS, ColumnData, compute_columns, filter_threshold, line_mask

__all__ = ["C7_MASK", "LINE_BITS", "Columns", "Filters", "filter_threshold", "line_mask", "lines_of"]


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


def lines_of(mask: int) -> set[str]:
    return {c for c, b in LINE_BITS.items() if int(mask) & b}




class Columns:
    """Per-passage columns of a loaded index (row = passage vid), from the build's memory-mapped column files
    (indexer.columns) or, for an index without them, computed from its store."""

    def __init__(self, data: ColumnData | None = None, *, store=None, line_threshold: float = 0.0):
        if data is None:
            data = compute_columns(store, line_threshold)
        self.n = data.n
        st = data.strings
        self.doc_ids, self.kinds, self.roles = st["doc_id"], st["kind"], st["role"]
        self.countries, self.stakeholders, self.organisations = st["country"], st["stakeholder"], st["organisation"]
        # plain ndarray views of the mapped files (same pages; indexing skips np.memmap's Python wrapper)
        self.years = np.asarray(data.years)
        self.substance = np.asarray(data.substance)
        self.line_threshold = data.line_threshold
        self.line_masks = np.asarray(data.line_masks)
        self._speakers = data
        self._speaker_pos = {name: i for i, name in enumerate(data.speaker_names)}
        # primary sources: reports, transcripts, entries and the action-line records; secondary: other
        # reference pages (wiki-style summaries of documents)
        doc_names = self.doc_ids.names.tolist()
        primary_doc = np.array(["#" in d for d in doc_names], dtype=bool)
        primary_kind = np.array([k != "reference" for k in self.kinds.names.tolist()], dtype=bool)
        self.primary = primary_kind[np.asarray(self.kinds.codes)] | primary_doc[np.asarray(self.doc_ids.codes)]
        self.kind_names, self.kind_codes = self._sorted_codes(self.kinds)
        self.role_names, self.role_codes = self._sorted_codes(self.roles)
        dated = np.asarray(self.years)[np.asarray(self.years) >= 0]
        self.year_min = int(dated.min()) if len(dated) else 0

    @staticmethod
    def _sorted_codes(col) -> tuple[list[str], np.ndarray]:
        """(distinct values sorted, each passage's position in them) of a coded string column."""
        names = [str(x) for x in col.names.tolist()]
        order = np.argsort(np.array(names, dtype=object)) if names else np.zeros(0, dtype=np.int64)
        rank = np.empty(len(names), dtype=np.int64)
        rank[order] = np.arange(len(names))
        return [names[i] for i in order], rank[np.asarray(col.codes)]

    def speaker_passages(self, name: str) -> np.ndarray:
        """The passages in which `name` has a turn (vids, ascending)."""
        i = self._speaker_pos.get(name)
        if i is None:
            return np.zeros(0, dtype=np.int64)
        d = self._speakers
        return np.asarray(d.speaker_vids[d.speaker_indptr[i]:d.speaker_indptr[i + 1]])

    @property
    def speaker_names(self) -> list[str]:
        return self._speakers.speaker_names

    def mask(self, f: Filters) -> np.ndarray | None:
        """The passages inside the filter (None: no filter, every passage)."""
        if f.empty():
            return None
        m = np.ones(self.n, dtype=bool)
        if f.action_lines:
            m &= (self.line_masks & line_mask(f.action_lines)) != 0
        if f.kinds:
            m &= self.kinds.values_where(lambda v: v in f.kinds)
        if f.roles:
            m &= self.roles.values_where(lambda v: v in f.roles)
        if f.year_from is not None:
            m &= self.years >= f.year_from
        if f.year_to is not None:
            m &= (self.years <= f.year_to) & (self.years >= 0)
        if f.countries:
            wanted = [c.lower() for c in f.countries]
            m &= self.countries.values_where(lambda c: any(w in c for w in wanted))
        if f.stakeholders:
            wanted = [s.lower() for s in f.stakeholders]
            m &= self.stakeholders.values_where(lambda s: any(w in s for w in wanted))
        return m
