"""Chat-style answers built only from the indexed passages: query-focused extractive summarisation
(dense + lexical sentence scores, MMR for variety), every sentence a verbatim span of the passage it
cites; abstention when the evidence is weak; follow-ups that inherit the previous turn's topic and filters."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field, replace

import numpy as np

from indexer.actionlines import normalise_filter

from .engine import Engine
from .filters import Filters
from .present import passage_cards

_SENT = re.compile(r"[^.!?]+(?:[.!?]+[\"'’”)]*|$)")
_WORD = re.compile(r"[a-z0-9]+")
STOP = set("""a an the of in on for to and or is are was were be been by with at from as that this these those it its
what which who whom how why when where do does did can could should would will shall may might there their they them
we our you your i me my about into than then so such not no yes any all some more most other also just only very
tell give show list find please much many""".split())
FOLLOW_UP_START = re.compile(r"^(and|but|also|what about|how about|and what about|what of|same|then|ok(ay)?|now)\b", re.I)
ROLE_WORDS = {"challenge": "challenge", "challenges": "challenge", "obstacles": "challenge", "barriers": "challenge",
              "recommendation": "recommendation", "recommendations": "recommendation", "recommend": "recommendation",
              "achievement": "achievement", "achievements": "achievement", "results": "achievement",
              "commitments": "commitment", "plans": "commitment", "next steps": "commitment"}
ABSTAIN_TEXT = "The indexed documents do not cover this question well enough to answer it."


@dataclass
class Turn:
    question: str
    query: str
    filters: Filters
    topic: str


@dataclass
class Conversation:
    id: str
    turns: list[Turn] = field(default_factory=list)
    updated: float = field(default_factory=time.time)


class Conversations:
    """Server-side conversations, bounded in number (least recently used dropped first), age and turns."""

    def __init__(self, max_count: int = 1000, max_age_s: float = 3600.0, max_turns: int = 20):
        self.max_count, self.max_age_s, self.max_turns = max_count, max_age_s, max_turns
        self._data: OrderedDict[str, Conversation] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_create(self, cid: str | None) -> Conversation:
        now = time.time()
        with self._lock:
            for key in [k for k, c in self._data.items() if now - c.updated > self.max_age_s]:
                del self._data[key]
            conv = self._data.get(cid) if cid else None
            if conv is None:
                conv = Conversation(id=cid if cid and len(cid) <= 64 and cid.isprintable() else uuid.uuid4().hex)
                self._data[conv.id] = conv
            self._data.move_to_end(conv.id)
            conv.updated = now
            while len(self._data) > self.max_count:
                self._data.popitem(last=False)
            return conv

    def add(self, conv: Conversation, turn: Turn) -> None:
        with self._lock:
            conv.turns.append(turn)
            del conv.turns[:-self.max_turns]

    def __len__(self) -> int:
        return len(self._data)


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOP and len(w) > 1]


def is_follow_up(question: str, conv: Conversation) -> bool:
    if not conv.turns:
        return False
    return bool(FOLLOW_UP_START.match(question.strip())) or len(content_words(question)) <= 2


def resolve(question: str, filters: Filters, conv: Conversation) -> tuple[str, Filters, str]:
    """(query to run, filters, topic). A follow-up keeps the previous topic and filters and adds what it says:
    a role ("what about the challenges?"), an action line ("and C5?") or extra words ("and in Africa?")."""
    words = content_words(question)
    if not is_follow_up(question, conv):
        topic = question
        return question, filters, topic
    prev = conv.turns[-1]
    f = prev.filters if filters.empty() else filters
    lowered = question.lower()
    roles = tuple(dict.fromkeys(r for w, r in ROLE_WORDS.items() if re.search(rf"\b{w}\b", lowered)))
    if roles:
        f = replace(f, roles=roles)
    lines = [c for c in (normalise_filter(m) for m in re.findall(r"\bC\s?\d{1,2}(?:\.e-[a-z]+)?\b", question)) if c]
    if lines:
        f = replace(f, action_lines=tuple(lines))
    extra = [w for w in words if w not in ROLE_WORDS]
    query = prev.topic + (" " + " ".join(extra) if extra else "")
    return query, f, prev.topic


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans (start, end) in `text`, whitespace trimmed, so text[start:end] is verbatim."""
    spans = []
    for block in re.finditer(r"[^\n]+", text):  # never across a line (title line, paragraph break)
        for m in _SENT.finditer(block.group(0)):
            s, e = block.start() + m.start(), block.start() + m.end()
            while s < e and text[s].isspace():
                s += 1
            while e > s and text[e - 1].isspace():
                e -= 1
            if e > s:
                spans.append((s, e))
    return spans


def mmr(scores: np.ndarray, vecs: np.ndarray, k: int, lam: float = 0.7, floor: float = 0.0) -> list[int]:
    chosen: list[int] = []
    cand = list(range(len(scores)))
    while cand and len(chosen) < k:
        if chosen:
            red = (vecs[cand] @ vecs[chosen].T).max(axis=1)
        else:
            red = np.zeros(len(cand))
        val = lam * scores[cand] - (1 - lam) * red
        j = int(np.argmax(val))
        if chosen and scores[cand[j]] < floor:
            break
        chosen.append(cand.pop(j))
    return chosen


