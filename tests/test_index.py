"""The index directory: manifest, FAISS equals brute force, atomic swap, refusal of a foreign model."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from conftest import MODEL_NAME, SAMPLE

from indexer.index import IndexError_, load_index, read_manifest


def test_report_and_manifest(built_index):
    path, report = built_index
    r = report.as_dict()
    assert r["failures"] == []
    assert r["documents"]["action_line_report"] == 11 and r["documents"]["stocktaking_entry"] >= 60
    assert r["passages"] > 100 and r["seconds"] > 0
    m = read_manifest(path)
    assert m["complete"] is True and m["model"] == {**m["model"], "name": MODEL_NAME, "dim": 384}
    assert m["counts"]["passages"] == r["passages"]
    assert m["chunker"]["max_words"] == 250 and len(m["corpus_hash"]) == 64
    assert m["tagger"]["version"] and m["package_version"]
    assert os.path.islink(path)


def test_faiss_topk_equals_bruteforce_cosine(loaded, embedder):
    q = embedder.encode_query("national computer incident response teams")
    scores, ids = loaded.vectors.search(q.reshape(1, -1), 10)
    emb = np.asarray(loaded.embeddings)
    brute = emb @ q
    order = np.argsort(-brute)[:10]
    assert list(ids[0]) == list(order)
    assert np.allclose(scores[0], brute[order], atol=1e-5)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-3)


def test_loader_refuses_other_model(built_index):
    with pytest.raises(IndexError_, match="model"):
        load_index(built_index[0], expected_model="some/other-model")


def test_missing_and_incomplete_index(tmp_path):
    with pytest.raises(IndexError_):
        load_index(tmp_path / "nope")
    d = tmp_path / "half"
    d.mkdir()
    (d / "manifest.json").write_text(json.dumps({"complete": False}))
    with pytest.raises(IndexError_, match="incomplete"):
        load_index(d)


def test_rebuild_swaps_atomically_and_keeps_old_until_pruned(tmp_path, embedder):
    from indexer.build import build_index
    from indexer.chunk import ChunkSettings

    src = tmp_path / "src"
    src.mkdir()
    (src / "a.md").write_text("# Broadband\n\nFibre networks reach rural schools in the north.\n")
    idx = tmp_path / "index"
    r1 = build_index([src], idx, embedder=embedder, chunk=ChunkSettings(), max_file_bytes=10**6, progress=False,
                     model_name=MODEL_NAME)
    first = os.path.realpath(idx)
    old = load_index(idx)  # a reader holding the first build
    (src / "b.md").write_text("# Health\n\nTelemedicine links island clinics to hospitals.\n")
    # a killed build leaves a .partial folder behind: it must never be loaded
    (idx.parent / "index.builds" / "build-x-999999.partial").mkdir()
    r2 = build_index([src], idx, embedder=embedder, chunk=ChunkSettings(), max_file_bytes=10**6, progress=False,
                     model_name=MODEL_NAME)
    assert os.path.realpath(idx) != first and r2.passages == r1.passages + 1
    assert old.store.count() == r1.passages  # the old build is still readable
    new = load_index(idx)
    assert new.size == 2
    assert not (idx.parent / "index.builds" / "build-x-999999.partial").exists()


def test_build_with_corrupt_pdf_reports_it(tmp_path, embedder):
    from indexer.build import build_index
    from indexer.chunk import ChunkSettings

    src = tmp_path / "src"
    (src / "reports").mkdir(parents=True)
    (src / "reports" / "broken.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(2000))
    (src / "reports" / "ok.pdf").write_bytes((SAMPLE / "reports" / "c5-facilitator-report-2024.pdf").read_bytes())
    r = build_index([src], tmp_path / "i", embedder=embedder, chunk=ChunkSettings(), max_file_bytes=10**7,
                    progress=False, model_name=MODEL_NAME)
    assert r.documents == {"action_line_report": 1}
    assert [f["source"] for f in r.failures] == ["reports/broken.pdf"]
    assert "PDF" in r.failures[0]["reason"]


def test_incremental_rebuild_reembeds_only_the_changed_document(tmp_path, embedder):
    import shutil

    from indexer.build import build_index
    from indexer.chunk import ChunkSettings
    from indexer.embed import EmbeddingCache
    from search_api.engine import Engine

    src = tmp_path / "src"
    shutil.copytree(SAMPLE, src)
    cache = EmbeddingCache(tmp_path / "cache" / "embeddings.sqlite", "test")
    kw = dict(embedder=embedder, chunk=ChunkSettings(), max_file_bytes=10**7, progress=False, model_name=MODEL_NAME,
              cache=cache)
    first = build_index([src], tmp_path / "index", **kw)
    assert first.embedded == first.passages and first.files_reused == 0
    t = src / "transcripts" / "igf-2023-day-1-of-45-digital-agriculture-for-smallholder-farmers.html"
    t.write_text(t.read_text().replace("Swahili and local languages", "Swahili, Luo and Kalenjin with drone-mapped plots"))
    (src / "reports" / "c9-facilitator-report-2024.pdf").unlink()
    second = build_index([src], tmp_path / "index", **kw)
    assert second.files_reused == first.files_read - 2  # the changed and the deleted file
    assert second.documents["action_line_report"] == 10
    doc_passages = [p for p in load_index(tmp_path / "index").store.doc_passages(
        "transcripts/igf-2023-day-1-of-45-digital-agriculture-for-smallholder-farmers.html")]
    changed = [p for p in doc_passages if "drone-mapped" in p.text]
    assert second.embedded == len(changed) == 1
    engine = Engine(load_index(tmp_path / "index"), embedder)
    res = engine.search("Kalenjin", k=1, mode="bm25")
    assert engine.doc_ids[res.hits[0].vid].endswith("smallholder-farmers.html")
    assert not engine.index.store.doc_passages("reports/c9-facilitator-report-2024.pdf")


def test_parallel_encoder_gives_the_same_vectors(embedder):
    from indexer.embed import ParallelEncoder

    texts = [f"Passage {i} about broadband, e-health and digital skills in district {i}." for i in range(40)]
    one = embedder.encode(texts)
    two = ParallelEncoder(embedder, workers=2, min_texts=10, chunk=8).encode_many(texts)
    assert two.shape == one.shape
    assert float(np.min(np.sum(one * two, axis=1))) > 0.999
