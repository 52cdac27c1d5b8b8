"""The on-disk index: a versioned directory (FAISS vectors, BM25, SQLite passage store, manifest)
written into a fresh folder and swapped in atomically through a symlink."""

from __future__ import annotations

import hashlib
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

from .columns import filter_threshold, load_columns
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
                      ef_construction: int = 80, ef_search: int = 512, sq8_threshold: int = 500_000) -> dict[str, Any]:
        """Flat inner-product index up to `hnsw_threshold` vectors, HNSW above it, and HNSW over 8-bit scalar-
        quantised vectors (a quarter of the memory: 384 bytes a vector instead of 1,536) from `sq8_threshold`;
        with its recall@10 against the flat scan, measured with noisy copies of this index's vectors as
        queries: see hnsw_recall. Returns the manifest entry."""
        import faiss

        np.save(self.dir / "embeddings.npy", vectors)
        n, d = vectors.shape
        info: dict[str, Any] = {"metric": "inner_product", "vectors": int(n)}
        if n >= hnsw_threshold:
            if n >= sq8_threshold:
                index = faiss.IndexHNSWSQ(d, faiss.ScalarQuantizer.QT_8bit, hnsw_m, faiss.METRIC_INNER_PRODUCT)
                index.train(vectors)
                kind = "IndexHNSWSQ"
            else:
                index = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
                kind = "IndexHNSWFlat"
            index.hnsw.efConstruction = ef_construction
            t = time.perf_counter()
            index.add(vectors)
            info.update({"type": kind, "M": hnsw_m, "ef_construction": ef_construction,
                         "ef_search": ef_search, "build_seconds": round(time.perf_counter() - t, 2)})
            if kind == "IndexHNSWSQ":
                info["quantizer"] = "QT_8bit"
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
        manifest = {**manifest, "complete": True, "build_id": self.build_id, "format_version": FORMAT_VERSION,
                    "files": file_records(self.dir)}
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
    """Recall@10 of an HNSW index against exact search. The queries are not real queries: they are copies of
    200 indexed vectors with Gaussian noise (sigma 0.02) added and renormalised, so the figure says how well
    HNSW finds near neighbours of stored points (`wsis bench` measures it with real query texts)."""
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


# ------------------------------------------------------------------ integrity: sizes and checksums

FULL_HASH_MAX_BYTES = 16 * 2**20  # files up to this size are hashed whole
EDGE_BYTES = 2**20  # larger files: their size, and a hash of their first and last MiB


def file_digest(path: Path, size: int) -> tuple[str, str]:
    """(how it was hashed, SHA-256 hex). Whole file up to 16 MiB; above, the first and the last MiB (a
    large file damaged only in its middle passes this check, and is caught when it is read at load)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        if size <= FULL_HASH_MAX_BYTES:
            for block in iter(lambda: f.read(2**20), b""):
                h.update(block)
            return "all", h.hexdigest()
        h.update(f.read(EDGE_BYTES))
        f.seek(size - EDGE_BYTES)
        h.update(f.read(EDGE_BYTES))
    return "first+last MiB", h.hexdigest()


def file_records(folder: Path) -> dict[str, dict[str, Any]]:
    """Size and checksum of every file of a build (the manifest excepted), keyed by relative path."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel == MANIFEST or rel.endswith(".tmp"):
            continue
        size = path.stat().st_size
        how, digest = file_digest(path, size)
        out[rel] = {"bytes": size, "sha256": digest, "hashed": how}
    return out


def verify_files(real: Path, manifest: dict[str, Any]) -> None:
    """Check every file the manifest records: present, same size, same checksum. Raises IndexError_ with one
    line naming the first broken file. A manifest from before these records is not checked (logged)."""
    records = manifest.get("files")
    if not isinstance(records, dict):
        log.warning("index %s records no file checksums (built before they were written); not verified", real)
        return
    for rel, rec in records.items():
        path = real / rel
        if not path.is_file():
            raise IndexError_(f"index at {real} is damaged: {rel} is missing; rebuild it with `wsis build`")
        size = path.stat().st_size
        if size != rec.get("bytes"):
            raise IndexError_(f"index at {real} is damaged: {rel} has {size} bytes, the build wrote "
                              f"{rec.get('bytes')}; rebuild it with `wsis build`")
        if file_digest(path, size)[1] != rec.get("sha256"):
            raise IndexError_(f"index at {real} is damaged: {rel} does not match its checksum; rebuild it with "
                              f"`wsis build`")


