"""Chat-style answers built only from the indexed passages.

question -> understood (names become filters or boosts, intent read: `question`) -> resolved against the
conversation (`conversation`) -> evidence pool reranked for answering (`evidence`) -> answer units scored
(dense similarity in context + coverage of the question's topic words + intent), chosen with MMR, each a
verbatim span of the passage it cites and attributed (`sentences`) -> or an abstention decided from several
signals (`abstain`). "Which initiatives ..." questions are answered with a list of initiatives.

Everything is decided before the first event is sent, so `abstained` has one value in JSON, SSE and CLI."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .abstain import AbstainSettings, decide, missing_names
from .conversation import Conversation, Conversations, Turn, resolve
from .engine import Engine
from .evidence import Evidence, EvidenceSettings, gather
from .filters import Filters
from .present import passage_cards
from .question import ROLE_CUES as _ROLE_CUES, understand
from .sentences import attribution, label, speaker_at, units

__all__ = ["ABSTAIN_TEXT", "AnswerSettings", "Conversations", "Turn", "answer", "answer_json", "collect"]

ABSTAIN_TEXT = "The indexed documents do not cover this question well enough to answer it."
_NUMBER = re.compile(r"\d")


@dataclass
class AnswerSettings:
    abstain: AbstainSettings = field(default_factory=AbstainSettings)
    evidence: EvidenceSettings = field(default_factory=EvidenceSettings)
    passages: int = 8  # evidence passages whose sentences compete
    cards: int = 6  # passage cards returned with the answer
    min_sentences: int = 2
    max_sentences: int = 5
    max_initiatives: int = 5
    units_per_passage: int = 3  # answer units per evidence passage that are embedded and scored
    units_total: int = 24

    @classmethod
    def from_settings(cls, s) -> "AnswerSettings":
        return cls(abstain=AbstainSettings(passage_below=s.ask_abstain_below,
                                           sentence_below=s.ask_abstain_sentence_below,
                                           unknown_name_sentence_below=s.ask_abstain_unknown_name_below,
                                           figure_sentence_below=s.ask_abstain_figure_below))


def mmr(scores: np.ndarray, vecs: np.ndarray, k: int, lam: float = 0.7, floor: float = 0.0) -> list[int]:
    chosen: list[int] = []
    cand = list(range(len(scores)))
    while cand and len(chosen) < k:
        red = (vecs[cand] @ vecs[chosen].T).max(axis=1) if chosen else np.zeros(len(cand))
        val = lam * scores[cand] - (1 - lam) * red
        j = int(np.argmax(val))
        if chosen and scores[cand[j]] < floor:
            break
        chosen.append(cand.pop(j))
    return chosen


def _candidates(engine: Engine, ev: list[Evidence], cards: dict[int, dict], q) -> list[dict]:
    """Answer units of the evidence passages with their position, passage rank, speaker and affiliation."""
    out = []
    docs: dict[str, dict] = {}
    for rank, e in enumerate(ev):
        c = cards[e.vid]
        doc = None
        if c["kind"] == "igf_transcript":
            if c["document_id"] not in docs:
                docs[c["document_id"]] = engine.index.store.document(c["document_id"], with_text=True) or {}
            doc = docs[c["document_id"]]
        p = engine.index.store.passage_by_id(c["passage_id"])
        for u in units(c["text"]):
            speaker = speaker_at(doc.get("sections", []), p.start + u.start) if doc and p else ""
            org = (doc or {}).get("metadata", {}).get("speaker_affiliations", {}).get(speaker, "")
            out.append({"rank": rank, "vid": e.vid, "start": u.start, "text": u.text, "is_list": u.is_list,
                        "passage_id": c["passage_id"], "speaker": speaker, "affiliation": org, "card": c})
    return out


def _lexical(engine: Engine, q, cands: list[dict]) -> np.ndarray:
    """Share of the question's topic terms (stemmed, as the keyword index sees them) each unit holds."""
    kw = engine.index.keyword
    topic = set(kw.query_ids(" ".join(q.topic))) if q.topic else set()
    if not topic:
        return np.zeros(len(cands))
    return np.array([len(topic & set(kw.query_ids(x["text"]))) / len(topic) for x in cands])


def _shortlist(cands: list[dict], lex: np.ndarray, q, per_passage: int, total: int) -> list[int]:
    """The units worth embedding: each passage's best few by topic coverage and the intent's cue (then
    position), at most `total`, best passages first. Encoding is the costly step of an answer."""
    cue = _ROLE_CUES.get(q.role)
    key = lex + np.array([0.3 if cue is not None and cue.search(x["text"]) else 0.0 for x in cands])
    by_passage: dict[int, list[int]] = {}
    for i, x in enumerate(cands):
        by_passage.setdefault(x["rank"], []).append(i)
    keep: list[int] = []
    for rank in sorted(by_passage):
        idx = sorted(by_passage[rank], key=lambda i: (-key[i], cands[i]["start"]))[:per_passage]
        keep += idx
    return sorted(keep[:total])


