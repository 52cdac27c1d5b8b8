"""Split documents into passages of ~100-250 words that never cross a section heading and cross a
speaker change only to absorb very short turns. Every passage is an exact span of Document.text."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from .models import Document, Passage

_SENT = re.compile(r"(?<=[.!?])[\"'’”)]*\s+(?=[A-Z0-9\"'“(])")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class ChunkSettings:
    target_words: int = 180
    min_words: int = 100
    max_words: int = 250

    def as_dict(self) -> dict:
        return {"target_words": self.target_words, "min_words": self.min_words, "max_words": self.max_words,
                "version": 1}


@dataclass(frozen=True)
class _Piece:
    start: int
    end: int
    words: int
    heading: str
    speaker: str
    page: int | None


def _split_long(text: str, offset: int, max_words: int, target: int) -> list[tuple[int, int, int]]:
    """Cut an over-long paragraph at sentence ends (or, failing that, at word boundaries)."""
    sentences: list[tuple[int, int]] = []
    pos = 0
    for m in _SENT.finditer(text):
        sentences.append((pos, m.start()))
        pos = m.end()
    sentences.append((pos, len(text)))
    spans: list[tuple[int, int]] = []
    for s, e in sentences:  # sentences longer than max are cut at words
        words = list(_WORD.finditer(text, s, e))
        if len(words) <= max_words:
            spans.append((s, e))
            continue
        for i in range(0, len(words), target):
            grp = words[i:i + target]
            spans.append((grp[0].start(), grp[-1].end()))
    out: list[tuple[int, int, int]] = []
    cur_s, cur_e, cur_w = None, None, 0
    for s, e in spans:
        w = len(_WORD.findall(text[s:e]))
        if cur_s is not None and (cur_w + w > max_words or cur_w >= target):
            out.append((offset + cur_s, offset + cur_e, cur_w))
            cur_s, cur_w = None, 0
        if cur_s is None:
            cur_s = s
        cur_e, cur_w = e, cur_w + w
    if cur_s is not None:
        out.append((offset + cur_s, offset + cur_e, cur_w))
    return out


def chunk_document(doc: Document, cfg: ChunkSettings = ChunkSettings()) -> list[Passage]:
    pieces: list[_Piece] = []
    for sec in doc.sections:
        words = len(_WORD.findall(sec.text))
        if words > cfg.max_words:
            for s, e, w in _split_long(sec.text, sec.start, cfg.max_words, cfg.target_words):
                pieces.append(_Piece(s, e, w, sec.heading, sec.speaker, sec.page))
        elif words:
            pieces.append(_Piece(sec.start, sec.end, words, sec.heading, sec.speaker, sec.page))

    groups: list[list[_Piece]] = []
    if pieces and sum(p.words for p in pieces) <= cfg.max_words and doc.kind != "igf_transcript":
        groups.append(pieces)  # a short document (a stocktaking entry) is one passage
        pieces = []
    cur: list[_Piece] = []
    cur_words = 0
    short_turn = max(20, cfg.min_words // 3)
    for p in pieces:
        if cur:
            # A new heading closes the passage, unless what we hold is a fragment too small to stand alone.
            hard = p.heading != cur[-1].heading and cur_words >= short_turn
            speaker_change = p.speaker != cur[-1].speaker
            flush = (
                hard
                or cur_words + p.words > cfg.max_words
                or cur_words >= cfg.target_words
                # a new speaker starts a new passage unless what we hold, or the new turn, is very short
                or (speaker_change and cur_words >= short_turn and p.words >= short_turn
                    and cur_words >= cfg.min_words // 2)
            )
            if flush:
                groups.append(cur)
                cur, cur_words = [], 0
        cur.append(p)
        cur_words += p.words
    if cur:
        groups.append(cur)

    # A short tail joins the passage before it when they share the heading and fit.
    merged: list[list[_Piece]] = []
    for g in groups:
        gw = sum(p.words for p in g)
        if (merged and gw < cfg.min_words // 2 and g[0].heading == merged[-1][-1].heading
                and sum(p.words for p in merged[-1]) + gw <= cfg.max_words):
            merged[-1] = merged[-1] + g
        else:
            merged.append(g)

    passages = []
    for i, g in enumerate(merged):
        start, end = g[0].start, g[-1].end
        by_speaker = Counter()
        for p in g:
            by_speaker[p.speaker] += p.words
        speaker = by_speaker.most_common(1)[0][0] if by_speaker else ""
        # a fragment too short to stand alone joins the next section: the passage is under the heading most
        # of its words are under (a two-line executive summary does not rename the achievements after it)
        by_heading = Counter()
        for p in g:
            by_heading[p.heading] += p.words
        heading = by_heading.most_common(1)[0][0] if by_heading else g[0].heading
        passages.append(Passage(
            id=f"{doc.id}::{i}", doc_id=doc.id, ordinal=i, text=doc.text[start:end], heading=heading,
            page=g[0].page, speaker=speaker, start=start, end=end, words=sum(p.words for p in g),
        ))
    return passages
