"""WSIS Stocktaking entries: CSV exports (header by header; latin-1 2015 file), JSON / JSON-lines
records, and the HTML listing page of the prizes."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from ..actionlines import parse_action_line
from ..models import Document, assemble
from .common import ParseError, clean_inline, decode_bytes, fix_mojibake, sha256, title_key, year_in

# Column names seen in exports, mapped to our field names.
FIELD_ALIASES = {
    "title": "title", "project": "title", "name": "title",
    "desc": "description", "description": "description", "summary": "description",
    "link": "link", "url": "link",
    "country": "country", "countries": "country",
    "cat": "category", "category": "category", "action line": "category", "action_line": "category",
    "organisation": "organisation", "organization": "organisation", "entity": "organisation",
    "stakeholder": "stakeholder_type", "stakeholder type": "stakeholder_type",
    "stakeholder_type": "stakeholder_type",
    "year": "year", "sdgs": "sdgs", "id": "id",
}
_LINK_ID = re.compile(r"/(\d{4})/DetailsPopup/(\d+)|projectId=(\d+)", re.I)


def entry_document(rec: dict, *, id_prefix: str, key: str, source: str, default_year: int | None,
                   extra_meta: dict | None = None) -> Document:
    """One stocktaking entry as a document. `rec` holds our field names."""
    title = clean_inline(fix_mojibake(str(rec.get("title") or "")))
    if not title:
        raise ParseError("entry without a title")
    desc = clean_inline(fix_mojibake(str(rec.get("description") or "")))
    org = clean_inline(fix_mojibake(str(rec.get("organisation") or "")))
    country = clean_inline(fix_mojibake(str(rec.get("country") or ""))).strip(" ,")
    link = str(rec.get("link") or "")
    year = rec.get("year") or default_year
    m = _LINK_ID.search(link)
    if m and m.group(1):
        year = year or int(m.group(1))
    try:
        year = int(year) if year else None
    except (TypeError, ValueError):
        year = year_in(str(year))
    meta: dict = dict(extra_meta or {})
    declared = rec.get("action_lines") or []
    if isinstance(declared, str):
        declared = [declared]
    cat = clean_inline(str(rec.get("category") or ""))
    if cat:
        meta["category"] = cat
        declared = [cat, *declared]
    codes = []
    for d in declared:
        c = parse_action_line(str(d))
        if c and c not in codes:
            codes.append(c)
    if codes:
        meta["action_lines"] = codes
    if org:
        meta["organisation"] = org
    if country:
        meta["country"] = country
    if rec.get("stakeholder_type"):
        meta["stakeholder_type"] = clean_inline(str(rec["stakeholder_type"]))
    if rec.get("sdgs"):
        sd = rec["sdgs"]
        items = sd if isinstance(sd, list) else re.split(r"[,;]", str(sd))
        goals = []
        for item in items:  # 3, "3", "Goal 3: Good health", "SDG 3"
            m = re.search(r"\d+", str(item))
            if m and 1 <= int(m.group(0)) <= 17 and int(m.group(0)) not in goals:
                goals.append(int(m.group(0)))
        meta["sdgs_declared"] = goals
    if link:
        meta["url"] = link if link.startswith("http") else "https://www.itu.int" + link
    byline = ", ".join(x for x in (org, country) if x)
    blocks = [{"text": title + (f" ({byline})" if byline else ""), "heading": "Title"}]
    if desc:
        blocks.append({"text": desc, "heading": "Description"})
    for extra in ("impact", "partnerships", "challenges", "future"):
        if rec.get(extra):
            blocks.append({"text": clean_inline(str(rec[extra])), "heading": extra.capitalize()})
    text, sections = assemble(blocks)
    return Document(id=f"{id_prefix}/{year or 'undated'}/{key}", kind="stocktaking_entry", title=title,
                    source=source, year=year, text=text, sections=sections, metadata=meta,
                    content_hash=sha256(json.dumps(rec, sort_keys=True, default=str)))


def _header_fields(row: list[str]) -> list[str] | None:
    names = [c.strip().lower() for c in row]
    if names and all(n in FIELD_ALIASES for n in names if n) and "title" in {FIELD_ALIASES.get(n) for n in names}:
        return [FIELD_ALIASES.get(n, n) for n in names]
    return None


def parse_csv(path: Path, id_prefix: str, source: str) -> tuple[list[Document], list[str]]:
    """Read a CSV export header by header: a row that is a header line switches the column order.
    Returns the documents and a list of per-row problems (reported, not fatal)."""
    data = path.read_bytes()
    text = decode_bytes(data)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        raise ParseError("empty CSV")
    fields = _header_fields(rows[0])
    if fields is None:
        raise ParseError(f"CSV header not recognised: {rows[0][:6]}")
    default_year = year_in(path.name)
    docs: list[Document] = []
    problems: list[str] = []
    record_no = 0
    seen: set[str] = set()
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        new_fields = _header_fields(row)
        if new_fields:
            fields = new_fields
            continue
        record_no += 1
        if len(row) != len(fields):
            problems.append(f"line {line_no}: {len(row)} columns, header has {len(fields)}")
            continue
        rec = dict(zip(fields, row))
        m = _LINK_ID.search(rec.get("link", ""))
        key = (m.group(2) or m.group(3)) if m else str(record_no)
        try:
            doc = entry_document(rec, id_prefix=id_prefix, key=key, source=f"{source}#L{line_no}",
                                 default_year=default_year)
        except ParseError as exc:
            problems.append(f"line {line_no}: {exc}")
            continue
        if doc.id in seen:
            # The same entry exported again: keep the version with more fields filled.
            prev = next(i for i, d in enumerate(docs) if d.id == doc.id)
            docs[prev] = merge_entries(docs[prev], doc)
            continue
        seen.add(doc.id)
        docs.append(doc)
    return docs, problems


def merge_entries(a: Document, b: Document) -> Document:
    """Two records of one entry: union of metadata, the longer text, declared lines from either."""
    meta = dict(a.metadata)
    for k, v in b.metadata.items():
        if v and not meta.get(k):
            meta[k] = v
    base = a if len(a.text) >= len(b.text) else b
    return Document(id=a.id, kind=a.kind, title=base.title, source=a.source, year=a.year or b.year,
                    text=base.text, sections=base.sections, metadata=meta,
                    content_hash=sha256(a.content_hash + b.content_hash))


def parse_records(path: Path, id_prefix: str, source: str, records: list[dict]) -> tuple[list[Document], list[str]]:
    docs, problems = [], []
    default_year = year_in(path.name)
    for n, raw in enumerate(records, start=1):
        if not isinstance(raw, dict):
            problems.append(f"record {n}: not an object")
            continue
        rec = {FIELD_ALIASES.get(k.lower(), k.lower()): v for k, v in raw.items()}
        key = str(rec.get("id") or n)
        try:
            docs.append(entry_document(rec, id_prefix=id_prefix, key=key, source=f"{source}#{n}",
                                       default_year=default_year))
        except ParseError as exc:
            problems.append(f"record {n}: {exc}")
    if not docs:
        raise ParseError("no stocktaking records with a title: " + "; ".join(problems[:3]))
    return docs, problems


def parse_jsonl(path: Path, id_prefix: str, source: str) -> tuple[list[Document], list[str]]:
    records, problems = [], []
    for n, line in enumerate(decode_bytes(path.read_bytes()).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            problems.append(f"line {n}: invalid JSON ({exc.msg})")
    if not records:
        raise ParseError("no valid JSON lines: " + "; ".join(problems[:3]) if problems else "no records")
    docs, more = parse_records(path, id_prefix, source, records)
    return docs, problems + more


def is_listing_html(soup) -> bool:
    return bool(soup.select("li > span.bold")) and bool(soup.find("h5", string=re.compile(r"C\s?\d")) or
                                                    soup.find_all("h5"))


def parse_listing_html(soup, data: bytes, path: Path, id_prefix: str, source: str) -> list[Document]:
    """The prizes' nominated-projects page: an <h5> per action line, then <li> items with a bold
    title and an italic 'Organisation, COUNTRY'. Entries get ids `…/<year>/page-<n>` and are
    matched to CSV rows of the same year by title (see merge_listing)."""
    year = year_in(path.name) or year_in(soup.title.get_text() if soup.title else "")
    docs: list[Document] = []
    category = ""
    n = 0
    for el in soup.find_all(["h5", "li"]):
        if el.name == "h5":
            label = clean_inline(el.get_text(" "))
            if parse_action_line(label):
                category = re.sub(r"^\d+\s+", "", label)
            continue
        bold = el.find("span", class_="bold")
        if not bold or not category:
            continue
        italic = el.find("span", class_="italic")
        byline = clean_inline(italic.get_text(" ")) if italic else ""
        org, _, country = byline.rpartition(",")
        if not org:
            org, country = country, ""
        n += 1
        rec = {"title": clean_inline(bold.get_text(" ")), "organisation": org.strip(),
               "country": country.strip(), "category": category}
        docs.append(entry_document(rec, id_prefix=id_prefix, key=f"page-{n}", source=f"{source}#{n}",
                                   default_year=year, extra_meta={"listing_page": True}))
    if not docs:
        raise ParseError("listing page has no entries")
    return docs


def merge_listing(docs: list[Document]) -> list[Document]:
    """Entries read from a listing page that are also CSV rows (same year and title) are one document:
    the CSV row keeps its id, the page supplies its clean (UTF-8) title and organisation."""
    row_ids: dict[tuple, str] = {}
    rows: dict[str, Document] = {}
    for d in docs:
        if d.kind == "stocktaking_entry" and not d.metadata.get("listing_page"):
            row_ids.setdefault((d.year, title_key(d.title)), d.id)
            rows[d.id] = d
    kept: list[Document] = []
    for d in docs:
        rid = row_ids.get((d.year, title_key(d.title))) if d.metadata.get("listing_page") else None
        if rid is None:
            kept.append(d)
            continue
        row = rows[rid]
        meta = {**row.metadata, **{k: v for k, v in d.metadata.items() if v and k != "listing_page"}}
        meta["also_in"] = d.source.split("#")[0]
        page_text = len(d.sections) >= len(row.sections)  # the page is clean UTF-8: prefer it
        rows[rid] = Document(id=row.id, kind=row.kind, title=d.title, source=row.source, year=row.year,
                             text=d.text if page_text else row.text,
                             sections=d.sections if page_text else row.sections,
                             metadata=meta, content_hash=row.content_hash)
    return [rows.get(d.id, d) if not d.metadata.get("listing_page") else d for d in kept]
