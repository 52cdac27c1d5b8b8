"""The passage store: documents and passages (with tags) in one SQLite file, keyed so that a
passage's row number is its vector id in FAISS and its position in the BM25 index."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE documents (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, title TEXT NOT NULL, source TEXT NOT NULL, url TEXT,
    year INTEGER, date TEXT, metadata TEXT NOT NULL, content_hash TEXT, text TEXT NOT NULL,
    sections TEXT NOT NULL
);
CREATE TABLE passages (
    vid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, doc_id TEXT NOT NULL REFERENCES documents(id),
    ordinal INTEGER NOT NULL, text TEXT NOT NULL, heading TEXT, page INTEGER, speaker TEXT,
    start INTEGER, "end" INTEGER, words INTEGER, action_lines TEXT NOT NULL DEFAULT '[]',
    role TEXT NOT NULL DEFAULT 'none', sdgs TEXT NOT NULL DEFAULT '[]', content_hash TEXT,
    substance REAL NOT NULL DEFAULT 1.0, speakers TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX passages_doc ON passages(doc_id, ordinal);
"""


@dataclass(frozen=True)
class PassageRow:
    vid: int
    id: str
    doc_id: str
    ordinal: int
    text: str
    heading: str
    page: int | None
    speaker: str
    start: int
    end: int
    words: int
    action_lines: list[dict]
    role: str
    sdgs: list[dict]
    substance: float = 1.0  # share of the passage that is content, not procedure (indexer.substance)


def create(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path)
    con.executescript(SCHEMA)
    return con


def insert_document(con: sqlite3.Connection, doc) -> None:
    sections = [[s.heading, s.page, s.speaker, s.start, s.end] for s in doc.sections]
    con.execute(
        "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (doc.id, doc.kind, doc.title, doc.source, doc.metadata.get("url", ""), doc.year, doc.date,
         json.dumps(doc.metadata, ensure_ascii=False), doc.content_hash, doc.text, json.dumps(sections)),
    )


def insert_passage(con: sqlite3.Connection, vid: int, p, tags: dict, content_hash: str = "",
                   substance: float = 1.0, speakers: list[str] | None = None) -> None:
    """`speakers`: everyone who speaks in the passage (a passage may absorb short turns of others)."""
    con.execute(
        "INSERT INTO passages VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (vid, p.id, p.doc_id, p.ordinal, p.text, p.heading, p.page, p.speaker, p.start, p.end, p.words,
         json.dumps(tags.get("action_lines", [])), tags.get("role", "none"), json.dumps(tags.get("sdgs", [])),
         content_hash, substance, json.dumps(speakers if speakers is not None else ([p.speaker] if p.speaker else []))),
    )


class Store:
    """Read side. Opened read-only; safe to share across threads (check_same_thread off, no writes)."""

    def __init__(self, path: Path):
        uri = f"file:{path}?mode=ro&immutable=1"
        self.con = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self.con.row_factory = sqlite3.Row

    def count(self) -> int:
        return self.con.execute("SELECT COUNT(*) FROM passages").fetchone()[0]

    def passages(self, vids: list[int]) -> dict[int, PassageRow]:
        if not vids:
            return {}
        out: dict[int, PassageRow] = {}
        for i in range(0, len(vids), 900):
            part = vids[i:i + 900]
            q = f"SELECT * FROM passages WHERE vid IN ({','.join('?' * len(part))})"
            for r in self.con.execute(q, part):
                out[r["vid"]] = _row(r)
        return out

    def passage_by_id(self, pid: str) -> PassageRow | None:
        r = self.con.execute("SELECT * FROM passages WHERE id = ?", (pid,)).fetchone()
        return _row(r) if r else None

    def doc_passages(self, doc_id: str) -> list[PassageRow]:
        return [_row(r) for r in self.con.execute("SELECT * FROM passages WHERE doc_id = ? ORDER BY ordinal",
                                                  (doc_id,))]

    def document(self, doc_id: str, with_text: bool = False) -> dict[str, Any] | None:
        cols = "*" if with_text else "id, kind, title, source, url, year, date, metadata, content_hash"
        r = self.con.execute(f"SELECT {cols} FROM documents WHERE id = ?", (doc_id,)).fetchone()
        if not r:
            return None
        d = dict(r)
        d["metadata"] = json.loads(d["metadata"])
        if with_text:
            d["sections"] = [dict(zip(("heading", "page", "speaker", "start", "end"), s))
                             for s in json.loads(d["sections"])]
        return d

    def documents(self, doc_ids: list[str]) -> dict[str, dict[str, Any]]:
        out = {}
        ids = list(dict.fromkeys(doc_ids))
        for i in range(0, len(ids), 900):
            part = ids[i:i + 900]
            q = ("SELECT id, kind, title, source, url, year, date, metadata FROM documents "
                 f"WHERE id IN ({','.join('?' * len(part))})")
            for r in self.con.execute(q, part):
                d = dict(r)
                d["metadata"] = json.loads(d["metadata"])
                out[d["id"]] = d
        return out

    def close(self) -> None:
        self.con.close()


def _row(r) -> PassageRow:
    return PassageRow(
        vid=r["vid"], id=r["id"], doc_id=r["doc_id"], ordinal=r["ordinal"], text=r["text"], heading=r["heading"] or "",
        page=r["page"], speaker=r["speaker"] or "", start=r["start"], end=r["end"], words=r["words"],
        action_lines=json.loads(r["action_lines"]), role=r["role"], sdgs=json.loads(r["sdgs"]),
        substance=r["substance"],
    )
