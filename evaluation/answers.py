"""`wsis eval answers`: the question answerer on the questions of evaluation/data/answers.jsonl, written from
../shared/corpus_sources by a reader independent of the answerer: experts, facilitators, follow-ups (asked
after their `history` in the same conversation) and on-topic questions the documents do not cover.

Per split (dev: tuned on; test: held back) and type it prints: the share of covered questions answered with
one of the key phrases (verbatim, case-insensitive, in the answer text or the titles of the initiatives it
lists), the share citing a document that holds the answer, abstention precision and recall (an abstention is
right on an uncovered question), answer sentences that are questions, and latency."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np

from search_api.answer import AnswerSettings, Conversations, answer_json
from search_api.filters import Filters

DATA = Path(__file__).with_name("data")
QUESTIONS = DATA / "answers.jsonl"
OFFTOPIC = DATA / "offtopic_questions.txt"


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower().replace("’", "'")).strip()


def load(path: Path = QUESTIONS) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def answer_text(out: dict) -> str:
    parts = []
    for s in out["answer"]:
        parts.append(s["text"])
        if s.get("initiative"):
            parts.append(s["initiative"]["title"])
    return " ".join(parts)


def judge(item: dict, out: dict) -> dict:
    text = _norm(answer_text(out))
    cited = {c.split("::")[0] for s in out["answer"] for c in s.get("citations", [])}
    return {
        "abstained": bool(out["abstained"]),
        "key_phrase": (not out["abstained"]) and any(_norm(k) in text for k in item["key_phrases"]),
        "cites_answer_doc": (not out["abstained"]) and bool(cited & set(item["doc_ids"])),
        "question_sentences": sum(1 for s in out["answer"] if s["text"].rstrip().endswith("?")),
    }


def run(engine, cfg: AnswerSettings, items: list[dict] | None = None, offtopic: bool = True,
        wsis_eval: Path | None = None) -> dict:
    items = items if items is not None else load()
    convs = Conversations()
    rows = []
    for item in items:
        conv = convs.get_or_create(None)
        for h in item.get("history", []):
            answer_json(engine, h, Filters(), conv, convs, cfg)
        t = time.perf_counter()
        out = answer_json(engine, item["question"], Filters(), conv, convs, cfg)
        ms = (time.perf_counter() - t) * 1000
        rows.append({"id": item["id"], "type": item["type"], "split": item["split"], "ms": round(ms, 1),
                     "query_run": out["query_run"]["text"], "signals": out.get("signals", {}),
                     "answer": [s["text"] for s in out["answer"]], **judge(item, out)})
    report = {"per_question": rows, "splits": {}}
    for split in sorted({r["split"] for r in rows}):
        report["splits"][split] = summarise([r for r in rows if r["split"] == split])
    report["all"] = summarise(rows)
    if offtopic and OFFTOPIC.exists():
        qs = [q.strip() for q in OFFTOPIC.read_text().splitlines() if q.strip()]
        abst = [answer_json(engine, q, Filters(), convs.get_or_create(None), convs, cfg)["abstained"] for q in qs]
        report["offtopic_abstained"] = round(float(np.mean(abst)), 3) if abst else None
    if wsis_eval is not None and (wsis_eval / "queries.jsonl").exists():
        report["wsis_queries"] = wsis_queries(engine, cfg, wsis_eval, convs)
    return report


def wsis_queries(engine, cfg: AnswerSettings, eval_dir: Path, convs: Conversations) -> dict:
    """The WSIS retrieval queries (all on topic, with judged documents) asked as questions: how many are
    answered rather than abstained, and how many answers cite a judged-relevant document."""
    from .retrieval import wsis_dataset

    ds = wsis_dataset(eval_dir)
    answered = cited = 0
    for qid, q in ds.queries.items():
        out = answer_json(engine, q, Filters(), convs.get_or_create(None), convs, cfg)
        if out["abstained"]:
            continue
        answered += 1
        docs = {c.split("::")[0] for s in out["answer"] for c in s["citations"]}
        cited += bool(docs & {d for d, g in ds.qrels[qid].items() if g > 0})
    return {"n": len(ds.queries), "answered": answered, "citing_relevant": cited}


def summarise(rows: list[dict]) -> dict:
    out: dict = {"by_type": {}}
    for typ in ("expert", "facilitator", "followup", "uncovered"):
        rs = [r for r in rows if r["type"] == typ]
        if not rs:
            continue
        if typ == "uncovered":
            out["by_type"][typ] = {"n": len(rs), "abstained": round(np.mean([r["abstained"] for r in rs]), 3)}
        else:
            out["by_type"][typ] = {"n": len(rs), "key_phrase": round(np.mean([r["key_phrase"] for r in rs]), 3),
                                   "cites_answer_doc": round(np.mean([r["cites_answer_doc"] for r in rs]), 3),
                                   "abstained": round(np.mean([r["abstained"] for r in rs]), 3)}
    covered = [r for r in rows if r["type"] != "uncovered"]
    uncovered = [r for r in rows if r["type"] == "uncovered"]
    abstained = [r for r in rows if r["abstained"]]
    out["covered_key_phrase"] = round(np.mean([r["key_phrase"] for r in covered]), 3) if covered else None
    out["uncovered_abstained"] = round(np.mean([r["abstained"] for r in uncovered]), 3) if uncovered else None
    out["abstention_precision"] = round(sum(r["type"] == "uncovered" for r in abstained) / len(abstained), 3) \
        if abstained else None
    out["abstention_recall"] = out["uncovered_abstained"]
    out["question_sentences"] = int(sum(r["question_sentences"] for r in rows))
    ms = [r["ms"] for r in rows]
    out["latency_ms"] = {"p50": round(float(np.percentile(ms, 50)), 1), "p95": round(float(np.percentile(ms, 95)), 1)}
    out["n"] = len(rows)
    return out


def print_report(r: dict, show: int = 0) -> None:
    for split, s in list(r["splits"].items()) + [("all", r["all"])]:
        print(f"== {split} ({s['n']} questions)")
        for typ, t in s["by_type"].items():
            if typ == "uncovered":
                print(f"  {typ:12s} n={t['n']:3d}  abstained {t['abstained']:.3f}")
            else:
                print(f"  {typ:12s} n={t['n']:3d}  answered with a key phrase {t['key_phrase']:.3f}  "
                      f"cites an answer document {t['cites_answer_doc']:.3f}  abstained {t['abstained']:.3f}")
        print(f"  covered questions answered with a key phrase: {s['covered_key_phrase']}")
        print(f"  abstention: recall {s['abstention_recall']}, precision {s['abstention_precision']}")
        print(f"  answer sentences that are questions: {s['question_sentences']}")
        print(f"  latency per question: p50 {s['latency_ms']['p50']} ms, p95 {s['latency_ms']['p95']} ms")
    if r.get("wsis_queries"):
        w = r["wsis_queries"]
        print(f"WSIS retrieval queries asked as questions: {w['answered']}/{w['n']} answered, "
              f"{w['citing_relevant']} citing a judged-relevant document")
    if r.get("offtopic_abstained") is not None:
        print(f"off-topic questions (evaluation/data/offtopic_questions.txt) abstained: {r['offtopic_abstained']}")
    if show:
        for row in r["per_question"][:show]:
            ok = "ABST" if row["abstained"] else ("OK  " if row["key_phrase"] else "MISS")
            print(f"{row['id']} {row['type'][:6]} {ok} run={row['query_run']!r} {row['signals']}")
            for a in row["answer"][:5]:
                print("     - " + a[:160].replace("\n", " / "))
