"""Per-passage columns (document, kind, role, year, country, stakeholder, organisation, substance, action-line
bits, speakers), computed once when an index is built and written as numpy files beside the store.

A server memory-maps them (`read_columns`): loading costs no time at any scale, the pages are shared by every
server process through the page cache, and nothing is parsed from SQLite at start-up. Strings are stored as
int32 codes into a list of distinct values, so a million passages cost 4 bytes a column each. An index built
before these files existed gets the same columns computed from its store at load (`compute_columns`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .actionlines import CODES
from .tag import filter_codes

COLUMNS_DIR = "columns"
STRING_COLUMNS = ("doc_id", "kind", "role", "country", "stakeholder", "organisation")
LINE_BITS = {c: 1 << i for i, c in enumerate(CODES)}
C7_MASK = sum(v for c, v in LINE_BITS.items() if c.startswith("C7."))


def line_mask(codes) -> int:
    """The action-line bits of a list of codes ("C7" stands for all its sub-lines)."""
    m = 0
    for code in codes:
        if code in LINE_BITS:
            m |= LINE_BITS[code]
        elif code == "C7":
            m |= C7_MASK
    return m


def filter_threshold(manifest: dict) -> float:
    """The tag score at which a passage counts under a line, as its index was built with (the setting
    `tag_filter_threshold`; 0, i.e. every stored tag, for an index built before it existed)."""
    return float((manifest.get("tagger") or {}).get("filter_threshold", 0.0))


def tag_line_masks(store, threshold: float) -> np.ndarray:
    """Per passage (vid order), the bits of the lines its tags score at least `threshold` on."""
    seen: dict[str, int] = {}
    return np.array([_tags_mask(tags, threshold, seen)
                     for (tags,) in store.con.execute("SELECT action_lines FROM passages ORDER BY vid")], dtype=np.int64)


def _tags_mask(tags: str, threshold: float, seen: dict[str, int]) -> int:
    """The line bits of one stored tag list (JSON), memoised in `seen`: many passages share one tag list."""
    m = seen.get(tags)
    if m is None:
        m = seen[tags] = line_mask(filter_codes(json.loads(tags), threshold))
    return m


class Coded:
    """A string column as int32 codes into its distinct values; indexes like a numpy object array
    (`col[vid]` is a str, `col[vids]` an object array) without holding one string object per passage."""

    def __init__(self, codes: np.ndarray, names: list[str]):
        self.codes = codes
        self.names = np.array(names, dtype=object)

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, key):
        return self.names[self.codes[key]]

    def __iter__(self):
        return iter(self.tolist())

    def tolist(self) -> list[str]:
        return self.names[np.asarray(self.codes)].tolist()

    def astype(self, dtype):
        return self.names.astype(dtype)[np.asarray(self.codes)]

    def values_where(self, pred) -> np.ndarray:
        """Boolean mask of the passages whose value satisfies `pred` (evaluated once per distinct value)."""
        hit = np.fromiter((bool(pred(v)) for v in self.names.tolist()), dtype=bool, count=len(self.names))
        return hit[np.asarray(self.codes)]


@dataclass(frozen=True)
class ColumnData:
    strings: dict[str, Coded]
    years: np.ndarray  # int32, -1 where undated
    substance: np.ndarray  # float32
    line_masks: np.ndarray  # int64 action-line bits of the tags scoring >= line_threshold
    speaker_names: list[str]
    speaker_indptr: np.ndarray  # passages of speaker i: speaker_vids[indptr[i]:indptr[i + 1]]
    speaker_vids: np.ndarray
    line_threshold: float

    @property
    def n(self) -> int:
        return len(self.years)


def compute_columns(store, line_threshold: float) -> ColumnData:
    """The columns of a store, in vid order (one pass over documents, one over passages)."""
    docs = {}
    for r in store.con.execute("SELECT id, kind, year, metadata FROM documents"):
        meta = json.loads(r["metadata"])
        docs[r["id"]] = (r["kind"], r["year"], (meta.get("country") or "").lower(),
                         (meta.get("stakeholder_type") or "").lower(), meta.get("organisation") or "")
    values: dict[str, dict[str, int]] = {k: {} for k in STRING_COLUMNS}
    codes: dict[str, list[int]] = {k: [] for k in STRING_COLUMNS}
    years, substance, masks = [], [], []
    speakers: dict[str, list[int]] = {}
    mask_of: dict[str, int] = {}  # many passages share one tag list (an entry's declared line)
    for vid, doc_id, role, tags, spk, sub in store.con.execute(
            "SELECT vid, doc_id, role, action_lines, speakers, substance FROM passages ORDER BY vid"):
        kind, year, country, stakeholder, organisation = docs[doc_id]
        for name, v in zip(STRING_COLUMNS, (doc_id, kind, role or "", country, stakeholder, organisation)):
            table = values[name]
            c = table.get(v)
            if c is None:
                c = table[v] = len(table)
            codes[name].append(c)
        years.append(year if year is not None else -1)
        substance.append(sub if sub is not None else 1.0)
        masks.append(_tags_mask(tags, line_threshold, mask_of))
        if spk and spk != "[]":
            for name in json.loads(spk):
                speakers.setdefault(name, []).append(vid)
    names = sorted(speakers)
    lengths = [len(speakers[s]) for s in names]
    return ColumnData(
        strings={k: Coded(np.array(codes[k], dtype=np.int32), list(values[k])) for k in STRING_COLUMNS},
        years=np.array(years, dtype=np.int32), substance=np.array(substance, dtype=np.float32),
        line_masks=np.array(masks, dtype=np.int64), speaker_names=names,
        speaker_indptr=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        speaker_vids=np.array([v for s in names for v in speakers[s]], dtype=np.int64),
        line_threshold=float(line_threshold))


def write_columns(data: ColumnData, index_dir: Path) -> dict:
    """Write the columns into `<index_dir>/columns/`; returns the manifest entry."""
    folder = Path(index_dir) / COLUMNS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {f"{k}.codes": c.codes for k, c in data.strings.items()}
    arrays.update({"years": data.years, "substance": data.substance, "line_masks": data.line_masks,
                   "speaker_indptr": data.speaker_indptr, "speaker_vids": data.speaker_vids})
    for name, a in arrays.items():
        np.save(folder / f"{name}.npy", np.ascontiguousarray(a))
    names = {k: c.names.tolist() for k, c in data.strings.items()}
    names["speakers"] = data.speaker_names
    names["line_threshold"] = data.line_threshold
    (folder / "values.json").write_text(json.dumps(names, ensure_ascii=False), encoding="utf-8")
    return {"dir": COLUMNS_DIR, "passages": data.n, "line_threshold": data.line_threshold}


def read_columns(index_dir: Path, line_threshold: float) -> ColumnData | None:
    """The columns written at build time, memory-mapped; None when the index has none, or has them for another
    action-line threshold (the caller then computes them from the store)."""
    folder = Path(index_dir) / COLUMNS_DIR
    if not (folder / "values.json").is_file():
        return None
    names = json.loads((folder / "values.json").read_text(encoding="utf-8"))
    if float(names.get("line_threshold", -1.0)) != float(line_threshold):
        return None

    def arr(name):
        return np.load(folder / f"{name}.npy", mmap_mode="r")

    data = ColumnData(strings={k: Coded(arr(f"{k}.codes"), names[k]) for k in STRING_COLUMNS},
                      years=arr("years"), substance=arr("substance"), line_masks=arr("line_masks"),
                      speaker_names=names["speakers"], speaker_indptr=arr("speaker_indptr"),
                      speaker_vids=arr("speaker_vids"), line_threshold=float(line_threshold))
    return data


def write_store_columns(index_dir: Path, line_threshold: float) -> dict:
    """Compute the columns of the store a build has just written (`<index_dir>/store.sqlite`) and write them."""
    from .store import Store

    store = Store(Path(index_dir) / "store.sqlite")
    try:
        return write_columns(compute_columns(store, line_threshold), index_dir)
    finally:
        store.close()


def load_columns(index_dir: Path, store, line_threshold: float) -> ColumnData:
    return read_columns(index_dir, line_threshold) or compute_columns(store, line_threshold)
