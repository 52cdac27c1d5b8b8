"""`wsis eval answers`: how the question answerer behaves on the WSIS eval questions (answered, and
citing a judged-relevant document) and on off-topic questions (abstained), with a threshold sweep for
calibrating the abstention threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from search_api.answer import AnswerSettings, Conversations, answer_json
from search_api.filters import Filters
from .retrieval import wsis_dataset

OFFTOPIC = Path(__file__).with_name("data") / "offtopic_questions.txt"


def evidence(engine, question: str) -> float:
    qvec = engine.embedder.encode_query(question)
    res = engine.search(question, k=6, qvec=qvec)
    return max((float(np.asarray(engine.embeddings[h.vid]) @ qvec) for h in res.hits), default=0.0)


def run(engine, eval_dir: Path, threshold: float) -> dict:
    ds = wsis_dataset(eval_dir)
    off = [q.strip() for q in OFFTOPIC.read_text().splitlines() if q.strip()]
    on_ev = {qid: evidence(engine, q) for qid, q in ds.queries.items()}
    off_ev = [evidence(engine, q) for q in off]
    sweep = []
    for t in np.arange(0.25, 0.56, 0.025):
        sweep.append({"threshold": round(float(t), 3),
                      "on_topic_answered": round(float(np.mean([e >= t for e in on_ev.values()])), 3),
                      "off_topic_abstained": round(float(np.mean([e < t for e in off_ev])), 3)})
    convs = Conversations()
    cfg = AnswerSettings(abstain_below=threshold)
    answered = cited_relevant = 0
    by_type: dict[str, list[int]] = {}
    types = {}
    import json
    for line in (eval_dir / "queries.jsonl").read_text().splitlines():
        if line.strip():
            q = json.loads(line)
            types[q["_id"]] = q.get("type", "")
    for qid, q in ds.queries.items():
        out = answer_json(engine, q, Filters(), convs.get_or_create(None), convs, cfg)
        if out["abstained"]:
            by_type.setdefault(types.get(qid, ""), []).append(0)
            continue
        answered += 1
        cards = {c["passage_id"]: c for c in out["passages"]}
        cited_docs = {cards[p]["document_id"] for s in out["answer"] for p in s["citations"] if p in cards}
        rel = {d for d, g in ds.qrels[qid].items() if g > 0}
        hit = bool(cited_docs & rel)
        cited_relevant += hit
        by_type.setdefault(types.get(qid, ""), []).append(int(hit))
    off_abstained = 0
    for q in off:
        out = answer_json(engine, q, Filters(), convs.get_or_create(None), convs, cfg)
        off_abstained += out["abstained"]
    return {
        "threshold": threshold, "wsis_questions": len(ds.queries), "answered": answered,
        "answered_share": round(answered / len(ds.queries), 3),
        "answered_citing_relevant": cited_relevant,
        "answered_citing_relevant_share": round(cited_relevant / answered, 3) if answered else 0.0,
        "by_type_citing_relevant": {t: round(float(np.mean(v)), 3) for t, v in by_type.items()},
        "offtopic_questions": len(off), "offtopic_abstained": off_abstained,
        "offtopic_abstention_rate": round(off_abstained / len(off), 3),
        "evidence": {"on_topic_min": round(min(on_ev.values()), 3), "on_topic_median": round(float(np.median(list(on_ev.values()))), 3),
                     "off_topic_max": round(max(off_ev), 3), "off_topic_median": round(float(np.median(off_ev)), 3)},
        "sweep": sweep,
    }


def print_report(r: dict) -> None:
    print(f"threshold {r['threshold']}: answered {r['answered']}/{r['wsis_questions']} WSIS questions "
          f"({r['answered_share']:.1%}); of those, {r['answered_citing_relevant']} cite a judged-relevant document "
          f"({r['answered_citing_relevant_share']:.1%}); by type {r['by_type_citing_relevant']}")
    print(f"off-topic: {r['offtopic_abstained']}/{r['offtopic_questions']} abstained "
          f"({r['offtopic_abstention_rate']:.1%})")
    e = r["evidence"]
    print(f"evidence (best passage cosine): on-topic min {e['on_topic_min']}, median {e['on_topic_median']}; "
          f"off-topic median {e['off_topic_median']}, max {e['off_topic_max']}")
    print("threshold sweep (on-topic answered / off-topic abstained):")
    for s in r["sweep"]:
        print(f"  {s['threshold']:.3f}  {s['on_topic_answered']:.3f}  {s['off_topic_abstained']:.3f}")
