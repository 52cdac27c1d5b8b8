"""What a crawl keeps on disk and reports: the resumable state (frontier, seen URLs, validators) and the
report of one run."""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = ".crawl-state.json"


@dataclass
class CrawlReport:
    fetched: list[str] = field(default_factory=list)
    not_modified: list[str] = field(default_factory=list)
    robots_disallowed: list[str] = field(default_factory=list)
    out_of_scope: list[str] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    documents: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"fetched": self.fetched, "not_modified": self.not_modified,
                "robots_disallowed": self.robots_disallowed, "out_of_scope": self.out_of_scope,
                "errors": self.errors, "documents": self.documents, "seconds": round(self.seconds, 2),
                "counts": {"fetched": len(self.fetched), "not_modified": len(self.not_modified),
                           "robots_disallowed": len(self.robots_disallowed), "out_of_scope": len(self.out_of_scope),
                           "errors": len(self.errors), "documents": len(self.documents)}}


class State:
    """Frontier, seen URLs and per-URL validators, saved atomically after every page so that a killed
    crawl resumes where it stopped."""

    def __init__(self, path: Path):
        self.path = path
        data = json.loads(path.read_text()) if path.exists() else {}
        self.frontier: deque = deque(tuple(x) for x in data.get("frontier", []))
        self.seen: set[str] = set(data.get("seen", []))
        self.pages: dict[str, dict] = data.get("pages", {})
        self.done_pages: set[str] = set(data.get("done", []))  # processed in the current crawl run
        self.run_complete: bool = data.get("run_complete", True)

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"frontier": list(self.frontier), "seen": sorted(self.seen), "pages": self.pages,
                                   "done": sorted(self.done_pages), "run_complete": self.run_complete}))
        os.replace(tmp, self.path)
