"""The on-disk index: a versioned directory (FAISS vectors, BM25, SQLite passage store, manifest)
written into a fresh folder and swapped in atomically through a symlink."""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .initiatives import load_initiatives
from .keyword import KeywordIndex
from .store import Store
from .tag import Tagger

log = logging.getLogger(__name__)
FORMAT_VERSION = 2  # 2: passages carry a substance score and their speakers
MANIFEST = "manifest.json"


class IndexError_(Exception):
    """The index cannot be used (missing, incomplete, or built with another model)."""


def builds_dir(index_path: Path) -> Path:
    return index_path.parent / f"{index_path.name}.builds"


class IndexWriter:
    """Writes a build into `<index>.builds/<id>.partial/`; commit() renames it and repoints the
    `<index>` symlink in one atomic rename. A build killed at any moment leaves the previous index
    untouched: readers only ever follow the symlink to a directory whose manifest is complete."""

    def __init__(self, index_path: Path):
        self.index_path = Path(index_path).absolute()
        self.builds = builds_dir(self.index_path)
        self.builds.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        # pid last: prune() uses it to tell a live writer's .partial folder from a killed one's
        self.build_id = f"build-{stamp}-{secrets.token_hex(3)}-{os.getpid()}"
        self.dir = self.builds / f"{self.build_id}.partial"
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir()

    def write_vectors(self, vectors: np.ndarray, hnsw_threshold: int = 20_000, hnsw_m: int = 32,
                      ef_construction: int = 80, ef_search: int = 64) -> dict[str, Any]:
        """Flat inner-product index up to `hnsw_threshold` vectors, HNSW above it (with its recall@10
        against the flat scan measured on real vectors of this index). Returns the manifest entry."""
        import faiss

        np.save(self.dir / "embeddings.npy", vectors)
        n, d = vectors.shape
        info: dict[str, Any] = {"metric": "inner_product", "vectors": int(n)}
        if n >= hnsw_threshold:
            index = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = ef_construction
            t = time.perf_counter()
            index.add(vectors)
            info.update({"type": "IndexHNSWFlat", "M": hnsw_m, "ef_construction": ef_construction,
                         "ef_search": ef_search, "build_seconds": round(time.perf_counter() - t, 2)})
            index.hnsw.efSearch = ef_search
            info["recall@10_vs_flat"] = hnsw_recall(index, vectors)
        else:
            index = faiss.IndexFlatIP(d)
            if n:
                index.add(vectors)
            info["type"] = "IndexFlatIP"
        faiss.write_index(index, str(self.dir / "vectors.faiss"))
        return info

    def commit(self, manifest: dict[str, Any], keep: int = 2) -> Path:
        manifest = {**manifest, "complete": True, "build_id": self.build_id, "format_version": FORMAT_VERSION}
        _write_json_durably(self.dir / MANIFEST, manifest)
        final = self.builds / self.build_id
        os.replace(self.dir, final)
        _fsync_dir(self.builds)
        if self.index_path.exists() and not self.index_path.is_symlink():
            # An index folder from before symlink swapping: move it aside, keep it as a build.
            os.replace(self.index_path, self.builds / f"legacy-{self.build_id}")
        tmp_link = self.index_path.parent / f".{self.index_path.name}.{os.getpid()}.link"
        if tmp_link.is_symlink() or tmp_link.exists():
            tmp_link.unlink()
        os.symlink(os.path.relpath(final, self.index_path.parent), tmp_link)
        os.replace(tmp_link, self.index_path)
        _fsync_dir(self.index_path.parent)
        prune(self.index_path, keep)
        return final

    def abort(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def hnsw_recall(index, vectors: np.ndarray, queries: int = 200, k: int = 10, seed: int = 0) -> float:
    """Recall@10 of an HNSW index against exact search, with stored vectors (slightly perturbed) as queries."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(vectors), size=min(queries, len(vectors)), replace=False)
    q = vectors[pick] + rng.normal(0, 0.02, size=(len(pick), vectors.shape[1])).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    exact = np.argsort(-(q @ vectors.T), axis=1)[:, :k]
    _, got = index.search(q.astype(np.float32), k)
    return round(float(np.mean([len(set(a) & set(b)) / k for a, b in zip(exact, got)])), 4)


def prune(index_path: Path, keep: int) -> None:
    """Remove old builds, keeping the current one and the `keep - 1` newest others, and any
    leftovers of killed builds (`*.partial`) that are not being written by a live process."""
    b = builds_dir(index_path)
    current = Path(os.path.realpath(index_path)).name if index_path.is_symlink() else None
    done = sorted((p for p in b.iterdir() if p.is_dir() and not p.name.endswith(".partial")),
                  key=lambda p: p.stat().st_mtime, reverse=True)
    others = [p for p in done if p.name != current]
    for p in others[max(0, keep - 1):]:
        shutil.rmtree(p, ignore_errors=True)
    for p in b.glob("*.partial"):
        pid = p.name.rsplit("-", 1)[-1].split(".")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_json_durably(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_manifest(index_path: Path) -> dict[str, Any]:
    real = Path(os.path.realpath(index_path))
    mf = real / MANIFEST
    if not mf.exists():
        raise IndexError_(f"no index at {index_path} (run `wsis build` first)")
    manifest = json.loads(mf.read_text())
    if not manifest.get("complete"):
        raise IndexError_(f"index at {real} is incomplete")
    manifest["path"] = str(real)
    return manifest


@dataclass
class LoadedIndex:
    path: Path
    manifest: dict[str, Any]
    vectors: Any  # faiss index
    embeddings: np.ndarray
    keyword: KeywordIndex
    store: Store
    tagger: Any = None  # the Tagger fitted at build time (tagger.npz), None for an index without one
    initiatives: Any = None  # indexer.initiatives.Initiatives (initiatives.npy), None for an index without it

    @property
    def size(self) -> int:
        return int(self.manifest["counts"]["passages"])


def load_index(index_path: Path, expected_model: str | None = None, expected_dim: int | None = None) -> LoadedIndex:
    """Open the build the symlink points at now; refuse one whose model differs from the configured one."""
    import faiss

    manifest = read_manifest(index_path)
    real = Path(manifest["path"])
    model = manifest.get("model", {})
    if expected_model and model.get("name") != expected_model:
        raise IndexError_(f"index was built with model {model.get('name')!r}, configured model is {expected_model!r}")
    if expected_dim and model.get("dim") != expected_dim:
        raise IndexError_(f"index vectors have dimension {model.get('dim')}, the model gives {expected_dim}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexError_(f"index format {manifest.get('format_version')} is not {FORMAT_VERSION}; rebuild it")
    kind = manifest.get("vector_index", {}).get("type", "IndexFlatIP")
    flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if kind == "IndexFlatIP" else 0
    vectors = faiss.read_index(str(real / "vectors.faiss"), flags)
    if kind == "IndexHNSWFlat":
        vectors.hnsw.efSearch = int(manifest["vector_index"].get("ef_search", 64))
    embeddings = np.load(real / "embeddings.npy", mmap_mode="r")
    keyword = KeywordIndex.load(real / "keyword")
    store = Store(real / "store.sqlite")
    n = manifest["counts"]["passages"]
    if vectors.ntotal != n or keyword.size != n or store.count() != n:
        raise IndexError_(f"index parts disagree on the passage count (manifest {n}, faiss {vectors.ntotal}, "
                          f"bm25 {keyword.size}, store {store.count()})")
    tagger = Tagger.load(real / "tagger.npz") if (real / "tagger.npz").exists() else None
    return LoadedIndex(real, manifest, vectors, embeddings, keyword, store, tagger, load_initiatives(real))

