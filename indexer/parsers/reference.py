"""Reference texts: the Geneva Plan of Action action-line records and WSIS-SDG matrix (JSON), SDG
records, Markdown pages, and other HTML or text pages."""

from __future__ import annotations

import re
from pathlib import Path

from bs4 import BeautifulSoup

from ..actionlines import MATRIX_ID_TO_CODE, parse_action_line
from ..models import Document, assemble
from .common import ParseError, clean_inline, decode_bytes, join_broken, sha256, year_in


def _html_paragraphs(html: str) -> list[str]:
    soup = BeautifulSoup(html or "", "lxml")
    items = [clean_inline(el.get_text(" ")) for el in soup.find_all(["p", "li"]) if not el.find(["p", "li"])]
    items = [i for i in items if i]
    if not items:
        text = clean_inline(soup.get_text(" "))
        items = [text] if text else []
    return items


def is_actions_json(data) -> bool:
    return isinstance(data, list) and bool(data) and all(isinstance(r, dict) and "goals" in r for r in data)


def is_sdgs_json(data) -> bool:
    return (isinstance(data, list) and bool(data) and all(isinstance(r, dict) for r in data)
            and all({"id", "name", "desc"} <= r.keys() and "goals" not in r and "title" not in r for r in data))


def parse_actions(data: list, rel: str, raw: bytes) -> list[Document]:
    """One document per action-line record: its Plan of Action text and its SDG links with rationale."""
    docs = []
    for rec in data:
        rid = int(rec["id"])
        code = MATRIX_ID_TO_CODE.get(rid) or parse_action_line(rec.get("name", ""))
        name = clean_inline(rec.get("name", ""))
        blocks = [{"text": f"{name} ({rec.get('shortName', '')})".replace(" ()", ""), "heading": "Action line"}]
        for p in _html_paragraphs(rec.get("desc", "")):
            blocks.append({"text": p, "heading": "Geneva Plan of Action"})
        links = []
        for goal in rec.get("goals") or []:
            sdg = int(goal["goalId"]) + 1  # goalId is 0-based
            for sub in goal.get("subgoals") or []:
                target = str(sub.get("subId", sdg))
                rationale = clean_inline(re.sub(r"<br\s*/?>", " ", str(sub.get("rationale", ""))))
                links.append({"sdg": sdg, "target": target})
                label = f"SDG {sdg}" + (f" target {target}" if target != str(sdg) else "")
                blocks.append({"text": f"{label}: {rationale}" if rationale else label,
                               "heading": "WSIS-SDG Matrix"})
        text, sections = assemble(blocks)
        meta = {"action_lines": [code] if code else [], "sdg_links": links, "record_id": rid}
        docs.append(Document(id=f"{rel}#{rid}", kind="reference", title=name, source=f"{rel}#{rid}", year=2003,
                             text=text, sections=sections, metadata=meta,
                             content_hash=sha256(str(sorted(rec.items())))))
    return docs


def parse_sdgs(data: list, rel: str, raw: bytes) -> list[Document]:
    docs = []
    for rec in data:
        rid = int(rec["id"])
        name = clean_inline(rec.get("name", ""))
        blocks = [{"text": f"SDG {rid + 1}: {name}", "heading": "Goal"}]
        blocks += [{"text": p, "heading": "Targets"} for p in _html_paragraphs(rec.get("desc", ""))]
        text, sections = assemble(blocks)
        docs.append(Document(id=f"{rel}#{rid}", kind="reference", title=f"SDG {rid + 1}: {name}",
                             source=f"{rel}#{rid}", year=2015, text=text, sections=sections,
                             metadata={"sdg": rid + 1}, content_hash=sha256(str(sorted(rec.items())))))
    return docs


_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)


