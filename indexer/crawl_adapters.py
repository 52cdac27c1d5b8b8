"""Source adapters: how each source's listing pages lead to its documents, and how a detail page becomes
a file that the parsers read (IGF transcript page -> HTML as is; stocktaking entry page -> a JSON record;
report PDF -> PDF; report HTML page -> text with its title block)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from bs4 import BeautifulSoup


@dataclass
class Extracted:
    links: list[str]
    document: tuple[str, bytes] | None  # (file name under the source folder, bytes)


def _soup(body: bytes) -> BeautifulSoup:
    return BeautifulSoup(body, "lxml")


def links_of(ctype: str, body: bytes) -> list[str]:
    if ctype in ("application/xml", "text/xml") or body.lstrip()[:5] == b"<?xml":
        return re.findall(r"<loc>\s*([^<\s]+)\s*</loc>", body.decode("utf-8", "replace"))
    if "html" not in ctype:
        return []
    soup = _soup(body)
    out = []
    for a in soup.find_all("a", href=True):
        href = a["href"].strip()
        if href and not href.startswith(("#", "javascript:", "mailto:", "tel:")):
            out.append(href)
    return out


def _slug(url: str, default_ext: str) -> str:
    parts = urlsplit(url)
    path = parts.path.strip("/") or "index"
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", path.replace("/", "__"))[:150]
    if parts.query:
        name += "-" + re.sub(r"[^A-Za-z0-9]+", "-", parts.query)[:60]
    if not name.lower().endswith(default_ext):
        name += default_ext
    return name


def _is_detail(url: str, patterns: list[str]) -> bool:
    return any(re.search(p, url) for p in patterns) if patterns else True


def igf_adapter(url: str, ctype: str, body: bytes, patterns: list[str]) -> Extracted:
    links = links_of(ctype, body)
    doc = None
    turns = body.replace(b"&gt;", b">").replace(b"&#62;", b">")
    if "html" in ctype and _is_detail(url, patterns) and re.search(rb">>\s*[A-Z][A-Z .'-]*:", turns):
        doc = (_slug(url, ".html"), body)
    return Extracted(links, doc)


LABELS = {
    "title": r"^(project\s+)?title$|^name of (the )?project$",
    "organisation": r"^(entity|organi[sz]ation|organi[sz]ation name|implementing entity)$",
    "stakeholder_type": r"^(stakeholder( type)?|type of (entity|stakeholder))$",
    "country": r"^(country|countries|country\s*/\s*region|location)$",
    "coverage": r"^coverage$",
    "action_lines": r"^(wsis )?action lines?$",
    "sdgs": r"^(sdgs?|sustainable development goals?)$",
    "description": r"^(project )?description$|^summary$",
    "impact": r"^impact$",
    "partnerships": r"^partnerships?$",
    "challenges": r"^challenges?$",
    "future": r"^future( perspectives| plans)?$",
    "year": r"^year$",
}


def stocktaking_record(url: str, body: bytes) -> dict:
    """Fields of a stocktaking entry page, read from label / value pairs (dt/dd, th/td, or a bold label
    followed by its value)."""
    soup = _soup(body)
    rec: dict = {}
    for label_el in soup.find_all(["dt", "th", "strong", "b", "label", "h3", "h4", "span"]):
        label = re.sub(r"[\s:]+$", "", label_el.get_text(" ", strip=True)).lower()
        for key, pat in LABELS.items():
            if key in rec or not re.match(pat, label):
                continue
            value_el = label_el.find_next_sibling() or label_el.parent.find_next_sibling()
            if label_el.name == "dt":
                value_el = label_el.find_next_sibling("dd")
            elif label_el.name == "th":
                value_el = label_el.find_next_sibling("td")
            if value_el is None:
                continue
            items = [li.get_text(" ", strip=True) for li in value_el.find_all("li")]
            value = items if items and key in ("action_lines", "sdgs") else value_el.get_text(" ", strip=True)
            if value:
                rec[key] = value
    if "title" not in rec:
        h = soup.find(["h1", "h2"])
        if h:
            rec["title"] = h.get_text(" ", strip=True)
    m = re.search(r"projectId=(\d+)|DetailsPopup/(\d+)", url)
    rec["id"] = (m.group(1) or m.group(2)) if m else re.sub(r"\W+", "-", urlsplit(url).path)[-40:]
    y = re.search(r"/Prizes/(\d{4})/", url)
    if y and "year" not in rec:
        rec["year"] = int(y.group(1))
    rec["url"] = url
    return rec


def stocktaking_adapter(url: str, ctype: str, body: bytes, patterns: list[str]) -> Extracted:
    links = links_of(ctype, body)
    doc = None
    if "html" in ctype and _is_detail(url, patterns or [r"Project/Details", r"DetailsPopup/\d+"]):
        rec = stocktaking_record(url, body)
        if rec.get("title"):
            doc = (f"entries/{rec['id']}.json", json.dumps({"entries": [rec]}, ensure_ascii=False).encode("utf-8"))
    return Extracted(links, doc)


def report_adapter(url: str, ctype: str, body: bytes, patterns: list[str]) -> Extracted:
    if ctype == "application/pdf":
        return Extracted([], (_slug(url, ".pdf"), body))
    links = links_of(ctype, body)
    doc = None
    if "html" in ctype and _is_detail(url, patterns):
        soup = _soup(body)
        for tag in soup(["script", "style", "nav", "header", "footer", "aside", "form", "noscript"]):
            tag.decompose()
        main = soup.find("main") or soup.find("article") or soup.body or soup
        blocks = [el.get_text(" ", strip=True) for el in main.find_all(["h1", "h2", "h3", "h4", "p", "li"])
                  if not el.find(["p", "li"])]
        text = "\n\n".join(b for b in blocks if b)
        if re.search(r"Action\s+Line", text) and re.search(r"Achievements|Challenges|Recommendations", text):
            doc = (_slug(url, ".txt"), text.encode("utf-8"))
        elif text:
            doc = (_slug(url, ".html"), body)
    return Extracted(links, doc)


def reference_adapter(url: str, ctype: str, body: bytes, patterns: list[str]) -> Extracted:
    links = links_of(ctype, body)
    doc = None
    if ctype == "application/pdf":
        doc = (_slug(url, ".pdf"), body)
    elif "html" in ctype and _is_detail(url, patterns):
        doc = (_slug(url, ".html"), body)
    return Extracted(links, doc)


ADAPTERS = {
    "igf_transcript": igf_adapter,
    "stocktaking_entry": stocktaking_adapter,
    "action_line_report": report_adapter,
    "reference": reference_adapter,
}
