"""A torch-free query encoder: the same all-MiniLM-L6-v2, exported to ONNX in fp32 at build time and run
with onnxruntime (one thread) and the model's own fast tokenizer.

Why: in the server, importing torch costs ~10 s and a one-query encode through sentence-transformers
~30 ms on an AVX2-only CPU; onnxruntime imports in under a second and encodes a query in ~10 ms. The
export is checked against the torch encoder (minimum cosine over probe texts) before it is kept, and the
index is still embedded by the torch encoder; only queries (and answer sentences) go through ONNX."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FILENAME = "query_encoder.onnx"
MAX_COSINE_GAP = 1e-4
_EXPORTED: dict[str, Path] = {}  # model key -> a checked export made earlier in this process
_PROBES = [
    "national computer incident response teams",
    "How can community networks connect rural villages?",
    "e-health recommendations for telemedicine in small island developing states",
    "WSIS Action Line C7 e-agriculture: mobile market prices for smallholder farmers, SMS alerts and "
    "weather information in local languages, with cooperatives trained to use them.",
    "Gender digital divide",
]


def export(model_dir: Path, out: Path) -> None:
    """Write the fp32 transformer (token ids -> last hidden state) of the sentence-transformers model in
    `model_dir` to `out` as ONNX, with dynamic batch and sequence axes."""
    import warnings

    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager", dtype=torch.float32,
                                      local_files_only=True).eval()

    class _Body(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    ids = torch.ones((2, 8), dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    tmp = out.with_suffix(".onnx.tmp")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about shape-dependent branches of the eager model
        torch.onnx.export(_Body(model), (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(tmp),
                          input_names=names, output_names=["last_hidden_state"],
                          dynamic_axes={n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]},
                          opset_version=17, dynamo=False)
    fuse_in_child(tmp, model.config.num_attention_heads, model.config.hidden_size)
    os.replace(tmp, out)


def fuse_in_child(path: Path, num_heads: int, hidden_size: int, timeout: float = 300.0) -> None:
    """`fuse` in a short-lived child process: the optimizer holds the whole graph as Python objects, and the
    build process (with the model and the corpus's vectors in memory) should not carry that peak too."""
    import multiprocessing

    proc = multiprocessing.get_context("spawn").Process(target=fuse, args=(path, num_heads, hidden_size),
                                                        name="onnx-fuse")
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.kill()
        proc.join()
        log.warning("ONNX fusion timed out after %.0f s; the export stays unfused", timeout)


def fuse(path: Path, num_heads: int, hidden_size: int) -> None:
    """Rewrite the exported graph in place with onnxruntime's BERT fusions (attention, embedding layer norm,
    skip layer norm, bias GELU as single kernels): ~10% faster per query on one core, same fp32 arithmetic up
    to rounding (the export is checked against torch after this). Left unfused if the optimizer fails."""
    try:
        from onnxruntime.transformers import optimizer

        fused = optimizer.optimize_model(str(path), model_type="bert", num_heads=num_heads, hidden_size=hidden_size,
                                         opt_level=1)
        tmp = Path(str(path) + ".fused")
        fused.save_model_to_file(str(tmp))
        os.replace(tmp, path)
    except Exception as exc:  # the plain export works, only slower
        log.warning("ONNX fusion skipped: %s: %s", type(exc).__name__, exc)


class OnnxEncoder:
    """Same interface as indexer.embed.Embedder for encoding: L2-normalised float32 vectors."""

    def __init__(self, path: Path, model_dir: str | Path = "", max_seq_length: int = 256, threads: int = 1,
                 batch_size: int = 32):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from .embed import default_model_dir

        self.model_dir = Path(model_dir) if model_dir else default_model_dir()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_seq_length)
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id("[PAD]") or 0)
        self.max_seq_length = max_seq_length
        self.batch_size = batch_size
        self.dtype = "fp32"
        self.kind = "onnx"
        self.dim = int(self._batch(["probe"]).shape[1])

    def _batch(self, texts: list[str]) -> np.ndarray:
        enc = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask,
                                         "token_type_ids": np.zeros_like(ids)})[0]
        m = mask[..., None].astype(np.float32)
        v = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # similar lengths share a batch
        parts = []
        for i in range(0, len(order), self.batch_size):
            idx = order[i:i + self.batch_size]
            parts.append((idx, self._batch([texts[j] for j in idx])))
        out = np.zeros((len(texts), parts[0][1].shape[1]), dtype=np.float32)
        for idx, vecs in parts:
            out[idx] = vecs
        return np.ascontiguousarray(out, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min(np.sum(a * b, axis=1)))


def write_query_encoder(index_dir: Path, embedder, cache_dir: Path | None = None) -> dict:
    """Export (or reuse the cached export of) the ONNX query encoder into `index_dir`, after checking it
    against an fp32 torch encoder of the same model. Returns the manifest entry; never raises: a
    failed export leaves the server on the torch encoder."""
    t0 = time.perf_counter()
    try:
        import onnxruntime  # noqa: F401

        from .embed import Embedder

        target = index_dir / FILENAME
        key = f"{Path(embedder.model_dir).name}-{embedder.model.max_seq_length}-fused"
        cached = cache_dir / "onnx" / f"{key}.onnx" if cache_dir else None
        memo_key = f"{embedder.model_dir}|{key}"
        earlier = _EXPORTED.get(memo_key)
        if cached is not None and cached.exists():
            shutil.copyfile(cached, target)
        elif earlier is not None and earlier.exists():  # exported by an earlier build in this process
            shutil.copyfile(earlier, target)
        else:
            export(Path(embedder.model_dir), target)
        onnx_enc = OnnxEncoder(target, embedder.model_dir, max_seq_length=embedder.model.max_seq_length)
        reference = embedder if embedder.dtype == "fp32" else Embedder(
            embedder.model_dir, dtype="fp32", max_seq_length=embedder.model.max_seq_length)
        gap = 1.0 - min_cosine(onnx_enc.encode(_PROBES), reference.encode(_PROBES))
        if gap > MAX_COSINE_GAP:
            target.unlink()
            log.warning("the ONNX query encoder differs from torch (1 - min cosine %.2g): not kept", gap)
            return {"onnx": None, "reason": f"1 - min cosine {gap:.2g} > {MAX_COSINE_GAP}"}
        if cached is not None and not cached.exists():
            cached.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(target, cached)
        if earlier is None:
            keep = Path(tempfile.gettempdir()) / f"wsis-{os.getpid()}-{key}.onnx"
            shutil.copyfile(target, keep)
            atexit.register(keep.unlink, missing_ok=True)
            _EXPORTED[memo_key] = keep
        return {"onnx": FILENAME, "max_cosine_gap_vs_fp32_torch": float(f"{max(gap, 0.0):.3g}"),
                "probes": len(_PROBES), "seconds": round(time.perf_counter() - t0, 2)}
    except Exception as exc:  # optional speed-up: the index stays valid without it
        log.warning("no ONNX query encoder: %s: %s", type(exc).__name__, exc)
        (index_dir / FILENAME).unlink(missing_ok=True)
        return {"onnx": None, "reason": f"{type(exc).__name__}: {exc}"}
