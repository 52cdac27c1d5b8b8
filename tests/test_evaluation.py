"""Retrieval metrics and fusion against hand-computed values, and an end-to-end run on a tiny BEIR set."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from search_api.fusion import Fusion, fuse_lists
from evaluation.retrieval import Dataset, compare, mrr_at, ndcg_at, recall_at, run_collection, score_run


def test_ndcg_recall_mrr_by_hand():
    rels = {"a": 2, "b": 1, "c": 1}
    ranked = ["x", "a", "b"]
    dcg = (2**2 - 1) / math.log2(3) + 1 / math.log2(4)
    idcg = 3 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at(ranked, rels, 10) == pytest.approx(dcg / idcg)
    lin = (2 / math.log2(3) + 1 / math.log2(4)) / (2 + 1 / math.log2(3) + 1 / math.log2(4))
    assert ndcg_at(ranked, rels, 10, gain="linear") == pytest.approx(lin)
    assert recall_at(ranked, rels, 2) == pytest.approx(1 / 3)
    assert mrr_at(ranked, rels) == 0.5
    assert ndcg_at([], rels) == 0.0


def test_rrf_equals_hand_computed():
    fused = dict(fuse_lists(np.array([1, 2, 3]), np.array([.9, .8, .7]), np.array([3, 1]), np.array([5., 4.]),
                            Fusion("rrf", k=60)))
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[2] == pytest.approx(1 / 62)


def test_convex_equals_hand_computed():
    fused = fuse_lists(np.array([1, 2]), np.array([0.8, 0.4]), np.array([2, 3]), np.array([10.0, 2.0]),
                       Fusion("convex", 0.25))
    # dense normalised: 1 -> 1, 2 -> 0; bm25 normalised: 2 -> 1, 3 -> 0
    assert fused == [(2, 0.75), (1, 0.25), (3, 0.0)]


def test_tiny_collection_end_to_end(embedder, tmp_path):
    ds = Dataset("tiny", {"d1": "Solar panels power village wifi hotspots", "d2": "Telemedicine for island clinics",
                          "d3": "Mobile money for market traders"},
                 {"q1": "doctors consulting patients remotely", "q2": "market traders mobile money"},
                 {"q1": {"d2": 1}, "q2": {"d3": 1}})
    runs = run_collection(ds, embedder, tmp_path, progress=False)
    assert runs["dense"]["q1"][0] == "d2" and runs["bm25"]["q2"][0] == "d3"
    agg, per_query = score_run(runs["hybrid"], ds)
    assert agg["ndcg@10"] == 1.0 and set(per_query) == {"q1", "q2"}
    assert list(tmp_path.glob("tiny-*.npy"))  # embeddings cached on disk


def test_compare_prints_ok_and_fail(tmp_path):
    exp = tmp_path / "e.json"
    exp.write_text(json.dumps({"expected": {"s": {"bm25": {"ndcg@10": 0.5}}},
                               "goals": [{"text": "hybrid beats bm25", "dataset": "s", "system": "hybrid",
                                          "metric": "ndcg@10", "at_least_system": "bm25"}]}))
    lines = compare({"s": {"bm25": {"ndcg@10": 0.498}, "hybrid": {"ndcg@10": 0.4}}}, exp)
    assert lines[0].startswith("[OK]") and lines[1].startswith("[FAIL]")


@pytest.mark.shared
def test_wsis_eval_retrieval_command(capsys, tmp_path):
    """`wsis eval retrieval` on CISI (embeds 1,460 abstracts once, then cached)."""
    from conftest import SHARED

    from wsis_cli import main as cli

    out_json = tmp_path / "r.json"
    assert cli.main(["eval", "retrieval", "--datasets", "cisi", "--external", str(SHARED / "eval" / "external"),
                     "--json", str(out_json)]) == 0
    text = capsys.readouterr().out
    assert "[OK] goal: CISI hybrid not worse than BM25" in text
    r = json.loads(out_json.read_text())
    assert set(r["cisi"]) == {"bm25", "dense", "hybrid"}
    assert set(r["cisi"]["hybrid"]) >= {"ndcg@10", "recall@100", "mrr@10"}
    assert (tmp_path / "r.per_query.json").exists()


@pytest.mark.parametrize("method", ["convex", "rrf"])
def test_engine_fusion_arrays_equal_the_reference_lists(method):
    """The engine's vectorised fusion ranks and scores exactly as fuse_lists (what evaluation uses)."""
    from search_api.fusion import fuse_arrays

    rng = np.random.default_rng(1)
    for _ in range(30):
        d = rng.choice(500, 120, replace=False)
        ds = np.sort(rng.random(120))[::-1]
        b = rng.choice(500, 90, replace=False)
        bs = np.sort(rng.random(90) * 9)[::-1]
        ref = fuse_lists(d, ds, b, bs, Fusion(method, 0.35))
        got = fuse_arrays(d, ds, b, bs, Fusion(method, 0.35))
        assert got.ids.tolist() == [i for i, _ in ref]
        assert np.allclose(got.score, [s for _, s in ref])
        assert set(got.ids[got.dense_rank > 0].tolist()) == set(d.tolist())
