"""`wsis eval tagging|retrieval|answers|related` and `wsis bench`: the evaluation package's runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .common import SHARED, set_threads, settings


def _write_json(path, obj) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj, indent=2))


def _wsis_engine(args, s, embedder):
    from evaluation.wsis_index import wsis_engine

    return wsis_engine(s, Path(args.corpus), Path(args.wsis_index), embedder, backend=args.backend or "faiss",
                       work_milvus=Path(args.work_milvus))


def cmd_eval(args) -> int:
    from indexer.build import make_embedder

    s = settings()
    set_threads(s.threads)
    if args.what == "tagging":
        from evaluation import tagging

        corpus = Path(args.corpus)
        if not (corpus / tagging.LABELLED).exists():
            print(f"error: {corpus / tagging.LABELLED} not found", file=sys.stderr)
            return 2
        r = tagging.run(corpus, make_embedder(s), folds=args.folds, seed=args.seed, show_errors=args.show_errors,
                        with_learning_curve=args.learning_curve)
        tagging.print_report(r)
        if args.json:
            tagging.save(r, Path(args.json))
        return 0
    if args.what == "retrieval":
        return eval_retrieval(args, s)
    if args.what == "answers":
        from evaluation import answers

        embedder = make_embedder(s)
        engine = _wsis_engine(args, s, embedder)
        if engine is None:
            return 2
        from search_api.answer import AnswerSettings

        items = answers.load(Path(args.questions)) if args.questions else answers.load()
        if args.split:
            items = [q for q in items if q["split"] == args.split]
        r = answers.run(engine, AnswerSettings.from_settings(s), items, wsis_eval=Path(args.wsis_eval))
        answers.print_report(r, show=args.show_errors)
        if args.json:
            _write_json(args.json, r)
        return 0
    if args.what == "related":
        return eval_related(args, s)
    print(f"error: unknown evaluation {args.what!r}", file=sys.stderr)
    return 2


def eval_related(args, s) -> int:
    """Precision@5 of /related on the judged seeds, per split, now and with the first method."""
    from evaluation import related as ev
    from indexer.build import make_embedder

    engine = _wsis_engine(args, s, make_embedder(s))
    if engine is None:
        return 2
    rows = ev.load_set(Path(args.related_set) if args.related_set else ev.DEFAULT_SET)
    results = [ev.run(engine, rows, "problem"), ev.run(engine, rows, "legacy")]
    ev.print_report(results)
    if args.unjudged:
        lines = ev.unjudged_rows(results[0])
        Path(args.unjudged).write_text("seed\tcandidate\n" + "".join(f"{a}\t{b}\n" for a, b in lines))
        print(f"written {len(lines)} unjudged items to {args.unjudged}")
    if args.json:
        _write_json(args.json, results)
    return 0


def eval_retrieval(args, s) -> int:
    from evaluation import retrieval as ev
    from indexer.build import make_embedder
    from search_api.fusion import Fusion

    fusion = Fusion(args.fusion or s.fusion, s.fusion_weight if args.weight is None else args.weight)
    embedder = make_embedder(s)
    names = [d.strip() for d in args.datasets.split(",") if d.strip()]
    beir = None
    if args.beir_corpus:
        if not (args.queries and args.qrels):
            print("error: --corpus-file needs --queries and --qrels", file=sys.stderr)
            return 2
        beir = {"name": args.name, "corpus": args.beir_corpus, "queries": args.queries, "qrels": args.qrels}
        names = [args.name]
    results, per_query = ev.evaluate(s, embedder, names, fusion=fusion, external=Path(args.external),
                                     wsis_eval=Path(args.wsis_eval), wsis_engine=lambda: _wsis_engine(args, s, embedder),
                                     gain=args.gain, backend=args.backend or "faiss", work_milvus=args.work_milvus,
                                     beir=beir)
    print()
    for line in ev.format_results(results):
        print(line)
    print(f"(hybrid fusion: {fusion.method}, dense weight {fusion.weight})\n")
    # a data set that was asked for and not evaluated (absent, not built) is a failure, not a silent skip
    lines = [f"[FAIL] {name}: no figures (its data was not found or could not be loaded)"
             for name in names if name not in results] + ev.compare(results)
    for line in lines:
        print(line)
    if args.json:
        _write_json(args.json, results)
        pq_path = Path(args.per_query or str(Path(args.json).with_suffix("")) + ".per_query.json")
        pq_path.write_text(json.dumps(per_query))
        print(f"written {args.json} and {pq_path}")
    return 1 if any(line.startswith("[FAIL]") for line in lines) and args.strict else 0


def cmd_bench(args) -> int:
    from evaluation import bench
    from indexer.build import make_embedder

    s = settings()
    set_threads(s.threads)
    scales = ["bundled"] if args.quick else [x.strip() for x in args.scales.split(",") if x.strip()]
    result = bench.run(s, make_embedder(s), shared=SHARED, scales=scales, queries=20 if args.quick else args.queries,
                       requests=20 if args.quick else args.requests, build=args.build, http=not args.no_http,
                       work=Path(args.work), workers=tuple(int(w) for w in args.workers.split(",") if w.strip()))
    if args.json:
        _write_json(args.json, result)
        print(f"written {args.json}")
    return 0
