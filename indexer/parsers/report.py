"""Action-line facilitators' reports, as PDF (pypdf) or plain text, into sections under headings."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..actionlines import parse_action_line
from ..models import Document, assemble
from .common import ParseError, clean_inline, decode_bytes, ends_sentence, join_broken, sha256, year_in

KNOWN_HEADINGS = {
    "executive summary", "summary", "introduction", "background", "achievements", "challenges",
    "recommendations", "conclusions", "conclusion", "way forward", "future actions", "annex",
    "overview", "key achievements", "main challenges", "commitments", "next steps", "methodology",
}
_NUM_HEADING = re.compile(r"^(\d{1,2}(?:\.\d{1,2})*)\.?\s+([A-Z][^\n]{1,90})$")
_BULLET = re.compile(r"^\s*(?:[-•▪●◦*\x7f\u2022\uf0b7]|\(?[a-z]\)|\d{1,2}\))\s+")
_AL_LINE = re.compile(r"Action\s+Line\s*[–—:-]?\s*(C\s?\d{1,2}[^:\n]{0,40}?)\s*[:–—]\s*([^\n]+)", re.I)
_FACILITATOR = re.compile(r"^\s*(?:Lead\s+)?Facilitators?\s*:\s*(.+)$", re.I | re.M)
_DOCNUM = re.compile(r"Document\s+Number\s*:\s*(\S+)", re.I)
_YEARFIELD = re.compile(r"^\s*(?:Report(?:ing)?\s+year|Year|Reporting\s+period)\s*:\s*.*?(20\d\d)", re.I | re.M)


@dataclass(frozen=True)
class Para:
    text: str
    page: int | None
    heading_hint: bool = False


def is_heading(text: str, hint: bool = False) -> bool:
    t = text.strip().strip("*").strip()
    if not t or len(t) > 100 or t.endswith((".", ",", ";")):
        return False
    bare = re.sub(r"^(\d{1,2}(\.\d{1,2})*)\.?\s+", "", t).strip().lower().rstrip(":")
    if bare in KNOWN_HEADINGS:
        return True
    if _NUM_HEADING.match(t) and len(t.split()) <= 10:
        return True
    return hint and len(t.split()) <= 14


def build_report(paras: list[Para], *, doc_id: str, source: str, content_hash: str, raw: str,
                 title_hint: str = "", extra_meta: dict | None = None) -> Document:
    """`raw` is the text with its original line breaks, where the title block is read."""
    full = raw.replace("**", "")
    meta: dict = dict(extra_meta or {})
    al_match = _AL_LINE.search(full)
    code = parse_action_line(al_match.group(1)) if al_match else None
    if code:
        meta["action_lines"] = [code]
    fac = _FACILITATOR.search(full)
    if fac:
        meta["facilitator"] = clean_inline(fac.group(1)).strip("*").strip()
    docnum = _DOCNUM.search(full)
    if docnum:
        meta["document_number"] = docnum.group(1)
    year = None
    yf = _YEARFIELD.search(full)
    if yf:
        year = int(yf.group(1))
    elif docnum and docnum.group(1).upper().startswith("WSIS+10"):
        year = 2014  # the WSIS+10 review reports were submitted in 2014
    else:
        year = year_in(full[:3000])

    # Drop a banner before the document number, if the report has one near the top.
    start = 0
    for i, p in enumerate(paras[:20]):
        if _DOCNUM.search(p.text):
            start = i
            break
    blocks: list[dict] = []
    heading = ""
    for p in paras[start:]:
        text = p.text.replace("**", "").strip()
        if not text:
            continue
        if is_heading(text, p.heading_hint):
            heading = clean_inline(text).rstrip(":")
            continue
        text = _BULLET.sub("", text, count=1)
        blocks.append({"text": text, "heading": heading, "page": p.page})
    if not blocks:
        raise ParseError("no text found in report")
    text, sections = assemble(blocks)

    if title_hint:
        title = title_hint
    elif al_match:
        title = f"WSIS Action Line {code or al_match.group(1).strip()}: {clean_inline(al_match.group(2))}"
        if meta.get("document_number"):
            title += f" ({meta['document_number']})"
    else:
        title = clean_inline(paras[start].text)[:120]
    return Document(id=doc_id, kind="action_line_report", title=title, source=source, year=year,
                    text=text, sections=sections, metadata=meta, content_hash=content_hash)


def text_paragraphs(raw: str) -> list[Para]:
    """Plain text: paragraphs are separated by blank lines; bullets are their own paragraphs."""
    raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    chunks = re.split(r"\n\s*\n", raw)
    paras: list[str] = []
    for chunk in chunks:
        lines = [ln for ln in chunk.split("\n") if ln.strip()]
        cur: list[str] = []
        for ln in lines:
            if _BULLET.match(ln) or is_heading(ln):
                if cur:
                    paras.append(clean_inline(" ".join(cur)))
                cur = [ln.strip()]
                if is_heading(ln):
                    paras.append(clean_inline(ln))
                    cur = []
            else:
                cur.append(ln.strip())
        if cur:
            paras.append(clean_inline(" ".join(cur)))
    paras = [p for p in paras if p]
    return [Para(p, None) for p in join_broken(paras)]


def parse_text_report(path: Path, doc_id: str, source: str) -> Document:
    data = path.read_bytes()
    raw = decode_bytes(data)
    return build_report(text_paragraphs(raw), doc_id=doc_id, source=source, content_hash=sha256(data), raw=raw)


# ---------------------------------------------------------------- PDF

def _page_lines(page) -> list[tuple[float, float, str]]:
    """(y, font size, text) per visual line, top to bottom, from pypdf's text visitor."""
    frags: list[tuple[float, float, float, str]] = []

    def visit(text, cm, tm, font_dict, font_size):
        if not text or not text.strip():
            return
        y = tm[5] * cm[3] + cm[5]
        x = tm[4] * cm[0] + cm[4]
        size = abs(font_size * (tm[3] or 1) * (cm[3] or 1)) or font_size
        for k, part in enumerate(text.split("\n")):
            if part.strip():
                frags.append((round(y, 0), x + k * 0.001, size, part))

    page.extract_text(visitor_text=visit)
    lines: dict[float, list[tuple[float, float, str]]] = {}
    for y, x, size, part in frags:
        key = next((k for k in lines if abs(k - y) <= 2), y)
        lines.setdefault(key, []).append((x, size, part))
    out = []
    for y in sorted(lines, reverse=True):
        parts = sorted(lines[y])
        text = clean_inline(" ".join(p[2] for p in parts))
        if text:
            # The line's size is that of most of its text (a bullet glyph may be set larger).
            out.append((y, max(parts, key=lambda p: len(p[2].strip()))[1], text))
    return out


