"""`wsis serve`: the HTTP API and the web page."""

from __future__ import annotations

import sys
from pathlib import Path

from .common import settings


def cmd_serve(args) -> int:
    import os

    from indexer.index import IndexError_, load_index, read_manifest

    if args.index:
        os.environ["WSIS_INDEX_DIR"] = str(Path(args.index).absolute())
        from indexer.settings import get_settings

        get_settings.cache_clear()
    s = settings()
    try:  # the whole index is checked (sizes, checksums, every part readable) before anything is served
        m = read_manifest(s.index_dir)
        checked = load_index(s.index_dir, expected_model=s.model_name)
    except IndexError_ as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    built = (m.get("backend") or {}).get("backend", "faiss")
    if args.backend and args.backend != built:
        print(f"error: the index was built for the {built} backend, not {args.backend} "
              f"(rebuild with wsis build --backend {args.backend})", file=sys.stderr)
        return 2
    workers = args.workers if args.workers is not None else s.workers
    if workers != 1:  # each worker process loads the index itself
        checked.store.close()
        checked = None
    if workers < 1:
        print(f"error: --workers must be at least 1, not {workers}", file=sys.stderr)
        return 2
    print(f"serving index {m['build_id']} ({m['counts']['passages']} passages, {built} backend) on "
          f"http://{args.host}:{args.port}/" + (f" with {workers} worker processes" if workers > 1 else ""),
          flush=True)
    from search_api.app import create_app
    from search_api.server import serve

    serve(create_app(s, loaded=checked) if workers == 1 else None, host=args.host, port=args.port,
          log_level="warning" if not args.verbose else "info", access_log=args.verbose, workers=workers)
    return 0
