"""`wsis build`, `wsis stats`, `wsis crawl`: the indexer's commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .common import index_path, set_threads, settings


def cmd_build(args) -> int:
    from indexer.build import build_from_settings, make_embedder

    s = settings()
    sources = [Path(p) for p in args.source] if args.source else list(s.sources)
    index = Path(args.index) if args.index else s.index_dir
    for src in sources:
        if not src.is_dir():
            print(f"error: source folder {src} does not exist", file=sys.stderr)
            return 2
    set_threads(s.threads)
    try:
        report = build_from_settings(s, sources, index, embedder=make_embedder(s), use_cache=not args.no_cache,
                                     progress=not args.quiet, backend=args.backend or s.backend)
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


def cmd_stats(args) -> int:
    from indexer.index import IndexError_, read_manifest

    path = index_path(args.index)
    try:
        m = read_manifest(path)
    except IndexError_ as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(m, indent=2))
        return 0
    print(f"index      {path} -> {m['path']}")
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


def cmd_crawl(args) -> int:
    from indexer.crawl import Crawler, SourceConfig, load_sources

    s = settings()
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