def encode_units(embedder, texts: list[str], batch: int = 4) -> np.ndarray:
    """Vectors of short texts in small batches of similar length: padding and attention cost grow with the
    longest text of a batch, so for a few dozen sentences batches of 4 are ~2x faster than one of 32."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = None
    for i in range(0, len(order), batch):
        idx = order[i:i + batch]
        vecs = embedder.encode([texts[j] for j in idx])
        if out is None:
            out = np.zeros((len(texts), vecs.shape[1]), dtype=np.float32)
        out[idx] = vecs
    return out if out is not None else np.zeros((0, 1), dtype=np.float32)


def _score_units(engine: Engine, q, qvec: np.ndarray, cands: list[dict], ev: list[Evidence], lex: np.ndarray):
    svecs = encode_units(engine.embedder, [x["text"] for x in cands])
    dense = svecs @ qvec
    context = np.array([ev[x["rank"]].dense for x in cands])
    prior = np.array([1.0 / (1 + 0.08 * x["rank"]) for x in cands])
    bonus = np.ones(len(cands))
    cue = _ROLE_CUES.get(q.role)
    for i, x in enumerate(cands):
        if cue is not None and cue.search(x["text"]):
            bonus[i] *= 1.2
        if q.intent == "figure":
            bonus[i] *= 1.2 if _NUMBER.search(x["text"]) else 0.85
        if q.speakers and x["card"]["kind"] == "igf_transcript":
            bonus[i] *= 1.0 if x["speaker"] in q.speakers else 0.6
        if x["is_list"]:
            bonus[i] *= 1.1
        if ev[x["rank"]].structured:
            bonus[i] *= 1.3
    score = (0.5 * dense + 0.15 * context + 0.35 * lex) * prior * bonus
    return score, dense, svecs


def _sentence_answer(engine, q, qvec, ev, cards, cfg) -> tuple[list[dict], dict]:
    cands = _candidates(engine, ev[:cfg.passages], cards, q)
    if not cands:
        return [], {"best_sentence": 0.0, "best_number_sentence": 0.0}
    lex = _lexical(engine, q, cands)
    keep = _shortlist(cands, lex, q, cfg.units_per_passage, cfg.units_total)
    cands, lex = [cands[i] for i in keep], lex[keep]
    score, dense, svecs = _score_units(engine, q, qvec, cands, ev, lex)
    picked = mmr(score, svecs, cfg.max_sentences, floor=0.7 * float(score.max()))
    if len(picked) < cfg.min_sentences:
        picked = mmr(score, svecs, cfg.min_sentences)
    picked.sort(key=lambda i: (cands[i]["rank"], cands[i]["start"]))  # document order reads best
    out = []
    for i in picked:
        x = cands[i]
        src = attribution(x["card"], x["speaker"], x["affiliation"])
        out.append({"text": x["text"], "citations": [x["passage_id"]], "score": round(float(score[i]), 4),
                    "source": src, "attribution": label(src)})
    with_number = [float(dense[i]) for i in range(len(cands)) if _NUMBER.search(cands[i]["text"])]
    return out, {"best_sentence": float(max(dense[i] for i in picked)),
                 "best_number_sentence": max(with_number, default=0.0)}


def _initiative_answer(engine, q, qvec, ev, cards, cfg) -> tuple[list[dict], dict]:
    """One item per initiative: the entry's best sentence, with title, organisation, country and year."""
    entries, seen = [], set()
    for e in ev:
        c = cards[e.vid]
        if c["kind"] != "stocktaking_entry" or c["document_id"] in seen:
            continue
        seen.add(c["document_id"])
        entries.append((e, c))
    if not entries:
        return [], {"best_sentence": 0.0, "best_number_sentence": 0.0}
    best = entries[0][0].score
    keep = [(e, c) for e, c in entries if e.score >= 0.75 * best][:cfg.max_initiatives]
    if len(keep) < 2:
        keep = entries[:2]
    out, sims = [], []
    for e, c in keep:
        us = units(c["text"], min_words=3) or []
        if us:
            v = encode_units(engine.embedder, [u.text for u in us]) @ qvec
            u, sim = us[int(np.argmax(v))], float(v.max())
            text = u.text
        else:
            text, sim = c["text"].strip().split("\n")[0], e.dense
        sims.append(sim)
        src = attribution(c)
        out.append({"text": text, "citations": [c["passage_id"]], "score": round(e.score, 4), "source": src,
                    "attribution": label(src),
                    "initiative": {"title": c["title"], "organisation": c.get("organisation", ""),
                                   "country": c.get("country", ""), "year": c.get("year"),
                                   "document_id": c["document_id"], "url": c.get("url", "")}})
    return out, {"best_sentence": max(max(sims), keep[0][0].dense), "best_number_sentence": 0.0}


