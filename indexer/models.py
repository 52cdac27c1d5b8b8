"""The small frozen dataclasses that flow between pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KINDS = ("action_line_report", "igf_transcript", "stocktaking_entry", "reference")


@dataclass(frozen=True)
class Section:
    """A block of a document: a report paragraph under a heading, or one speaker turn.

    `start`/`end` are character offsets into Document.text, so that every passage can point at
    the exact span it came from."""

    text: str
    heading: str = ""
    page: int | None = None
    speaker: str = ""
    start: int = 0
    end: int = 0


@dataclass(frozen=True)
class Document:
    id: str
    kind: str
    title: str
    source: str  # path relative to its source root, or URL
    year: int | None
    text: str
    sections: tuple[Section, ...]
    metadata: dict[str, Any] = field(default_factory=dict)
    date: str = ""
    content_hash: str = ""


@dataclass(frozen=True)
class Passage:
    id: str  # "<doc id>::<ordinal>"
    doc_id: str
    ordinal: int
    text: str
    heading: str
    page: int | None
    speaker: str
    start: int
    end: int
    words: int


@dataclass(frozen=True)
class Failure:
    source: str
    reason: str


def assemble(blocks: list[dict[str, Any]], sep: str = "\n\n") -> tuple[str, tuple[Section, ...]]:
    """Join blocks ({text, heading, page, speaker}) into one document text and sections whose
    offsets point into it."""
    parts: list[str] = []
    sections: list[Section] = []
    pos = 0
    for block in blocks:
        text = block["text"].strip()
        if not text:
            continue
        if parts:
            parts.append(sep)
            pos += len(sep)
        parts.append(text)
        sections.append(
            Section(
                text=text,
                heading=block.get("heading", ""),
                page=block.get("page"),
                speaker=block.get("speaker", ""),
                start=pos,
                end=pos + len(text),
            )
        )
        pos += len(text)
    return "".join(parts), tuple(sections)
