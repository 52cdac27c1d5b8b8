"""What every subcommand group shares: settings, threads, the engine over an index, the filter options."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"


def settings():
    from indexer.settings import get_settings

    return get_settings()


def set_threads(n: int) -> None:
    try:
        import faiss

        faiss.omp_set_num_threads(n)
    except ImportError:
        pass


def index_path(arg) -> Path:
    return Path(arg) if arg else settings().index_dir


def open_engine(index_arg, embedder=None):
    """The engine over the index (exit 2 with the reason when there is none or it is unusable)."""
    from indexer.build import make_embedder
    from indexer.index import IndexError_
    from search_api.lifecycle import open_engine as _open

    s = settings()
    try:
        return _open(s, index_path(index_arg), embedder or make_embedder(s))
    except IndexError_ as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2)


def add_filter_args(p: argparse.ArgumentParser) -> None:
    """The filters `wsis search` and `wsis ask` share."""
    p.add_argument("--action-line", action="append", metavar="CODE", help="filter, e.g. C5 or C7.e-health")
    p.add_argument("--kind", action="append", help="filter by document kind")
    p.add_argument("--role", action="append", help="filter by role")
    p.add_argument("--year-from", type=int, help="filter: from this year")
    p.add_argument("--year-to", type=int, help="filter: up to this year")


def add_index_arg(p: argparse.ArgumentParser, help_: str = "index path (default: var/index or WSIS_INDEX_DIR)") -> None:
    p.add_argument("--index", metavar="DIR", help=help_)
