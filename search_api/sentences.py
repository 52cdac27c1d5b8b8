"""Answer sentences: passages segmented with a maintained segmenter (sentencex), questions and procedural
sentences left out, a list kept with its lead-in ("The three principles are: - a - b - c"), each unit a
verbatim span of its passage and attributed to who said or wrote it."""

from __future__ import annotations

import re
from dataclasses import dataclass

import sentencex

from indexer.substance import is_procedural

_ITEM = re.compile(r"^\s*(?:[-•*–·▪]|\(?\d{1,2}[.)]|\(?[a-z][.)])\s+")
_ABBREV_END = re.compile(r"(?:\b(?:para|paras|p|pp|no|nos|art|arts|fig|sec|vol|ch|cf|e\.g|i\.e|approx|incl|"
                         r"resp|etc|vs|res|doc|rev|add|corr)\.)\s*$", re.I)
MAX_ITEMS = 8


@dataclass(frozen=True)
class Unit:
    start: int  # offsets into the passage text: text[start:end] is verbatim
    end: int
    text: str
    is_list: bool = False


def segment(text: str) -> list[tuple[int, int]]:
    """Sentence spans of `text` (whitespace trimmed), never across a line break. A boundary the segmenter puts
    after an abbreviation or before a lower-case or closing word ("para. 124) of ...") is undone."""
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        base = line.start()
        pieces = [(base + b["start_index"], base + b["end_index"])
                  for b in sentencex.get_sentence_boundaries("en", line.group(0))]
        merged: list[list[int]] = []
        for s, e in pieces:
            if merged:
                prev = text[merged[-1][0]:merged[-1][1]]
                nxt = text[s:e].lstrip()
                if nxt and (nxt[0].islower() or nxt[0] in ")]," or _ABBREV_END.search(prev)
                            or (nxt[0].isdigit() and re.match(r"\d+[)\]]", nxt))):
                    merged[-1][1] = e
                    continue
            merged.append([s, e])
        for s, e in merged:
            while s < e and text[s].isspace():
                s += 1
            while e > s and text[e - 1].isspace():
                e -= 1
            if e > s:
                spans.append((s, e))
    return spans


def units(text: str, min_words: int = 5, max_words: int = 90) -> list[Unit]:
    """Candidate answer units of a passage: sentences that are statements with content, and lists joined to
    their lead-in sentence (a sentence ending with ':' followed by list items)."""
    spans = segment(text)
    out: list[Unit] = []
    i = 0
    while i < len(spans):
        s, e = spans[i]
        sent = text[s:e]
        if sent.rstrip().endswith(":"):
            j = i + 1
            while j < len(spans) and j - i <= MAX_ITEMS and _ITEM.match(text[spans[j][0]:spans[j][1]]):
                j += 1
            if j > i + 1:
                end = spans[j - 1][1]
                out.append(Unit(s, end, text[s:end], is_list=True))
                i = j
                continue
        n = len(sent.split())
        enough = n >= 3 if _ITEM.match(sent) else min_words <= n
        if enough and n <= max_words and not sent.rstrip().endswith("?") and not is_procedural(sent):
            out.append(Unit(s, e, sent))
        i += 1
    return out


def speaker_at(sections: list[dict], pos: int) -> str:
    """The speaker of the document section holding character `pos` (transcripts: one section a turn)."""
    for sec in sections:
        if sec["start"] <= pos < sec["end"]:
            return sec.get("speaker") or ""
    return ""


def attribution(card: dict, speaker: str = "", affiliation: str = "") -> dict:
    """Who said or wrote a sentence, and where: speaker and the organisation they introduced themselves with
    (transcripts), organisation and country (entries), document title, kind, section, page and year."""
    out = {"title": card.get("title", ""), "kind": card.get("kind", ""), "year": card.get("year"),
           "document_id": card.get("document_id", "")}
    who = speaker or card.get("speaker") or ""
    if who:
        out["speaker"] = who.title() if who.isupper() else who
        if affiliation:
            out["organisation"] = affiliation
    for key in ("organisation", "country", "heading", "page", "url"):
        if card.get(key):
            out["section" if key == "heading" else key] = card[key]
    return out


def label(a: dict) -> str:
    """A short human attribution: "Michuki Mwangi, IGF 2020 WS37 ..." / "Title (Organisation, Country, 2021)"."""
    if a.get("speaker"):
        return f"{a['speaker']}" + (f" ({a['organisation']})" if a.get("organisation") else "") + f", {a['title']}"
    bits = [x for x in (a.get("organisation"), a.get("country"), str(a["year"]) if a.get("year") else "") if x]
    return a["title"] + (f" ({', '.join(bits)})" if bits else "") + (f", {a['section']}" if a.get("section") else "")