def parse_markdown(path: Path, doc_id: str, source: str) -> Document:
    data = path.read_bytes()
    text = decode_bytes(data).replace("\r\n", "\n")
    meta: dict = {}
    fm = _FRONT.match(text)
    if fm:
        for line in fm.group(1).splitlines():
            m = re.match(r"^(\w[\w-]*):\s*(.+)$", line)
            if m:
                meta[m.group(1)] = m.group(2).strip().strip('"').strip("'")
        text = text[fm.end():]
    title = meta.get("title", "")
    blocks: list[dict] = []
    heading = ""
    for chunk in re.split(r"\n\s*\n", text):
        lines = [ln for ln in chunk.split("\n") if ln.strip()]
        cur: list[str] = []
        for ln in lines:
            h = re.match(r"^(#{1,6})\s+(.+)$", ln)
            if h:
                if cur:
                    blocks.append({"text": _md_inline(" ".join(cur)), "heading": heading})
                    cur = []
                heading = _md_inline(h.group(2))
                if h.group(1) == "#" and not title:
                    title = heading
                continue
            if re.match(r"^\s*([-*+]|\d+\.)\s+", ln) or ln.lstrip().startswith("|"):
                if cur:
                    blocks.append({"text": _md_inline(" ".join(cur)), "heading": heading})
                cur = [re.sub(r"^\s*([-*+]|\d+\.)\s+", "", ln)]
                continue
            cur.append(ln.strip())
        if cur:
            blocks.append({"text": _md_inline(" ".join(cur)), "heading": heading})
    blocks = [b for b in blocks if b["text"] and not re.fullmatch(r"[|:\- ]+", b["text"])]
    if not blocks:
        raise ParseError("Markdown page has no text")
    body, sections = assemble(blocks)
    codes = [c for c in {parse_action_line(t) for t in re.findall(r"\bC\d{1,2}\b", title)} if c]
    if codes:
        meta["action_lines"] = sorted(codes)
    year = year_in(str(meta.get("year", ""))) or None
    return Document(id=doc_id, kind="reference", title=title or path.stem, source=source, year=year,
                    text=body, sections=sections,
                    metadata={k: v for k, v in meta.items() if k in ("type", "tags", "action_lines", "created")},
                    content_hash=sha256(data))


def _md_inline(text: str) -> str:
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)
    text = re.sub(r"\[\[([^\]|]+)\|([^\]]+)\]\]", r"\2", text)
    text = re.sub(r"\[\[([^\]]+)\]\]", r"\1", text)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[*_`]{1,3}", "", text)
    return clean_inline(text)


def parse_generic_html(soup, data: bytes, doc_id: str, source: str) -> Document:
    title = clean_inline(soup.title.get_text(" ")) if soup.title else ""
    h1 = soup.find("h1")
    if h1:
        title = clean_inline(h1.get_text(" ")) or title
    for tag in soup(["script", "style", "nav", "header", "footer", "aside", "form", "noscript", "iframe"]):
        tag.decompose()
    main = soup.find("main") or soup.find("article") or soup.body or soup
    blocks: list[dict] = []
    heading = ""
    for el in main.find_all(["h1", "h2", "h3", "h4", "p", "li", "pre", "td"]):
        if el.find(["p", "li", "pre"]):
            continue
        t = clean_inline(el.get_text(" "))
        if not t:
            continue
        if el.name in ("h1", "h2", "h3", "h4"):
            heading = t
            continue
        blocks.append({"text": t, "heading": heading})
    if not blocks:
        raise ParseError("HTML page has no readable text")
    body, sections = assemble(blocks)
    return Document(id=doc_id, kind="reference", title=title or Path(source).stem, source=source,
                    year=year_in(title), text=body, sections=sections, metadata={},
                    content_hash=sha256(data))


def parse_generic_text(path: Path, doc_id: str, source: str) -> Document:
    data = path.read_bytes()
    raw = decode_bytes(data).replace("\r\n", "\n")
    paras = join_broken([clean_inline(p) for p in re.split(r"\n\s*\n", raw) if p.strip()])
    if not paras:
        raise ParseError("empty text file")
    body, sections = assemble([{"text": p} for p in paras])
    return Document(id=doc_id, kind="reference", title=paras[0][:100], source=source, year=None,
                    text=body, sections=sections, metadata={}, content_hash=sha256(data))
