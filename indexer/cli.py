"""The `wsis` command: one subcommand per stage. Heavy imports happen inside each subcommand so that
`wsis --help` is instant."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from . import __version__


def _settings():
    from .settings import get_settings

    return get_settings()


def _embedder(s):
    from .embed import Embedder

    return Embedder(s.model_dir, dtype=s.embed_dtype, batch_size=s.embed_batch_size, threads=s.threads,
                    max_seq_length=s.max_seq_length)


def _set_threads(n: int) -> None:
    try:
        import faiss

        faiss.omp_set_num_threads(n)
    except ImportError:
        pass


def cmd_build(args) -> int:
    import os

    from .build import build_index
    from .chunk import ChunkSettings

    s = _settings()
    sources = [Path(p) for p in args.source] if args.source else list(s.sources)
    index = Path(args.index) if args.index else s.index_dir
    for src in sources:
        if not src.is_dir():
            print(f"error: source folder {src} does not exist", file=sys.stderr)
            return 2
    _set_threads(s.threads)
    embedder = _embedder(s)
    chunk = ChunkSettings(s.chunk_target_words, s.chunk_min_words, s.chunk_max_words)
    cache = None
    if not args.no_cache:
        from .embed import EmbeddingCache

        cache = EmbeddingCache(s.cache_dir / "embeddings.sqlite",
                               f"{s.model_name}|{embedder.dtype}|{s.max_seq_length}")
    try:
        report = build_index(sources, index, embedder=embedder, chunk=chunk, max_file_bytes=s.max_file_bytes,
                             keep_builds=s.keep_builds, progress=not args.quiet, model_name=s.model_name,
                             cache=cache, hnsw_threshold=s.hnsw_threshold, backend=args.backend or s.backend,
                             milvus_uri=s.milvus_uri, milvus_token=s.milvus_token,
                             embed_workers=s.embed_workers or (os.cpu_count() or 1), milvus_bm25=s.milvus_bm25,
                             near_duplicate_jaccard=s.near_duplicate_jaccard, query_encoder=s.query_encoder)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    r = report.as_dict()
    print(f"\nIndex {r['index']} ({r['build_id']})")
    print(f"  files read: {r['files_read']}")
    for kind, n in r["documents"].items():
        print(f"  {kind:20s} {n:6d} documents")
    print(f"  {'total':20s} {r['documents_total']:6d} documents, {r['passages']} passages")
    print(f"  seconds: {r['seconds']} ({', '.join(f'{k} {v}' for k, v in r['stage_seconds'].items())}); "
          f"{r['passages_per_second']} passages/s")
    print(f"  embedded: {r['embedded']} passages, reused (cache or identical text): {r['reused_embeddings']}, "
          f"near-duplicates sharing a twin's vector: {r['near_duplicates']}; "
          f"files parsed: {r['files_read'] - r['files_reused']}, reused unchanged: {r['files_reused']}")
    print(f"  failures: {len(r['failures'])}")
    for f in r["failures"]:
        print(f"    {f['source']}: {f['reason']}")
    if r["skipped"]:
        print(f"  skipped (not documents): {len(r['skipped'])}")
        for f in r["skipped"][:20]:
            print(f"    {f['source']}: {f['reason']}")
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps(r, indent=2, ensure_ascii=False))
        print(f"  report written to {args.report}")
    return 0


def _open_engine(index_arg):

    from .index import IndexError_, load_index

    s = _settings()
    _set_threads(s.threads)
    index_path = Path(index_arg) if index_arg else s.index_dir
    try:
        loaded = load_index(index_path, expected_model=s.model_name)
    except IndexError_ as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2)
    from search_api.app import engine_for

    return engine_for(loaded, _embedder(s), s)


def cmd_search(args) -> int:
    from search_api.engine import Filters
    from search_api.present import passage_cards

    from .actionlines import normalise_filter

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
    engine = _open_engine(args.index)
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

    s = _settings()
    try:
        q = clean_query(args.question)
        f = make_filters(args.action_line, args.kind, args.role, args.year_from, args.year_to)
    except ApiError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    engine = _open_engine(args.index)
    convs = Conversations()
    out = answer_json(engine, q, f, convs.get_or_create(None), convs, AnswerSettings(abstain_below=s.ask_abstain_below))
    if args.json:
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    numbers: dict[str, int] = {}
    for sent in out["answer"]:
        refs = []
        for pid in sent["citations"]:
            numbers.setdefault(pid, len(numbers) + 1)
            refs.append(f"[{numbers[pid]}]")
        print(sent["text"] + (" " + "".join(refs) if refs else ""))
    if out["abstained"] and out["answer"] and out["answer"][0].get("nearest_action_lines"):
        print("Nearest action lines: " + ", ".join(out["answer"][0]["nearest_action_lines"]))
    if numbers:
        print()
        cards = {c["passage_id"]: c for c in out["passages"]}
        for pid, n in numbers.items():
            c = cards.get(pid, {})
            where = f", page {c['page']}" if c.get("page") else (f", {c['speaker']}" if c.get("speaker") else "")
            print(f"[{n}] {c.get('title', pid)} ({c.get('kind', '')}, {c.get('year') or 'n.d.'}{where}) {pid}")
    return 0


def cmd_crawl(args) -> int:
    from .crawl import Crawler, SourceConfig, load_sources

    s = _settings()
    sources = []
    if args.url:
        if not args.allow_host:
            print("error: --url needs at least one --allow-host", file=sys.stderr)
            return 2
        sources.append(SourceConfig(name=args.name, kind=args.kind, seeds=args.url, allow_hosts=args.allow_host,
                                    allow_paths=args.allow_path or ["/"], max_depth=args.max_depth,
                                    max_pages=args.max_pages or 500, rate_limit_seconds=args.rate_limit))
    known = load_sources(s.sources_file)
    for name in args.sources:
        if name not in known:
            print(f"error: unknown source {name!r}; known: {', '.join(known)}", file=sys.stderr)
            return 2
        sources.append(known[name])
    if not sources:
        sources = list(known.values())
    out = Path(args.out) if args.out else s.crawl_out
    crawler = Crawler(sources, out, allow_loopback=s.crawl_allow_loopback, max_pages=args.max_pages)
    report = crawler.run().as_dict()
    c = report["counts"]
    print(f"crawl into {out}: fetched {c['fetched']}, not modified {c['not_modified']}, robots disallowed "
          f"{c['robots_disallowed']}, out of scope {c['out_of_scope']}, errors {c['errors']}, documents "
          f"{c['documents']} ({report['seconds']} s)")
    for e in report["errors"][:30]:
        print(f"  error {e['url']}: {e['reason']}")
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps(report, indent=2))
    return 0


def cmd_bench(args) -> int:
    import time as _time

    from search_api import bench

    s = _settings()
    _set_threads(s.threads)
    embedder = _embedder(s)
    shared = Path(__file__).resolve().parents[2] / "shared"
    n = 20 if args.quick else args.queries
    reqs = 20 if args.quick else args.requests
    scales = ["bundled"] if args.quick else [x.strip() for x in args.scales.split(",") if x.strip()]
    queries = bench.queries_from(shared / "eval" / "wsis", n)
    result: dict = {"env": bench.env_info(embedder.dtype, s.threads), "started": _time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "queries": n, "http_requests": reqs, "scales": {}}
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    corpus = {"bundled": Path(s.sources[0]), "shared": shared / "corpus_sources"}
    for scale in scales:
        print(f"== {scale}", flush=True)
        r: dict = {}
        if scale in corpus:
            if not corpus[scale].is_dir():
                print(f"skip {scale}: {corpus[scale]} absent")
                continue
            if args.build or scale == "bundled":
                r["build"] = bench.bench_build(corpus[scale], embedder, s)
            index = work / f"{scale}-index"
            from .build import build_index
            from .chunk import ChunkSettings
            from .embed import EmbeddingCache

            cache = EmbeddingCache(s.cache_dir / "embeddings.sqlite", f"{s.model_name}|{embedder.dtype}|{s.max_seq_length}")
            build_index([corpus[scale]], index, embedder=embedder, chunk=ChunkSettings(s.chunk_target_words,
                        s.chunk_min_words, s.chunk_max_words), max_file_bytes=s.max_file_bytes, progress=False,
                        model_name=s.model_name, cache=cache, hnsw_threshold=s.hnsw_threshold,
                        near_duplicate_jaccard=s.near_duplicate_jaccard, query_encoder=s.query_encoder)
        else:
            size = {"100k": 100_000, "1m": 1_000_000}.get(scale.lower())
            if size is None:
                print(f"skip unknown scale {scale}")
                continue
            base = work / "shared-index" if (work / "shared-index").exists() else work / "bundled-index"
            if not base.exists():
                print(f"skip {scale}: build a real index first (scales bundled or shared)")
                continue
            index = work / f"synthetic-{scale}"
            t = _time.perf_counter()
            bench.synthetic_index(base, size, index, hnsw_threshold=s.hnsw_threshold)
            r["synthetic_build_seconds"] = round(_time.perf_counter() - t, 1)
        r["components"] = bench.bench_components(index, queries, embedder)
        if not args.no_http:
            r["http"] = bench.bench_http(index, queries, reqs)
        result["scales"][scale] = r
        print(bench.format_scale(scale, r), flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
        print(f"written {args.json}")
    return 0


def cmd_stats(args) -> int:
    from .index import IndexError_, read_manifest

    s = _settings()
    index_path = Path(args.index) if args.index else s.index_dir
    try:
        m = read_manifest(index_path)
    except IndexError_ as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(m, indent=2))
        return 0
    print(f"index      {index_path} -> {m['path']}")
    print(f"built      {m['built_at']} by wsis-search {m['package_version']} (format {m['format_version']})")
    print(f"model      {m['model']['name']} ({m['model']['dim']}-d, {m['model']['dtype']})")
    print(f"chunker    {m['chunker']}")
    print(f"tagger     {m['tagger']}")
    print(f"vectors    {m['vector_index']['type']}")
    print(f"corpus     {m['corpus_hash'][:16]}  sources: {', '.join(m['sources'])}")
    c = m["counts"]
    print(f"documents  {c['documents']}  " + ", ".join(f"{k} {v}" for k, v in c["by_kind"].items()))
    print(f"passages   {c['passages']}")
    print(f"failures   {c['failures']}")
    return 0


def load_tagger(index_arg, embedder):
    """The tagger fitted when the index was built, or the zero-shot tagger when there is no index."""
    import os

    from .tag import Tagger

    s = _settings()
    index_path = Path(index_arg) if index_arg else s.index_dir
    saved = Path(os.path.realpath(index_path)) / "tagger.npz"
    if saved.exists():
        return Tagger.load(saved), str(saved)
    return Tagger.from_embedder(embedder), "zero-shot (no index)"


def cmd_tag(args) -> int:
    from .tag import TAGGER_VERSION

    s = _settings()
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
    embedder = _embedder(s)
    tagger, origin = load_tagger(args.index, embedder)
    vecs = embedder.encode([r["text"] for r in records])
    scores = tagger.scores(vecs)
    for rec, row in zip(records, scores):
        declared = [c for c in (rec.get("declared") or []) if isinstance(c, str)]
        t = tagger.tag(rec["text"], rec.get("heading", ""), rec.get("kind", ""), declared, row)
        print(json.dumps({"id": rec.get("id"), "action_lines": t["action_lines"], "role": t["role"],
                          "sdgs": t["sdgs"]}, ensure_ascii=False))
    if args.verbose_source:
        print(f"tagger {TAGGER_VERSION}: {origin}", file=sys.stderr)
    return 1 if errors else 0


def cmd_eval(args) -> int:
    s = _settings()
    if args.what == "tagging":
        from . import eval_tagging

        corpus = Path(args.corpus)
        if not (corpus / eval_tagging.LABELLED).exists():
            print(f"error: {corpus / eval_tagging.LABELLED} not found", file=sys.stderr)
            return 2
        r = eval_tagging.run(corpus, _embedder(s), folds=args.folds, seed=args.seed, show_errors=args.show_errors,
                             with_learning_curve=args.learning_curve)
        eval_tagging.print_report(r)
        if args.json:
            eval_tagging.save(r, Path(args.json))
        return 0
    if args.what == "retrieval":
        return eval_retrieval(args, s)
    if args.what == "answers":
        from search_api import eval_answers

        embedder = _embedder(s)
        engine = _wsis_engine(args, s, embedder)
        if engine is None:
            return 2
        r = eval_answers.run(engine, Path(args.wsis_eval), s.ask_abstain_below)
        eval_answers.print_report(r)
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(r, indent=2))
        return 0
    print(f"error: unknown evaluation {args.what!r}", file=sys.stderr)
    return 2


def eval_retrieval(args, s) -> int:
    from search_api import evaluation as ev

    fusion = {"method": args.fusion or s.fusion, "weight": s.fusion_weight if args.weight is None else args.weight}
    embedder = _embedder(s)
    _set_threads(s.threads)
    cache = s.cache_dir / "eval"
    results: dict = {}
    per_query: dict = {}
    todo = [d.strip() for d in args.datasets.split(",") if d.strip()]
    if args.beir_corpus:
        if not (args.queries and args.qrels):
            print("error: --corpus-file needs --queries and --qrels", file=sys.stderr)
            return 2
        todo = [args.name]
    external = Path(args.external)
    for name in todo:
        t = __import__("time").perf_counter()
        if args.beir_corpus:
            ds = ev.load_beir(Path(args.beir_corpus).parent, name=name, corpus=Path(args.beir_corpus),
                              queries=Path(args.queries), qrels=Path(args.qrels), gain=args.gain)
            runs = ev.run_collection(ds, embedder, cache, fusion=fusion)
            recall_k = 100
        elif name == "wsis":
            ds = ev.wsis_dataset(Path(args.wsis_eval))
            engine = _wsis_engine(args, s, embedder)
            if engine is None:
                return 2
            runs = ev.run_wsis(ds, engine, fusion=fusion)
            recall_k = 10
        else:
            folder = external / name
            if not (folder / "corpus.jsonl").exists():
                print(f"skip {name}: {folder} not found", file=sys.stderr)
                continue
            ds = ev.load_beir(folder, gain=args.gain)
            if (args.backend or "faiss") == "milvus":
                runs = ev.run_collection_milvus(ds, embedder, cache, str(Path(args.work_milvus)), fusion=fusion,
                                                bm25=s.milvus_bm25)
            else:
                runs = ev.run_collection(ds, embedder, cache, fusion=fusion)
            recall_k = 100
        results[name] = {}
        per_query[name] = {}
        for system, run in runs.items():
            agg, pq = ev.score_run(run, ds, recall_k=recall_k)
            results[name][system] = agg
            per_query[name][system] = pq
        print(f"{name}: {len(ds.queries)} queries, {__import__('time').perf_counter() - t:.0f} s")
    print(f"\n{'dataset':10s} {'system':7s} {'nDCG@10':>8s} {'R@100':>7s} {'R@10':>7s} {'MRR@10':>7s}")
    for name, systems in results.items():
        for system, m in systems.items():
            r10 = m.get("recall@10")
            print(f"{name:10s} {system:7s} {m['ndcg@10']:8.4f} {m.get('recall@100', float('nan')):7.4f} "
                  f"{r10 if r10 is not None else float('nan'):7.4f} {m['mrr@10']:7.4f}")
    print(f"(hybrid fusion: {fusion})\n")
    lines = ev.compare(results)
    for line in lines:
        print(line)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2))
        pq_path = Path(args.per_query or str(Path(args.json).with_suffix("")) + ".per_query.json")
        pq_path.write_text(json.dumps(per_query))
        print(f"written {args.json} and {pq_path}")
    return 1 if any(line.startswith("[FAIL]") for line in lines) and args.strict else 0


def _wsis_engine(args, s, embedder):
    """The engine over an index of ../shared/corpus_sources, built (with the embedding cache) if absent."""

    from .build import build_index
    from .chunk import ChunkSettings
    from .embed import EmbeddingCache
    from .index import IndexError_, load_index

    backend = getattr(args, "backend", None) or "faiss"
    index = Path(args.wsis_index) if backend == "faiss" else Path(str(args.wsis_index) + "-milvus")
    corpus = Path(args.corpus)
    try:
        loaded = load_index(index, expected_model=s.model_name)
        if [str(corpus.resolve())] != [str(Path(x).resolve()) for x in loaded.manifest["sources"]]:
            raise IndexError_("index is not over the real corpus")
    except IndexError_:
        if not corpus.is_dir():
            print(f"error: {corpus} not found (needed for the WSIS set)", file=sys.stderr)
            return None
        print(f"building the WSIS evaluation index at {index} ...", file=sys.stderr)
        cache = EmbeddingCache(s.cache_dir / "embeddings.sqlite", f"{s.model_name}|{embedder.dtype}|{s.max_seq_length}")
        build_index([corpus], index, embedder=embedder, chunk=ChunkSettings(s.chunk_target_words, s.chunk_min_words,
                    s.chunk_max_words), max_file_bytes=s.max_file_bytes, model_name=s.model_name, cache=cache,
                    backend=backend, milvus_uri=str(Path(args.work_milvus)), milvus_bm25=s.milvus_bm25,
                    near_duplicate_jaccard=s.near_duplicate_jaccard, query_encoder=s.query_encoder)
        loaded = load_index(index, expected_model=s.model_name)
    from search_api.app import engine_for

    return engine_for(loaded, embedder, s)


def cmd_serve(args) -> int:
    import os

    import uvicorn

    from .index import IndexError_, read_manifest

    if args.index:
        os.environ["WSIS_INDEX_DIR"] = str(Path(args.index).absolute())
        from .settings import get_settings

        get_settings.cache_clear()
    s = _settings()
    try:
        m = read_manifest(s.index_dir)
    except IndexError_ as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    built = (m.get("backend") or {}).get("backend", "faiss")
    if args.backend and args.backend != built:
        print(f"error: the index was built for the {built} backend, not {args.backend} "
              f"(rebuild with wsis build --backend {args.backend})", file=sys.stderr)
        return 2
    print(f"serving index {m['build_id']} ({m['counts']['passages']} passages, {built} backend) on "
          f"http://{args.host}:{args.port}/", flush=True)
    from search_api.app import create_app

    uvicorn.run(create_app(s), host=args.host, port=args.port, log_level="warning" if not args.verbose else "info",
                access_log=args.verbose)
    return 0


def _add_filter_args(p: argparse.ArgumentParser) -> None:
    """The filters `wsis search` and `wsis ask` share."""
    p.add_argument("--action-line", action="append", metavar="CODE", help="filter, e.g. C5 or C7.e-health")
    p.add_argument("--kind", action="append", help="filter by document kind")
    p.add_argument("--role", action="append", help="filter by role")
    p.add_argument("--year-from", type=int, help="filter: from this year")
    p.add_argument("--year-to", type=int, help="filter: up to this year")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wsis", description="WSIS knowledge search: build, inspect and query the index.")
    p.add_argument("--version", action="version", version=f"wsis-search {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    b = sub.add_parser("build", help="parse, chunk, tag and embed the sources into a new index",
                       description="Build a new index from source folders and swap it in atomically.")
    b.add_argument("--source", action="append", metavar="DIR",
                   help="source folder (repeatable; default: corpus/sample or WSIS_SOURCES)")
    b.add_argument("--index", metavar="DIR", help="index path (default: var/index or WSIS_INDEX_DIR)")
    b.add_argument("--report", metavar="FILE", help="also write the build report as JSON")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.add_argument("--no-cache", action="store_true", help="embed every passage, ignoring the embedding cache")
    b.add_argument("--backend", choices=("faiss", "milvus"), help="passage index backend (default WSIS_BACKEND or faiss)")
    b.set_defaults(func=cmd_build)

    s = sub.add_parser("search", help="print the best passages for a query",
                       description="Hybrid (dense + BM25) search over the index.")
    s.add_argument("query")
    s.add_argument("--index", metavar="DIR", help="index path (default: var/index or WSIS_INDEX_DIR)")
    s.add_argument("--k", type=int, default=10, help="number of passages (default 10)")
    s.add_argument("--mode", choices=("hybrid", "dense", "bm25"), default="hybrid", help="retrieval mode")
    _add_filter_args(s)
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=cmd_search)

    a = sub.add_parser("ask", help="answer a question from the index, with numbered citations",
                       description="Extractive answer: sentences from the best passages, each cited.")
    a.add_argument("question")
    a.add_argument("--index", metavar="DIR", help="index path (default: var/index or WSIS_INDEX_DIR)")
    _add_filter_args(a)
    a.add_argument("--json", action="store_true", help="print the answer as JSON")
    a.set_defaults(func=cmd_ask)

    t = sub.add_parser("tag", help="tag JSON lines {id, text} with action lines, role and SDGs",
                       description="Read JSON lines {\"id\":..., \"text\":...} (optional \"heading\", \"kind\", "
                                   "\"declared\") from FILE or stdin and write one line of tags per record.")
    t.add_argument("file", nargs="?", default="-", help="input file (default: stdin)")
    t.add_argument("--index", metavar="DIR", help="use the tagger fitted with this index (default: var/index)")
    t.add_argument("--verbose-source", action="store_true", help="say on stderr which tagger was used")
    t.set_defaults(func=cmd_tag)

    ev = sub.add_parser("eval", help="evaluations (tagging)", description="Run an evaluation and print its figures.")
    shared = Path(__file__).resolve().parents[2] / "shared"
    ev.add_argument("what", choices=("tagging", "retrieval", "answers"), help="what to evaluate")
    ev.add_argument("--corpus", default=str(shared / "corpus_sources"),
                    help="the real corpus folder (default: ../shared/corpus_sources)")
    ev.add_argument("--datasets", default="scifact,cisi,cranfield,wsis",
                    help="retrieval: comma-separated sets (default scifact,cisi,cranfield,wsis)")
    ev.add_argument("--external", default=str(shared / "eval" / "external"),
                    help="retrieval: folder of BEIR-layout sets (default ../shared/eval/external)")
    ev.add_argument("--wsis-eval", default=str(shared / "eval" / "wsis"),
                    help="retrieval: the WSIS queries and qrels (default ../shared/eval/wsis)")
    ev.add_argument("--wsis-index", default="var/eval/wsis-index",
                    help="retrieval: index over --corpus for the WSIS set, built if absent (default var/eval/wsis-index)")
    ev.add_argument("--corpus-file", dest="beir_corpus", metavar="JSONL",
                    help="retrieval: evaluate any BEIR-layout set: its corpus.jsonl (with --queries, --qrels)")
    ev.add_argument("--queries", metavar="FILE", help="retrieval: queries.jsonl of --corpus-file")
    ev.add_argument("--qrels", metavar="FILE", help="retrieval: qrels TSV of --corpus-file")
    ev.add_argument("--name", default="custom", help="retrieval: name of the --corpus-file set")
    ev.add_argument("--gain", choices=("exponential", "linear"), default="exponential",
                    help="retrieval: nDCG gain for external sets (default exponential; WSIS uses linear)")
    ev.add_argument("--fusion", choices=("convex", "rrf"), help="retrieval: hybrid fusion (default: the setting)")
    ev.add_argument("--weight", type=float, help="retrieval: dense weight of convex fusion (default: the setting)")
    ev.add_argument("--per-query", metavar="FILE", help="retrieval: per-query scores file (default beside --json)")
    ev.add_argument("--strict", action="store_true", help="retrieval: exit 1 when a figure is [FAIL]")
    ev.add_argument("--backend", choices=("faiss", "milvus"), help="retrieval: passage index backend (default faiss)")
    ev.add_argument("--work-milvus", default="var/eval/milvus.db",
                    help="retrieval: milvus-lite file for --backend milvus (default var/eval/milvus.db)")
    ev.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    ev.add_argument("--seed", type=int, default=0, help="fold shuffling seed (default 0)")
    ev.add_argument("--show-errors", type=int, default=0, metavar="N",
                    help="tagging: print N misclassified entries (cross-validated) with their true and predicted lines")
    ev.add_argument("--learning-curve", action="store_true",
                    help="tagging: also score the fitted tagger with 0, 3, 6, 9, 12 labelled entries per line")
    ev.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    ev.set_defaults(func=cmd_eval)

    sv = sub.add_parser("serve", help="serve the search API and web page",
                        description="Start the HTTP API (OpenAPI at /docs) and the web page at /.")
    sv.add_argument("--index", metavar="DIR", help="index path (default: var/index or WSIS_INDEX_DIR)")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sv.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    sv.add_argument("--backend", choices=("faiss", "milvus"),
                    help="expected backend; the index's manifest says which one it was built with")
    sv.set_defaults(func=cmd_serve)

    cr = sub.add_parser("crawl", help="fetch the real sources (or ad-hoc seeds) into a raw-document folder",
                        description="Crawl politely (robots.txt, rate limit, conditional GET) and safely (no private "
                                    "addresses, scope-checked redirects, size and time limits) into --out, which "
                                    "`wsis build --source DIR` reads. Resumes an interrupted crawl.")
    cr.add_argument("sources", nargs="*", metavar="SOURCE_NAME", help="sources of corpus/sources.toml (default: all)")
    cr.add_argument("--url", action="append", metavar="URL", help="ad-hoc seed URL (repeatable; needs --allow-host)")
    cr.add_argument("--allow-host", action="append", metavar="HOST", help="host the ad-hoc crawl may fetch")
    cr.add_argument("--allow-path", action="append", metavar="PREFIX", help="path prefix in scope (default /)")
    cr.add_argument("--kind", default="reference", choices=("igf_transcript", "stocktaking_entry",
                                                            "action_line_report", "reference"),
                    help="document kind of the ad-hoc seeds (default reference)")
    cr.add_argument("--name", default="adhoc", help="folder name of the ad-hoc crawl (default adhoc)")
    cr.add_argument("--max-depth", type=int, default=3, help="ad-hoc link depth (default 3)")
    cr.add_argument("--rate-limit", type=float, default=2.0, help="ad-hoc seconds between requests to a host")
    cr.add_argument("--max-pages", type=int, help="stop after N pages (resume later)")
    cr.add_argument("--out", metavar="DIR", help="raw-document folder (default var/crawl)")
    cr.add_argument("--report", metavar="FILE", help="write the crawl report as JSON")
    cr.set_defaults(func=cmd_crawl)

    bn = sub.add_parser("bench", help="side-by-side benchmark: bm25s, FAISS, encoder, engine (Python and HTTP)",
                        description="Measure index and query speed at several corpus scales; prints a table, writes JSON.")
    bn.add_argument("--quick", action="store_true", help="bundled corpus only, 20 queries, 20 requests")
    bn.add_argument("--scales", default="bundled,shared,100k", help="bundled, shared, 100k, 1m (default bundled,shared,100k)")
    bn.add_argument("--queries", type=int, default=200, help="queries per component measurement (default 200)")
    bn.add_argument("--requests", type=int, default=200, help="HTTP requests per concurrency level (default 200)")
    bn.add_argument("--build", action="store_true", help="also time a full build (no cache) of the shared corpus")
    bn.add_argument("--no-http", action="store_true", help="skip the HTTP load runs")
    bn.add_argument("--work", default="var/bench", help="folder for benchmark indexes (default var/bench)")
    bn.add_argument("--json", metavar="FILE", help="write the results as JSON")
    bn.set_defaults(func=cmd_bench)

    st = sub.add_parser("stats", help="describe an index from its manifest")
    st.add_argument("--index", metavar="DIR", help="index path (default: var/index or WSIS_INDEX_DIR)")
    st.add_argument("--json", action="store_true", help="print the manifest as JSON")
    st.set_defaults(func=cmd_stats)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.command == "search" and not 1 <= args.k <= 100:
        print("error: --k must be between 1 and 100", file=sys.stderr)
        return 2
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
