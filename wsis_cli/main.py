"""The `wsis` command: the parser and the dispatch to one module per subcommand group. Heavy imports happen
inside each subcommand so that `wsis --help` is instant."""

from __future__ import annotations

import argparse
import logging
import sys

from indexer import __version__

from . import eval_cmds, index_cmds, mcp_cmd, query_cmds, serve_cmd
from .common import SHARED, add_filter_args


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
    b.set_defaults(func=index_cmds.cmd_build)

    s = sub.add_parser("search", help="print the best passages for a query",
                       description="Hybrid (dense + BM25) search over the index.")
    s.add_argument("query")
    s.add_argument("--index", metavar="DIR", help="index path (default: var/index or WSIS_INDEX_DIR)")
    s.add_argument("--k", type=int, default=10, help="number of passages (default 10)")
    s.add_argument("--mode", choices=("hybrid", "dense", "bm25"), default="hybrid", help="retrieval mode")
    add_filter_args(s)
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=query_cmds.cmd_search)

    a = sub.add_parser("ask", help="answer a question from the index, with numbered citations",
                       description="Extractive answer: sentences from the best passages, each cited.")
    a.add_argument("question")
    a.add_argument("--index", metavar="DIR", help="index path (default: var/index or WSIS_INDEX_DIR)")
    add_filter_args(a)
    a.add_argument("--json", action="store_true", help="print the answer as JSON")
    a.set_defaults(func=query_cmds.cmd_ask)

    t = sub.add_parser("tag", help="tag JSON lines {id, text} with action lines, role and SDGs",
                       description="Read JSON lines {\"id\":..., \"text\":...} (optional \"heading\", \"kind\", "
                                   "\"declared\") from FILE or stdin and write one line of tags per record.")
    t.add_argument("file", nargs="?", default="-", help="input file (default: stdin)")
    t.add_argument("--index", metavar="DIR", help="use the tagger fitted with this index (default: var/index)")
    t.add_argument("--verbose-source", action="store_true", help="say on stderr which tagger was used")
    t.set_defaults(func=query_cmds.cmd_tag)

    ev = sub.add_parser("eval", help="evaluations (tagging)", description="Run an evaluation and print its figures.")
    shared = SHARED
    ev.add_argument("what", choices=("tagging", "retrieval", "answers", "related"), help="what to evaluate")
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
    ev.add_argument("--strict", action="store_true",
                    help="retrieval: exit 1 when a figure is [FAIL] or a data set asked for has no figures")
    ev.add_argument("--backend", choices=("faiss", "milvus"), help="retrieval: passage index backend (default faiss)")
    ev.add_argument("--work-milvus", default="var/eval/milvus.db",
                    help="retrieval: milvus-lite file for --backend milvus (default var/eval/milvus.db)")
    ev.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    ev.add_argument("--seed", type=int, default=0, help="fold shuffling seed (default 0)")
    ev.add_argument("--show-errors", type=int, default=0, metavar="N",
                    help="tagging: print N misclassified entries (cross-validated) with their true and predicted "
                         "lines; answers: print the first N questions with their answers")
    ev.add_argument("--learning-curve", action="store_true",
                    help="tagging: also score the fitted tagger with 0, 3, 6, 9, 12 labelled entries per line")
    ev.add_argument("--questions", metavar="FILE",
                    help="answers: question set (default evaluation/data/answers.jsonl)")
    ev.add_argument("--split", choices=("dev", "test"), help="answers: only this split (default both)")
    ev.add_argument("--related-set", metavar="FILE", help="related: judged seeds (default evaluation/data/related.jsonl)")
    ev.add_argument("--unjudged", metavar="FILE", help="related: write the unjudged top-5 items (seed, doc id) as TSV")
    ev.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    ev.set_defaults(func=eval_cmds.cmd_eval)

    sv = sub.add_parser("serve", help="serve the search API and web page",
                        description="Start the HTTP API (OpenAPI at /docs) and the web page at /.")
    sv.add_argument("--index", metavar="DIR", help="index path (default: var/index or WSIS_INDEX_DIR)")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sv.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    sv.add_argument("--backend", choices=("faiss", "milvus"),
                    help="expected backend; the index's manifest says which one it was built with")
    sv.add_argument("--workers", type=int, metavar="N",
                    help="worker processes (default WSIS_WORKERS or 1; one per core uses every core under load; "
                         "conversations and rate limits are then shared through SQLite files in WSIS_STATE_DIR)")
    sv.set_defaults(func=serve_cmd.cmd_serve)

    mc = sub.add_parser("mcp", help="serve the search tools to an AI assistant over MCP (stdio)",
                        description="A Model Context Protocol server on stdin/stdout: tools search, ask, related, "
                                    "get_document, action_lines and documents as resources (wsis serve also "
                                    "serves them over streamable HTTP at /mcp).")
    mc.add_argument("--index", metavar="DIR", help="index path (default: var/index or WSIS_INDEX_DIR)")
    mc.set_defaults(func=mcp_cmd.cmd_mcp)

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
    cr.set_defaults(func=index_cmds.cmd_crawl)

    bn = sub.add_parser("bench", help="side-by-side benchmark: bm25s, FAISS, encoder, engine (Python and HTTP)",
                        description="Measure index and query speed at several corpus scales; prints a table, writes JSON.")
    bn.add_argument("--quick", action="store_true", help="bundled corpus only, 20 queries, 20 requests")
    bn.add_argument("--scales", default="bundled,shared,100k", help="bundled, shared, 100k, 1m (default bundled,shared,100k)")
    bn.add_argument("--queries", type=int, default=200, help="queries per component measurement (default 200)")
    bn.add_argument("--requests", type=int, default=200, help="HTTP requests per concurrency level (default 200)")
    bn.add_argument("--build", action="store_true", help="also time a full build (no cache) of the shared corpus")
    bn.add_argument("--no-http", action="store_true", help="skip the HTTP load runs")
    bn.add_argument("--workers", default="1,2", help="server worker processes to measure HTTP with, comma-separated "
                                                     "(default 1,2)")
    bn.add_argument("--work", default="var/bench", help="folder for benchmark indexes (default var/bench)")
    bn.add_argument("--json", metavar="FILE", help="write the results as JSON")
    bn.set_defaults(func=eval_cmds.cmd_bench)

    st = sub.add_parser("stats", help="describe an index from its manifest")
    st.add_argument("--index", metavar="DIR", help="index path (default: var/index or WSIS_INDEX_DIR)")
    st.add_argument("--json", action="store_true", help="print the manifest as JSON")
    st.set_defaults(func=index_cmds.cmd_stats)
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
