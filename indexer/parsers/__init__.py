"""Find and parse the source files of one corpus folder into Documents; bad files become Failures."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..models import Document, Failure
from .common import ParseError, decode_bytes, looks_binary
from . import igf, reference, report, stocktaking

log = logging.getLogger(__name__)

# Files at the top of a source folder that describe it and are not documents.
NOT_DOCUMENTS = {"README.md", "MANIFEST.tsv", "SHA256SUMS", "PROVENANCE.txt"}
SUPPORTED = {".pdf", ".txt", ".text", ".md", ".markdown", ".html", ".htm", ".csv", ".json", ".jsonl", ".ndjson"}


PARSER_VERSION = "1"  # bump when a parser changes what it produces: cached parses are then ignored


@dataclass
class SourceResult:
    documents: list[Document] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    skipped: list[Failure] = field(default_factory=list)
    files_read: int = 0
    files_reused: int = 0  # parsed documents taken from the cache (file unchanged since last build)
    cache_errors: int = 0  # unreadable parse-cache entries (logged, the file parsed again)


def iter_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
            continue
        if path.is_file():
            yield path


def parse_file(path: Path, root: Path, max_bytes: int) -> list[Document]:
    """All documents in one file (a CSV or JSON file may hold many). Raises ParseError."""
    rel = path.relative_to(root).as_posix()
    size = path.stat().st_size
    if size == 0:
        raise ParseError("empty file (0 bytes)")
    if size > max_bytes:
        raise ParseError(f"file too large ({size} bytes, limit {max_bytes})")
    suffix = path.suffix.lower()
    prefix = path.parent.relative_to(root).as_posix()
    id_prefix = prefix if prefix not in ("", ".") else "stocktaking"
    if suffix == ".pdf":
        return [report.parse_pdf_report(path, rel, rel)]
    data = path.read_bytes()
    if looks_binary(data):
        raise ParseError(f"binary content in a {suffix} file")
    if suffix in (".txt", ".text"):
        text = decode_bytes(data)
        if igf.is_transcript_text(text):
            return [igf.parse_transcript_text(path, rel, rel)]
        if report._AL_LINE.search(text[:5000]) or any(
            report.is_heading(ln) and "achievement" in ln.lower() for ln in text.splitlines()[:400]
        ):
            return [report.parse_text_report(path, rel, rel)]
        return [reference.parse_generic_text(path, rel, rel)]
    if suffix in (".md", ".markdown"):
        return [reference.parse_markdown(path, rel, rel)]
    if suffix in (".html", ".htm"):
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(data, "lxml")
        if igf.is_transcript_html(soup):
            return [igf.parse_transcript_html(soup, data, rel, rel)]
        if stocktaking.is_listing_html(soup):
            return stocktaking.parse_listing_html(soup, data, path, id_prefix, rel)
        return [reference.parse_generic_html(soup, data, rel, rel)]
    if suffix == ".csv":
        docs, problems = stocktaking.parse_csv(path, id_prefix, rel)
        _raise_partial(problems, docs)
        return docs
    if suffix in (".jsonl", ".ndjson"):
        docs, problems = stocktaking.parse_jsonl(path, id_prefix, rel)
        _raise_partial(problems, docs)
        return docs
    if suffix == ".json":
        try:
            obj = json.loads(decode_bytes(data))
        except json.JSONDecodeError as exc:
            raise ParseError(f"invalid JSON: {exc.msg} at line {exc.lineno}") from exc
        if reference.is_actions_json(obj):
            return reference.parse_actions(obj, rel, data)
        if reference.is_sdgs_json(obj):
            return reference.parse_sdgs(obj, rel, data)
        records = obj.get("entries") if isinstance(obj, dict) else obj
        if isinstance(records, list) and records and all(isinstance(r, dict) and "title" in r for r in records):
            docs, problems = stocktaking.parse_records(path, id_prefix, rel, records)
            _raise_partial(problems, docs)
            return docs
        raise ParseError("JSON file has no known schema (action lines, SDGs, or stocktaking records with 'title')")
    raise ParseError(f"unsupported file type {suffix!r}")


class PartialParse(Exception):
    """Some records of a file were read and some were not."""

    def __init__(self, docs: list[Document], problems: list[str]):
        super().__init__("; ".join(problems))
        self.docs = docs
        self.problems = problems


def _raise_partial(problems: list[str], docs: list[Document]) -> None:
    if problems:
        raise PartialParse(docs, problems)


def _cache_file(cache_dir: Path, path: Path, rel: str) -> Path:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    key = hashlib.sha256(f"{PARSER_VERSION}\0{rel}\0{h.hexdigest()}".encode()).hexdigest()
    return cache_dir / key[:2] / f"{key}.pickle"


def read_source(root: Path, max_bytes: int = 30_000_000, cache_dir: Path | None = None) -> SourceResult:
    """Parse every file under `root`. Never raises for a bad file: it is reported and skipped. With a
    `cache_dir`, a file whose bytes (and path) are unchanged since it was last parsed is not parsed again."""
    import pickle

    result = SourceResult()
    root = root.resolve()
    if not root.is_dir():
        result.failures.append(Failure(str(root), "source folder does not exist"))
        return result
    for path in iter_files(root):
        rel = path.relative_to(root).as_posix()
        if rel in NOT_DOCUMENTS:
            result.skipped.append(Failure(rel, "describes the folder; not a document"))
            continue
        if path.suffix.lower() not in SUPPORTED:
            result.skipped.append(Failure(rel, f"unsupported file type {path.suffix or '(none)'}"))
            continue
        result.files_read += 1
        cached = None
        if cache_dir is not None and path.stat().st_size <= max_bytes:
            cached = _cache_file(cache_dir, path, rel)
            if cached.exists():
                try:
                    result.documents.extend(pickle.loads(cached.read_bytes()))
                    result.files_reused += 1
                    continue
                except Exception as exc:  # a damaged cache entry is said, then the file is parsed again
                    log.warning("parse cache entry %s for %s is unreadable (%s: %s); parsing the file again",
                                cached, rel, type(exc).__name__, exc)
                    result.cache_errors += 1
        try:
            docs = parse_file(path, root, max_bytes)
            result.documents.extend(docs)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                tmp = cached.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_bytes(pickle.dumps(docs, protocol=pickle.HIGHEST_PROTOCOL))
                os.replace(tmp, cached)
        except PartialParse as exc:
            result.documents.extend(exc.docs)
            for p in exc.problems:
                result.failures.append(Failure(f"{rel} ({p.split(':')[0]})", p.split(":", 1)[-1].strip()))
        except ParseError as exc:
            result.failures.append(Failure(rel, str(exc)))
        except (RecursionError, MemoryError) as exc:
            result.failures.append(Failure(rel, f"too deeply nested or too large to parse ({type(exc).__name__})"))
        except Exception as exc:  # a parser bug must not stop the build: report it
            log.exception("unexpected error parsing %s", rel)
            result.failures.append(Failure(rel, f"unexpected {type(exc).__name__}: {exc}"))
    result.documents = merge_documents(result.documents, result.failures)
    return result


def merge_documents(docs: list[Document], failures: list[Failure]) -> list[Document]:
    """One document per id: records of one stocktaking entry in several exports are merged, and
    listing-page entries are folded into their CSV rows."""
    by_id: dict[str, Document] = {}
    order: list[str] = []
    for d in docs:
        prev = by_id.get(d.id)
        if prev is None:
            by_id[d.id] = d
            order.append(d.id)
        elif d.kind == prev.kind == "stocktaking_entry":
            by_id[d.id] = stocktaking.merge_entries(prev, d)
        else:
            failures.append(Failure(d.source, f"duplicate document id {d.id!r} (also {prev.source}); skipped"))
    return stocktaking.merge_listing([by_id[i] for i in order])