@dataclass
class AnswerSettings:
    abstain_below: float = 0.435  # best dense cosine of the question to any retrieved passage
    passages: int = 6
    min_sentences: int = 2
    max_sentences: int = 5


def answer(engine: Engine, question: str, filters: Filters, conv: Conversation, conversations: Conversations,
           cfg: AnswerSettings = AnswerSettings(), generator=None):
    """Yields events in order: ("meta", ...), ("passages", cards), ("sentence", {...}) per answer sentence,
    ("related", [...]), ("done", summary)."""
    from .related import related

    query, f, topic = resolve(question, filters, conv)
    conversations.add(conv, Turn(question=question, query=query, filters=f, topic=topic))
    qvec = engine.embedder.encode_query(query)
    res = engine.search(query, k=cfg.passages, filters=f, qvec=qvec)
    hits = res.hits
    best = max((float(np.asarray(engine.embeddings[h.vid]) @ qvec) for h in hits), default=0.0)
    abstained = best < cfg.abstain_below or not hits
    yield "meta", {"conversation_id": conv.id, "question": question,
                   "query_run": {"text": query, "filters": f.as_dict(), "follow_up": query != question},
                   "evidence": round(best, 4), "abstained": abstained}
    cards = passage_cards(engine, hits, query)
    yield "passages", cards
    if abstained:
        from indexer.actionlines import CODES
        nearest = []
        if engine.tagger is not None:
            s = engine.tagger.scores(qvec.reshape(1, -1))[0]
            nearest = [CODES[i] for i in np.argsort(-s)[:3]]
        yield "sentence", {"text": ABSTAIN_TEXT, "citations": [], "nearest_action_lines": nearest}
        yield "related", []
        yield "done", {"abstained": True, "sentences": 1}
        return
    if generator is not None:
        from .generate import GenerationError

        try:
            generated = generator.answer(query, cards)
        except GenerationError as exc:
            generated = []
            yield "notice", {"answerer": "extractive", "reason": f"generative answerer failed: {exc}"}
        if generated:
            for sent in generated:
                yield "sentence", {**sent, "generated": True}
            rel = related(engine, text=query[:1000], k=3)
            yield "related", rel["initiatives"]
            yield "done", {"abstained": False, "sentences": len(generated), "answerer": "generative"}
            return
    # candidate sentences from the top passages
    cands = []
    for rank, c in enumerate(cards):
        text = c["text"]
        for s, e in split_sentences(text):
            sent = text[s:e]
            n = len(sent.split())
            if 6 <= n <= 70:
                cands.append({"rank": rank, "start": s, "text": sent, "passage_id": c["passage_id"]})
    if not cands:
        yield "sentence", {"text": ABSTAIN_TEXT, "citations": []}
        yield "related", []
        yield "done", {"abstained": True, "sentences": 1}
        return
    svecs = engine.embedder.encode([x["text"] for x in cands])
    dense = svecs @ qvec
    qwords = set(content_words(query))
    lex = np.array([len(qwords & set(content_words(x["text"]))) / max(1, len(qwords)) for x in cands])
    prior = np.array([1.0 / (1 + 0.15 * x["rank"]) for x in cands])
    # A question about recommendations (challenges, achievements...) prefers passages of that role.
    wanted = {r for w, r in ROLE_WORDS.items() if re.search(rf"\b{w}\b", question.lower())}
    role_of = {c["passage_id"]: c["role"] for c in cards}
    boost = np.array([1.25 if role_of.get(x["passage_id"]) in wanted else 1.0 for x in cands])
    score = (0.6 * dense + 0.4 * lex) * prior * boost
    picked = mmr(score, svecs, cfg.max_sentences, floor=0.6 * float(score.max()))
    if len(picked) < cfg.min_sentences:
        picked = mmr(score, svecs, cfg.min_sentences)
    picked.sort(key=lambda i: (cands[i]["rank"], cands[i]["start"]))  # document order reads best
    for i in picked:
        yield "sentence", {"text": cands[i]["text"], "citations": [cands[i]["passage_id"]],
                           "score": round(float(score[i]), 4)}
    rel = related(engine, text=query[:1000], k=3)
    yield "related", rel["initiatives"]
    yield "done", {"abstained": False, "sentences": len(picked)}


def answer_json(engine, question, filters, conv, conversations, cfg=AnswerSettings(), generator=None) -> dict:
    out: dict = {"answer": [], "passages": [], "related_initiatives": [], "answerer": "extractive"}
    for event, data in answer(engine, question, filters, conv, conversations, cfg, generator):
        if event == "done" and data.get("answerer"):
            out["answerer"] = data["answerer"]
        if event == "notice":
            out["notice"] = data["reason"]
        if event == "meta":
            out.update({k: data[k] for k in ("conversation_id", "query_run", "evidence", "abstained")})
        elif event == "passages":
            out["passages"] = data
        elif event == "sentence":
            out["answer"].append(data)
        elif event == "related":
            out["related_initiatives"] = data
    return out
