"""What a crawl keeps on disk and reports: the resumable state (frontier, seen URLs, validators) and the
report of one run."""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Callable
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
    robots: dict[str, str] = field(default_factory=dict)  # origin -> how its robots.txt was read
    crawl_delay_capped: dict[str, float] = field(default_factory=dict)  # host -> the Crawl-delay it asked for
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"fetched": self.fetched, "not_modified": self.not_modified,
                "robots_disallowed": self.robots_disallowed, "out_of_scope": self.out_of_scope,
                "errors": self.errors, "documents": self.documents, "robots": self.robots,
                "crawl_delay_capped": self.crawl_delay_capped, "seconds": round(self.seconds, 2),
                "counts": {"fetched": len(self.fetched), "not_modified": len(self.not_modified),
                           "robots_disallowed": len(self.robots_disallowed), "out_of_scope": len(self.out_of_scope),
                           "errors": len(self.errors), "documents": len(self.documents)}}


class State:
    """Frontier, seen URLs and per-URL validators, saved atomically after every page so that a killed
    crawl resumes where it stopped.

    The file is read as untrusted: one that is not JSON is moved aside (`.crawl-state.json.corrupt`) and
    the crawl starts afresh; frontier entries that are not (source, URL, depth) or whose URL does not
    normalise are dropped. Each problem is kept in `problems` (the crawl report lists them)."""

    def __init__(self, path: Path, check_url: Callable[[str], str] | None = None):
        self.path = path
        self.problems: list[dict] = []
        data: Any = {}
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(data, dict):
                    raise ValueError(f"a JSON {type(data).__name__}, not an object")
            except (ValueError, UnicodeDecodeError) as exc:
                aside = path.with_name(path.name + ".corrupt")
                os.replace(path, aside)
                self.problems.append({"url": str(path), "reason": f"unreadable crawl state moved to {aside.name}; "
                                                                 f"starting afresh ({exc})"})
                data = {}
        self.frontier: deque = deque()
        for item in _list(data.get("frontier")):
            entry = _frontier_entry(item, check_url)
            if isinstance(entry, str):
                self.problems.append({"url": str(item)[:300], "reason": f"dropped from the saved frontier: {entry}"})
            else:
                self.frontier.append(entry)
        self.seen: set[str] = {u for u in _list(data.get("seen")) if isinstance(u, str)}
        pages = data.get("pages")
        self.pages: dict[str, dict] = {k: v for k, v in pages.items() if isinstance(k, str) and isinstance(v, dict)} \
            if isinstance(pages, dict) else {}
        self.done_pages: set[str] = {u for u in _list(data.get("done")) if isinstance(u, str)}  # this run's
        self.run_complete: bool = data.get("run_complete", True) is not False

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"frontier": list(self.frontier), "seen": sorted(self.seen), "pages": self.pages,
                                   "done": sorted(self.done_pages), "run_complete": self.run_complete}))
        os.replace(tmp, self.path)


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _frontier_entry(item: Any, check_url: Callable[[str], str] | None) -> tuple[str, str, int] | str:
    """A valid (source name, normalised URL, depth) or the reason it is not."""
    if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str) and isinstance(item[1], str)
            and isinstance(item[2], int) and not isinstance(item[2], bool) and 0 <= item[2] <= 100):
        return "not a (source, url, depth) entry"
    if check_url is not None:
        try:
            if check_url(item[1]) != item[1]:
                return "URL not in normal form"
        except Exception as exc:  # the URL rules' own error (BadUrl): reported with the entry
            return f"{type(exc).__name__}: {exc}"
    return item[0], item[1], item[2]
