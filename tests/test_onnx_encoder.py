"""The server's torch-free query encoder: the ONNX export written at build time gives the torch
encoder's vectors, and the server picks it (or torch when told to)."""

from __future__ import annotations

import numpy as np

QUERIES = ["national computer incident response teams", "How do community networks reach rural villages?",
           "C7 e-health telemedicine in small island developing states", "gender digital divide", "Tunis Agenda",
           "accessibility of public services for persons with disabilities " * 30]  # > 256 tokens: truncated


def test_build_writes_a_checked_export(built_index):
    from indexer.index import read_manifest

    path, _ = built_index
    entry = read_manifest(path)["query_encoder"]
    assert entry["onnx"] == "query_encoder.onnx" and (path / entry["onnx"]).stat().st_size > 10_000_000
    assert entry["max_cosine_gap_vs_fp32_torch"] <= 1e-4


def test_the_export_is_fused(built_index):
    import onnx

    ops = {n.op_type for n in onnx.load(str(built_index[0] / "query_encoder.onnx")).graph.node}
    assert {"Attention", "SkipLayerNormalization"} <= ops, sorted(ops)


def test_onnx_vectors_equal_the_torch_encoder(built_index, embedder):
    from indexer.embed import Embedder
    from indexer.onnx_encoder import OnnxEncoder

    onnx = OnnxEncoder(built_index[0] / "query_encoder.onnx")
    reference = embedder if embedder.dtype == "fp32" else Embedder(dtype="fp32")
    a, b = onnx.encode(QUERIES), reference.encode(QUERIES)
    assert a.shape == (len(QUERIES), 384) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(a * b, axis=1))) >= 1 - 1e-4
    assert np.allclose(onnx.encode_query(QUERIES[0]), a[0], atol=1e-6)  # batching does not change a vector
    assert onnx.encode([]).shape == (0, 384)


def test_server_uses_the_export_unless_told_torch(built_index, monkeypatch):
    from indexer.settings import get_settings
    from search_api.lifecycle import load_engine

    monkeypatch.setenv("WSIS_INDEX_DIR", str(built_index[0]))
    for choice, kind in (("auto", "onnx"), ("torch", "torch")):
        monkeypatch.setenv("WSIS_QUERY_ENCODER", choice)
        get_settings.cache_clear()
        engine = load_engine(get_settings(), warm_in_background=False)
        assert engine.embedder.kind == kind and not engine.encoder_error
        hits = engine.search("computer incident response teams", k=3)
        assert hits.hits and hits.mode == "hybrid"
    get_settings.cache_clear()
