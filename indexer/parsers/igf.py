"""IGF session transcripts: the plain-text export (`^^new transcript^^` marker) and HTML pages,
into one section per speaker turn (continuation paragraphs keep the turn's speaker)."""

from __future__ import annotations

import re
from pathlib import Path

from ..models import Document, assemble
from .affiliation import affiliations
from .common import ParseError, clean_inline, decode_bytes, sha256

MARKER = re.compile(r"^\^\^new transcript\^\^(?P<path>[^^]*)\^\^", re.M)
TURN = re.compile(r"^\s*>>\s*(?:(?P<name>[A-Z][A-Z0-9 .,'’()\-]{0,60}?|MODERATOR)\s*:)?\s*(?P<rest>.*)$")
CAPTION_NOTE = re.compile(r"^\s*[(\[][^()\[\]]{0,80}[)\]]\s*$")
SLUG = re.compile(
    r"igf-(?P<year>\d{4})-day-(?P<day>\d+)-(?:(?P<type>ws|of|dc|nri|bpf|main|open-forum|lightning)-?)?"
    r"(?P<num>\d+)?-?(?P<rest>.+)$"
)
SESSION_TYPES = {"ws": "workshop", "of": "open forum", "dc": "dynamic coalition", "nri": "NRI session",
                 "bpf": "best practice forum", "main": "main session", "lightning": "lightning talk"}
IGF_BASE = "https://www.intgovforum.org"


def slug_metadata(slug: str) -> dict:
    """Year, day, session type and number, title and raw flag from an IGF page slug."""
    slug = slug.strip().strip("/").split("/")[-1]
    slug = re.sub(r"\.(txt|html?)$", "", slug)
    meta: dict = {"slug": slug}
    base = slug
    raw = False
    for suffix in ("-raw_PARTIAL", "_PARTIAL", "-raw"):
        if base.endswith(suffix):
            raw = raw or "raw" in suffix
            meta["partial"] = meta.get("partial", False) or "PARTIAL" in suffix
            base = base[: -len(suffix)]
    if base.endswith("-raw"):
        raw = True
        base = base[:-4]
    meta["raw_captions"] = raw
    m = SLUG.match(base)
    if m:
        meta["year"] = int(m.group("year"))
        meta["day"] = int(m.group("day"))
        if m.group("type"):
            meta["session_type"] = SESSION_TYPES.get(m.group("type"), m.group("type"))
        if m.group("num"):
            meta["session_number"] = m.group("num")
        words = m.group("rest")
    else:
        words = base
    title = words.replace("-", " ").strip()
    meta["title"] = title[:1].upper() + title[1:] if title else slug
    return meta


def turns_from_lines(lines: list[str]) -> list[dict]:
    """Speaker turns from transcript lines. A `>> NAME:` line opens a turn, a bare `>>` an anonymous
    one; other lines continue the current turn as new paragraphs. Caption notes on their own line
    are dropped."""
    blocks: list[dict] = []
    speaker = ""
    for line in lines:
        if not line.strip() or CAPTION_NOTE.match(line):
            continue
        m = TURN.match(line)
        if m:
            speaker = clean_inline(m.group("name") or "")
            text = m.group("rest")
        else:
            text = line
        text = clean_inline(text)
        if text:
            blocks.append({"text": text, "speaker": speaker})
    return blocks


def _document(doc_id: str, source: str, url: str, meta: dict, blocks: list[dict], content_hash: str,
              title: str = "") -> Document:
    if not any(b["text"] for b in blocks):
        raise ParseError("transcript has no turns")
    text, sections = assemble(blocks)
    speakers = sorted({s.speaker for s in sections if s.speaker})
    meta = dict(meta)
    meta["speakers"] = speakers
    meta["speaker_affiliations"] = affiliations(sections)
    meta["url"] = url
    meta["turns"] = sum(1 for i, s in enumerate(sections) if i == 0 or s.speaker != sections[i - 1].speaker)
    return Document(id=doc_id, kind="igf_transcript", title=title or meta.get("title", doc_id), source=source,
                    year=meta.get("year"), text=text, sections=sections, metadata=meta,
                    content_hash=content_hash, date=str(meta.get("date", "")))


def is_transcript_text(text: str) -> bool:
    if MARKER.search(text[:2000]):
        return True
    turns = sum(1 for ln in text[:20000].splitlines() if TURN.match(ln))
    return turns >= 3


def parse_transcript_text(path: Path, doc_id: str, source: str) -> Document:
    data = path.read_bytes()
    text = decode_bytes(data).replace("\r\n", "\n")
    m = MARKER.search(text[:2000])
    slug_path = m.group("path") if m else path.stem
    body = text[m.end():] if m else text
    meta = slug_metadata(slug_path or path.stem)
    if path.stem.upper().endswith("_PARTIAL"):
        meta["partial"] = True  # an incomplete copy of the session
    url = IGF_BASE + slug_path if slug_path.startswith("/") else ""
    return _document(doc_id, source, url, meta, turns_from_lines(body.split("\n")), sha256(data))


def is_transcript_html(soup) -> bool:
    body = soup.get_text("\n")
    return sum(1 for ln in body.splitlines() if TURN.match(ln)) >= 3


def parse_transcript_html(soup, data: bytes, doc_id: str, source: str) -> Document:
    """An IGF transcript page: title from <h1>/<title>, slug from the canonical link, turns from the
    content area; navigation, scripts and the captioning disclaimer are dropped."""
    canonical = soup.find("link", rel="canonical")
    og = soup.find("meta", attrs={"property": "og:url"})
    url = (canonical.get("href") if canonical else "") or (og.get("content") if og else "") or ""
    h1 = soup.find("h1")
    title = clean_inline(h1.get_text(" ")) if h1 else ""
    if not title and soup.title:
        title = clean_inline(soup.title.get_text(" ")).split(" | ")[0]
    for tag in soup(["script", "style", "nav", "header", "footer", "aside", "form", "noscript", "iframe"]):
        tag.decompose()
    main = (soup.find(class_=re.compile(r"transcript", re.I)) or soup.find("article") or soup.find("main")
            or soup.body or soup)
    lines: list[str] = []
    for el in main.find_all(["p", "li", "pre", "div"], recursive=True):
        if el.find(["p", "div", "li", "pre"]):
            continue  # visit only innermost blocks, so no text is read twice
        for ln in el.get_text("\n").split("\n"):
            lines.append(ln)
    if not lines:
        lines = main.get_text("\n").split("\n")
    # Drop everything before the first turn (disclaimer, session header).
    first = next((i for i, ln in enumerate(lines) if TURN.match(ln)), None)
    if first is None:
        raise ParseError("HTML page has no `>>` speaker turns")
    disclaimer = clean_inline(" ".join(lines[:first]))
    slug = url.rstrip("/").split("/")[-1] if url else Path(source).stem
    meta = slug_metadata(slug)
    if disclaimer:
        meta["preamble"] = disclaimer[:500]
    for key in ("date", "session-type", "organizer"):
        tag = soup.find("meta", attrs={"name": f"igf:{key}"})
        if tag and tag.get("content"):
            meta[key.replace("-", "_")] = tag["content"]
    if "session_type" in meta:
        meta["session_type"] = meta["session_type"].lower()
    if "date" in meta and meta["date"][:4].isdigit():
        meta["year"] = int(meta["date"][:4])
    return _document(doc_id, source, url, meta, turns_from_lines(lines[first:]), sha256(data), title=title)
