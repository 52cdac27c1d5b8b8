"""The index over the real corpus (../shared/corpus_sources) that the WSIS evaluations run on: opened when
it exists and was built over that corpus, otherwise built first (with the embedding cache)."""

from __future__ import annotations

import sys
from pathlib import Path


def wsis_engine(settings, corpus: Path, index: Path, embedder, backend: str = "faiss",
                work_milvus: Path | None = None):
    """The engine over an index of `corpus`, or None (with the reason on stderr) when the corpus is absent."""
    from indexer.build import build_from_settings
    from indexer.index import IndexError_, load_index
    from search_api.lifecycle import engine_for

    if backend != "faiss":
        index = Path(str(index) + "-" + backend)
    try:
        loaded = load_index(index, expected_model=settings.model_name)
        if [str(corpus.resolve())] != [str(Path(x).resolve()) for x in loaded.manifest["sources"]]:
            raise IndexError_("index is not over the real corpus")
    except IndexError_:
        if not corpus.is_dir():
            print(f"error: {corpus} not found (needed for the WSIS evaluations)", file=sys.stderr)
            return None
        print(f"building the WSIS evaluation index at {index} ...", file=sys.stderr)
        extra = {"milvus_uri": str(work_milvus)} if backend == "milvus" and work_milvus else {}
        build_from_settings(settings, [corpus], index, embedder=embedder, backend=backend, **extra)
        loaded = load_index(index, expected_model=settings.model_name)
    return engine_for(loaded, embedder, settings)
