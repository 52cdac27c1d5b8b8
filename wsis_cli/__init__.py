"""The `wsis` command, on top of both layers: `indexer` (build, crawl, tag) and `search_api` (search, ask,
serve), plus `evaluation` (eval, bench). One module per subcommand group; `main` holds the parser."""
