"""Shared fixtures: the real model, and an index over the bundled corpus built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "corpus" / "sample"
SHARED = ROOT.parent / "shared"
SHARED_CORPUS = SHARED / "corpus_sources"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "shared" in item.keywords and not SHARED_CORPUS.is_dir():
            item.add_marker(pytest.mark.skip(reason=f"{SHARED_CORPUS} is absent"))


@pytest.fixture(scope="session")
def embedder():
    import faiss

    from indexer.embed import Embedder

    faiss.omp_set_num_threads(1)
    return Embedder(dtype="auto", threads=1)


@pytest.fixture(scope="session")
def built_index(tmp_path_factory, embedder):
    """(index path, build report) for the bundled corpus."""
    from indexer.build import build_index
    from indexer.chunk import ChunkSettings

    path = tmp_path_factory.mktemp("index") / "index"
    report = build_index([SAMPLE], path, embedder=embedder, chunk=ChunkSettings(), max_file_bytes=30_000_000,
                         progress=False, model_name=MODEL_NAME)
    return path, report


@pytest.fixture(scope="session")
def loaded(built_index):
    from indexer.index import load_index

    return load_index(built_index[0], expected_model=MODEL_NAME)


@pytest.fixture(scope="session")
def milvus_index(tmp_path_factory, embedder):
    """The bundled corpus built with the Milvus backend (milvus-lite, embedded)."""
    pytest.importorskip("pymilvus")
    from indexer.build import build_index
    from indexer.chunk import ChunkSettings

    root = tmp_path_factory.mktemp("milvus")
    path = root / "index"
    build_index([SAMPLE], path, embedder=embedder, chunk=ChunkSettings(), max_file_bytes=30_000_000, progress=False,
                model_name=MODEL_NAME, backend="milvus", milvus_uri=str(root / "milvus.db"))
    return path


@pytest.fixture(scope="session", params=["faiss", "milvus"])
def engine(request, loaded, embedder):
    """The engine over the bundled corpus, on each backend: API and retrieval tests run on both."""
    from indexer.index import load_index
    from search_api.engine import Engine

    if request.param == "faiss":
        return Engine(loaded, embedder)
    return Engine(load_index(request.getfixturevalue("milvus_index"), expected_model=MODEL_NAME), embedder)