def read_manifest(index_path: Path) -> dict[str, Any]:
    real = Path(os.path.realpath(index_path))
    mf = real / MANIFEST
    if not mf.exists():
        raise IndexError_(f"no index at {index_path} (run `wsis build` first)")
    try:
        manifest = json.loads(mf.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise IndexError_(f"index at {real} is damaged: {MANIFEST} is not readable JSON ({type(exc).__name__}: "
                          f"{str(exc)[:120]}); rebuild it with `wsis build`") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("counts"), dict):
        raise IndexError_(f"index at {real} is damaged: {MANIFEST} is not an index manifest; rebuild it")
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
    columns: Any = None  # indexer.columns.ColumnData: memory-mapped per-passage columns

    @property
    def size(self) -> int:
        return int(self.manifest["counts"]["passages"])


def load_index(index_path: Path, expected_model: str | None = None, expected_dim: int | None = None) -> LoadedIndex:
    """Open the build the symlink points at now; refuse one whose model differs from the configured one."""
    manifest = read_manifest(index_path)
    real = Path(manifest["path"])
    model = manifest.get("model", {})
    if expected_model and model.get("name") != expected_model:
        raise IndexError_(f"index was built with model {model.get('name')!r}, configured model is {expected_model!r}")
    if expected_dim and model.get("dim") != expected_dim:
        raise IndexError_(f"index vectors have dimension {model.get('dim')}, the model gives {expected_dim}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexError_(f"index format {manifest.get('format_version')} is not {FORMAT_VERSION}; rebuild it")
    verify_files(real, manifest)

    def part(name: str, read):
        """Read one part; any failure is a one-line refusal naming the file (never a traceback later)."""
        try:
            return read()
        except IndexError_:
            raise
        except Exception as exc:
            raise IndexError_(f"index at {real} is damaged: {name} cannot be read ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:160] if str(exc) else ''}); rebuild it with `wsis build`") \
                from None

    vectors = part("vectors.faiss", lambda: read_vectors(real / "vectors.faiss", manifest.get("vector_index", {})))
    embeddings = part("embeddings.npy", lambda: np.load(real / "embeddings.npy", mmap_mode="r"))
    keyword = part("keyword", lambda: KeywordIndex.load(real / "keyword"))
    store = part("store.sqlite", lambda: _open_store(real / "store.sqlite"))
    n = manifest["counts"]["passages"]
    if vectors.ntotal != n or keyword.size != n or store.count() != n or len(embeddings) != n:
        raise IndexError_(f"index parts disagree on the passage count (manifest {n}, faiss {vectors.ntotal}, "
                          f"bm25 {keyword.size}, store {store.count()}, embeddings {len(embeddings)})")
    tagger = part("tagger.npz", lambda: Tagger.load(real / "tagger.npz")) if (real / "tagger.npz").exists() else None
    initiatives = part("initiatives", lambda: load_initiatives(real))
    columns = part("columns", lambda: load_columns(real, store, filter_threshold(manifest)))
    if columns.n != n:
        raise IndexError_(f"index at {real} is damaged: its columns hold {columns.n} passages, not {n}")
    return LoadedIndex(real, manifest, vectors, embeddings, keyword, store, tagger, initiatives, columns)


def read_vectors(path: Path, info: dict[str, Any]):
    """The FAISS index of a build, memory-mapped rather than read into the heap: the page cache holds the
    vectors once however many server processes map them, and opening costs no time at any size. A flat index
    is mapped whole; an HNSW index (flat or 8-bit codes) has its vectors mapped and its graph read."""
    import faiss

    kind = info.get("type", "IndexFlatIP")
    flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if kind == "IndexFlatIP" else faiss.IO_FLAG_MMAP_IFC
    index = faiss.read_index(str(path), flags)
    if kind.startswith("IndexHNSW"):
        index.hnsw.efSearch = int(info.get("ef_search", 64))
    return index


def _open_store(path: Path) -> Store:
    """The passage store, checked to answer: its schema and a count (a damaged page fails here)."""
    if not path.is_file():
        raise FileNotFoundError(path)
    store = Store(path)
    store.count()
    return store