def compose(engine: Engine, question: str, filters: Filters, conv: Conversation, conversations: Conversations,
            cfg: AnswerSettings = AnswerSettings()) -> dict:
    """The whole answer as one decision: query run, evidence, sentences or abstention, with the signals."""
    q0 = understand(question, engine)
    q, f, follow_up = resolve(q0, filters, conv)
    conversations.add(conv, Turn(question=question, understood=q, filters=f))
    text = q.search_text()
    qvec = engine.encode_query(text)
    ev, applied = gather(engine, q, f, qvec, cfg.evidence)
    depth = 20 if q.intent == "initiatives" else max(cfg.passages, cfg.cards)
    cards_list = passage_cards(engine, [e.hit for e in ev[:depth]], text)
    cards = {e.vid: c for e, c in zip(ev, cards_list)}
    for e, c in zip(ev, cards_list):
        c["score"] = round(e.score, 6)
    if q.intent == "initiatives" and ev:
        items, sig = _initiative_answer(engine, q, qvec, ev[:depth], cards, cfg)
    elif ev:
        items, sig = _sentence_answer(engine, q, qvec, ev, cards, cfg)
    else:
        items, sig = [], {"best_sentence": 0.0, "best_number_sentence": 0.0}
    signals = {"best_passage": round(max((e.dense for e in ev[:10]), default=0.0), 4),
               "best_sentence": round(sig["best_sentence"], 4),
               "best_number_sentence": round(sig["best_number_sentence"], 4),
               "missing_names": missing_names(engine, [n for n in q.names if n not in
                                                       {e.text for e in q.entities}]),
               "figure": q.intent == "figure"}
    abstained, reason = (True, "no passage found") if not items else decide(signals, cfg.abstain)
    nearest = []
    if abstained and engine.tagger is not None:
        from indexer.actionlines import CODES

        s = engine.tagger.scores(qvec.reshape(1, -1))[0]
        nearest = [CODES[i] for i in np.argsort(-s)[:3]]
    return {
        "conversation_id": conv.id, "question": question, "abstained": abstained,
        "query_run": {"text": text, "filters": applied.as_dict(), "follow_up": follow_up, "intent": q.intent,
                      "role": q.role, "speakers": list(q.speakers), "places": list(q.places),
                      "action_lines": list(q.action_lines)},
        "evidence": signals["best_passage"], "signals": {**signals, "reason": reason},
        "passages": cards_list[:cfg.cards],
        "answer": [{"text": ABSTAIN_TEXT, "citations": [], "nearest_action_lines": nearest, "reason": reason}]
        if abstained else items,
        "answer_kind": "abstention" if abstained else ("initiatives" if q.intent == "initiatives" else "sentences"),
    }


def answer(engine: Engine, question: str, filters: Filters, conv: Conversation, conversations: Conversations,
           cfg: AnswerSettings = AnswerSettings(), generator=None):
    """Yields events in order: ("meta", ...), ("passages", cards), ("sentence", {...}) per answer sentence,
    ("related", [...]), ("done", summary)."""
    from .related import related

    out = compose(engine, question, filters, conv, conversations, cfg)
    meta = {k: out[k] for k in ("conversation_id", "question", "query_run", "evidence", "abstained", "signals",
                                "answer_kind")}
    yield "meta", meta
    yield "passages", out["passages"]
    sentences = out["answer"]
    answerer = "extractive"
    if generator is not None and not out["abstained"]:
        from .generate import GenerationError

        try:
            generated = generator.answer(out["query_run"]["text"], out["passages"])
        except GenerationError as exc:
            generated = []
            yield "notice", {"answerer": "extractive", "reason": f"generative answerer failed: {exc}"}
        if generated:
            sentences, answerer = [{**s, "generated": True} for s in generated], "generative"
    for s in sentences:
        yield "sentence", s
    yield "related", [] if out["abstained"] else related(engine, text=out["query_run"]["text"][:1000], k=3)["initiatives"]
    yield "done", {"abstained": out["abstained"], "sentences": len(sentences), "answerer": answerer}


def collect(events, out: dict | None = None) -> dict:
    """Fold answer events into the JSON answer: what `answer_json` returns and the chat API reuses."""
    out = out if out is not None else {"answer": [], "passages": [], "related_initiatives": [],
                                       "answerer": "extractive"}
    for event, data in events:
        if event == "meta":
            out.update(data)
        elif event == "notice":
            out["notice"] = data["reason"]
        elif event == "passages":
            out["passages"] = data
        elif event == "sentence":
            out["answer"].append(data)
        elif event == "related":
            out["related_initiatives"] = data
        elif event == "done":
            out["answerer"] = data["answerer"]
    return out


def answer_json(engine, question, filters, conv, conversations, cfg=AnswerSettings(), generator=None) -> dict:
    return collect(answer(engine, question, filters, conv, conversations, cfg, generator))
