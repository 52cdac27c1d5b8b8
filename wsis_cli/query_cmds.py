"""`wsis search`, `wsis ask`, `wsis tag`: querying an index from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .common import index_path, open_engine, settings


def cmd_search(args) -> int:
    from indexer.actionlines import normalise_filter
    from search_api.filters import Filters
    from search_api.present import passage_cards

    lines = []
    for v in args.action_line or []:
        code = normalise_filter(v)
        if not code:
            print(f"error: unknown action line {v!r}", file=sys.stderr)
            return 2
        lines.append(code)
    if not args.query.strip():
        print("error: empty query", file=sys.stderr)
        return 2
    engine = open_engine(args.index)
    f = Filters(action_lines=tuple(lines), kinds=tuple(args.kind or ()), roles=tuple(args.role or ()),
                year_from=args.year_from, year_to=args.year_to)
    res = engine.search(args.query, k=args.k, filters=f, mode=args.mode)
    cards = passage_cards(engine, res.hits, args.query)
    if args.json:
        print(json.dumps({"query": args.query, "total": res.total, "results": cards,
                          "timings_ms": {k: round(v * 1000, 2) for k, v in res.timings.items()}},
                         indent=2, ensure_ascii=False))
        return 0
    if not cards:
        print("no results")
    for n, c in enumerate(cards, start=1):
        where = f"page {c['page']}" if c.get("page") else (f"speaker {c['speaker']}" if c.get("speaker") else "")
        lines_ = ", ".join(t["line"] for t in c["action_lines"][:4])
        print(f"{n:2d}. [{c['score']:.4f}] {c['title']}")
        print(f"    {c['kind']} | {c['year'] or 'n.d.'} | {c['url'] or c['source']}"
              + (f" | {where}" if where else "") + (f" | {lines_}" if lines_ else "")
              + (f" | {c['role']}" if c['role'] != 'none' else ""))
        text = c["text"] if len(c["text"]) <= 600 else c["text"][:600] + "..."
        print("    " + text.replace("\n", "\n    "))
        print()
    return 0


def cmd_ask(args) -> int:
    from search_api.answer import AnswerSettings, Conversations, answer_json
    from search_api.errors import ApiError
    from search_api.service import clean_query, make_filters

    s = settings()
    try:
        q = clean_query(args.question)
        f = make_filters(args.action_line, args.kind, args.role, args.year_from, args.year_to)
    except ApiError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    engine = open_engine(args.index)
    convs = Conversations()
    out = answer_json(engine, q, f, convs.get_or_create(None), convs, AnswerSettings.from_settings(s))
    if args.json:
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    run = out["query_run"]
    if run.get("follow_up") or run["text"] != args.question:
        print(f"(searched: {run['text']}" + (f"; filters {run['filters']}" if run["filters"] else "") + ")")
    numbers: dict[str, int] = {}
    for sent in out["answer"]:
        refs = []
        for pid in sent["citations"]:
            numbers.setdefault(pid, len(numbers) + 1)
            refs.append(f"[{numbers[pid]}]")
        init = sent.get("initiative")
        lead = ""
        if init:
            bits = ", ".join(str(x) for x in (init["organisation"], init["country"], init["year"]) if x)
            lead = f"- {init['title']}" + (f" ({bits})" if bits else "") + ": "
        elif sent.get("source", {}).get("speaker"):
            lead = f"{sent['source']['speaker']}: "
        print(lead + sent["text"] + (" " + "".join(refs) if refs else ""))
    if out["abstained"] and out["answer"]:
        if out["answer"][0].get("reason"):
            print(f"({out['answer'][0]['reason']})")
        if out["answer"][0].get("nearest_action_lines"):
            print("Nearest action lines: " + ", ".join(out["answer"][0]["nearest_action_lines"]))
    if numbers:
        print()
        cards = {c["passage_id"]: c for c in out["passages"]}
        for pid, n in numbers.items():
            c = cards.get(pid, {})
            where = f", page {c['page']}" if c.get("page") else (f", {c['speaker']}" if c.get("speaker") else "")
            print(f"[{n}] {c.get('title', pid)} ({c.get('kind', '')}, {c.get('year') or 'n.d.'}{where}) {pid}")
    return 0


def load_tagger(index_arg, embedder):
    """The tagger fitted when the index was built, or the zero-shot tagger when there is no index."""
    import os

    from indexer.tag import Tagger

    saved = Path(os.path.realpath(index_path(index_arg))) / "tagger.npz"
    if saved.exists():
        return Tagger.load(saved), str(saved)
    return Tagger.from_embedder(embedder), "zero-shot (no index)"


def cmd_tag(args) -> int:
    from indexer.build import make_embedder
    from indexer.tag import TAGGER_VERSION

    s = settings()
    stream = open(args.file, encoding="utf-8") if args.file and args.file != "-" else sys.stdin
    records, errors = [], 0
    for n, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
                raise ValueError("expected an object with a string 'text'")
        except (json.JSONDecodeError, ValueError) as exc:
            print(f"error: line {n}: {exc}", file=sys.stderr)
            errors += 1
            continue
        records.append(rec)
    if not records:
        print("error: no input records", file=sys.stderr)
        return 2
    embedder = make_embedder(s)
    tagger, origin = load_tagger(args.index, embedder)
    vecs = embedder.encode([r["text"] for r in records])
    scores = tagger.scores(vecs, [r["text"] for r in records])
    for rec, row in zip(records, scores):
        declared = [c for c in (rec.get("declared") or []) if isinstance(c, str)]
        t = tagger.tag(rec["text"], rec.get("heading", ""), rec.get("kind", ""), declared, row)
        print(json.dumps({"id": rec.get("id"), "action_lines": t["action_lines"], "role": t["role"],
                          "sdgs": t["sdgs"]}, ensure_ascii=False))
    if args.verbose_source:
        print(f"tagger {TAGGER_VERSION}: {origin}", file=sys.stderr)
    return 1 if errors else 0