def _norm_line(text: str) -> str:
    return re.sub(r"\d+", "#", text.strip().lower())


def pdf_paragraphs(pages: list[list[tuple[float, float, str]]]) -> list[Para]:
    # Running headers and footers: the first/last lines that recur (digits aside) on most pages.
    n = len(pages)
    edge = Counter()
    for lines in pages:
        cands = {_norm_line(t) for _, _, t in lines[:2] + lines[-2:]}
        edge.update(cands)
    repeated = {k for k, c in edge.items() if n >= 2 and c >= max(2, 0.5 * n)}
    page_num = re.compile(r"^(page\s*)?#(\s*(of|/)\s*#)?$")

    sizes = [s for lines in pages for _, s, _ in lines]
    body = statistics.median(sizes) if sizes else 10.0
    paras: list[Para] = []
    for pno, lines in enumerate(pages, start=1):
        kept = [ln for ln in lines if _norm_line(ln[2]) not in repeated and not page_num.match(_norm_line(ln[2]))]
        gaps = [a[0] - b[0] for a, b in zip(kept, kept[1:]) if 0 < a[0] - b[0] < 4 * body]
        line_gap = statistics.median(gaps) if gaps else body * 1.2
        cur: list[str] = []
        prev_y = None
        prev_size = None
        for y, size, text in kept:
            big = size > body + 1.5
            new_para = (
                not cur
                or prev_y is None
                or (prev_y - y) > 1.3 * line_gap
                or big != (prev_size > body + 1.5 if prev_size else False)
                or bool(_BULLET.match(text))
            )
            if new_para and cur:
                paras.append(Para(_join_lines(cur), pno, prev_size is not None and prev_size > body + 1.5))
                cur = []
            cur.append(text)
            prev_y, prev_size = y, size
        if cur:
            paras.append(Para(_join_lines(cur), pno, prev_size is not None and prev_size > body + 1.5))
    # Paragraphs broken across pages.
    out: list[Para] = []
    for p in paras:
        if (out and not out[-1].heading_hint and not p.heading_hint and out[-1].page != p.page
                and not ends_sentence(out[-1].text) and p.text[:1].islower()):
            out[-1] = Para(out[-1].text + " " + p.text, out[-1].page)
        else:
            out.append(p)
    return out


def _join_lines(lines: list[str]) -> str:
    text = lines[0]
    for ln in lines[1:]:
        if text.endswith("-") and ln[:1].islower() and not text.endswith(" -"):
            text = text[:-1] + ln
        else:
            text = text + " " + ln
    return clean_inline(text)


def parse_pdf_report(path: Path, doc_id: str, source: str, max_pages: int = 1500) -> Document:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    data = path.read_bytes()
    if not data.startswith(b"%PDF"):
        raise ParseError("not a PDF file (no %PDF header)")
    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception as exc:  # pypdf raises several types here
                raise ParseError(f"encrypted PDF cannot be opened: {exc}") from exc
            if not ok:
                raise ParseError("encrypted PDF (a password is needed)")
        if len(reader.pages) > max_pages:
            raise ParseError(f"PDF has {len(reader.pages)} pages (limit {max_pages})")
        pages = [_page_lines(p) for p in reader.pages]
        meta_title = ""
        if reader.metadata and reader.metadata.title:
            meta_title = clean_inline(str(reader.metadata.title))
        subject = str(reader.metadata.subject) if reader.metadata and reader.metadata.subject else ""
    except ParseError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError,
            RecursionError, ZeroDivisionError) as exc:
        raise ParseError(f"corrupt PDF: {type(exc).__name__}: {exc}") from exc
    if not any(pages):
        raise ParseError("PDF has no extractable text (scanned or empty)")
    extra = {"pages": len(pages)}
    if subject and subject != "(unspecified)":
        extra["subject"] = subject
    raw = "\n".join(t for lines in pages for _, _, t in lines)
    return build_report(pdf_paragraphs(pages), doc_id=doc_id, source=source, content_hash=sha256(data), raw=raw,
                        title_hint=meta_title if meta_title and meta_title != "(unspecified)" else "",
                        extra_meta=extra)
