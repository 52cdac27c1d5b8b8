"""Action lines (declared / explicit / inferred, ranked, several per passage), the filters and facets that
use them, roles and SDG links, on the bundled corpus; the evaluation and its baselines."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLE, SHARED_CORPUS

from indexer.actionlines import CODES, parent_code
from indexer.tag import FILTER_THRESHOLD, Tagger, explicit_lines, filter_codes, ranked_lines, role_of
from wsis_cli import main as cli


@pytest.fixture(scope="module")
def tagger(built_index):
    return Tagger.load(Path(os.path.realpath(built_index[0])) / "tagger.npz")


def tag_text(tagger, embedder, text, declared=()):
    return tagger.tag(text, "", "", list(declared), tagger.scores(embedder.encode([text]), [text])[0])


def test_c11_recommendations_are_tagged(loaded):
    ps = loaded.store.doc_passages("reports/c11-facilitator-report-2024.pdf")
    recs = [p for p in ps if p.heading == "3. Recommendations"]
    assert recs
    for p in recs:
        assert p.role == "recommendation"
        assert p.action_lines[0] == {"line": "C11", "score": 1.0, "source": "declared", "primary": True}
    ach = [p for p in ps if p.heading == "1. Achievements"]
    assert ach and all(p.role == "achievement" for p in ach)


def test_community_radio_is_c9_first(loaded, tagger, embedder):
    for text in (("A community radio station run by volunteers broadcasts local news, call-in programmes and "
                  "public-service announcements in the district."),
                 ("Community radio stations give rural listeners a voice: local journalists produce news and talk "
                  "shows about the issues of their villages.")):
        tags = tag_text(tagger, embedder, text)["action_lines"]
        assert tags[0]["line"] == "C9" and tags[0]["source"] == "inferred" and tags[0]["primary"]
        # the server scores queries from their vector alone: same answer
        row = tagger.scores(embedder.encode([text]))[0]
        assert ranked_lines(row)[0][0] == "C9"


def test_cert_turn_is_inferred_c5(loaded, tagger, embedder):
    ps = loaded.store.doc_passages("transcripts/igf-2024-day-3-ws-212-cert-cooperation-against-cybercrime.html")
    turn = next(p for p in ps if p.speaker == "KOFI MENSAH")
    assert "Action Line" not in turn.text  # no explicit mention: the line must be inferred
    assert turn.action_lines[0]["line"] == "C5" and turn.action_lines[0]["source"] == "inferred"
    assert tag_text(tagger, embedder, turn.text)["action_lines"][0]["line"] == "C5"


def test_e_agriculture_entry_with_label_hidden(loaded, tagger, embedder):
    doc = loaded.store.document("stocktaking/2021/S050", with_text=True)
    assert doc["metadata"]["action_lines"] == ["C7.e-agriculture"]
    t = tag_text(tagger, embedder, doc["text"])
    assert t["action_lines"][0] == {**t["action_lines"][0], "line": "C7.e-agriculture", "source": "inferred"}
    assert all(s["source"] == "wsis-sdg-matrix" and s["via"] for s in t["sdgs"])
    assert "2.4" in {s["target"] for s in t["sdgs"]}  # e-agriculture -> SDG target 2.4 in the matrix


def test_tags_are_ranked_scored_and_multi_line(loaded):
    """Every stored tag list: scores in [0, 1]; declared (1.0) then explicit (0.9) then inferred by
    descending score; one primary, first; up to three lines beyond declared/explicit ones; distinct C-level
    lines among the inferred; and several lines for most entries."""
    order = {"declared": 0, "explicit": 1, "inferred": 2}
    multi = 0
    rows = loaded.store.con.execute("SELECT p.action_lines, d.kind FROM passages p JOIN documents d "
                                    "ON d.id = p.doc_id").fetchall()
    for tags_json, kind in rows:
        tags = json.loads(tags_json)
        assert tags and tags[0]["primary"] and not any(t["primary"] for t in tags[1:])
        assert all(0.0 <= t["score"] <= 1.0 for t in tags)
        assert [order[t["source"]] for t in tags] == sorted(order[t["source"]] for t in tags)
        inferred = [t for t in tags if t["source"] == "inferred"]
        assert [t["score"] for t in inferred] == sorted((t["score"] for t in inferred), reverse=True)
        assert all(t["score"] == 1.0 for t in tags if t["source"] == "declared")
        assert len(tags) <= 3 or not inferred
        parents = [parent_code(t["line"]) for t in inferred]
        assert len(parents) == len(set(parents))
        multi += kind == "stocktaking_entry" and len([t for t in tags if t["score"] >= FILTER_THRESHOLD]) > 1
    assert multi >= 10


def test_scores_are_probabilities_and_documents_have_ranked_tags(loaded, tagger, embedder):
    s = tagger.scores(embedder.encode(["broadband for rural schools", "cybersecurity strategy", ""]))
    assert s.shape == (3, len(CODES)) and (s >= 0).all() and (s <= 1).all()
    assert np.allclose(s.sum(axis=1), 1.0, atol=1e-5)
    doc = loaded.store.document("transcripts/igf-2023-day-2-dc-community-networks-last-mile-connectivity.html")
    tags = doc["metadata"]["action_line_tags"]
    assert tags[0]["primary"] and parent_code(tags[0]["line"]) == "C2"
    assert [t["score"] for t in tags] == sorted((t["score"] for t in tags), reverse=True)


def test_filter_and_facets_find_an_entry_under_its_secondary_line(engine):
    """An entry declared under one line and inferred under another (score >= the threshold of the index) is
    found by a filter on either, and counted under both by the facets; a line it scores below the threshold
    does not find it. On both backends (FAISS columns and the Milvus `lines` field)."""
    from search_api.facets import facets
    from search_api.filters import Filters, filter_threshold

    thr = filter_threshold(engine.index.manifest)
    assert thr == FILTER_THRESHOLD
    case = None
    for vid in range(engine.n):
        if engine.cols.kinds[vid] != "stocktaking_entry":
            continue
        tags = engine.index.store.passages([vid])[vid].action_lines
        second = [t for t in tags[1:] if t["source"] == "inferred" and t["score"] >= thr]
        low = [t for t in tags if t["score"] < thr]
        if tags[0]["source"] == "declared" and second and low:
            case = (vid, tags[0]["line"], second[0]["line"], low[0]["line"])
            break
    assert case, "no entry with a declared line, an inferred secondary line and a weak third line"
    vid, primary, secondary, weak = case
    doc = engine.doc_ids[vid]
    title = engine.index.store.document(doc)["title"]
    for line in (primary, secondary):
        res = engine.search(title, k=20, filters=Filters(action_lines=(line,)))
        assert doc in {engine.doc_ids[h.vid] for h in res.hits}, (line, doc)
    res = engine.search(title, k=50, filters=Filters(action_lines=(weak,)))
    assert doc not in {engine.doc_ids[h.vid] for h in res.hits}
    counted = facets(engine.cols, np.array([vid]))["action_line"]
    assert primary in counted and secondary in counted and weak not in counted


def test_filter_codes_threshold():
    tags = [{"line": "C3", "score": 1.0, "source": "declared"}, {"line": "C7.e-health", "score": 0.4,
            "source": "inferred"}, {"line": "C9", "score": 0.1, "source": "inferred"}]
    assert filter_codes(tags, 0.15) == ["C3", "C7.e-health"]
    assert filter_codes(tags, 0.0) == ["C3", "C7.e-health", "C9"]
    assert len(filter_codes([{"line": "C7", "score": 1.0}], 0.5)) == 8  # a bare C7: every sub-line


def test_explicit_mentions():
    assert explicit_lines("This supports Action Line C5 and action lines C1, C3 and C7 e-health.") == \
        ["C5", "C1", "C3", "C7.e-health"]
    assert explicit_lines("C7 e-agriculture facilitated by FAO") == ["C7.e-agriculture"]
    assert explicit_lines("Vitamin C5 tablets") == []


def test_declared_and_explicit_lines_come_first(tagger, embedder):
    text = "This supports Action Line C5: national CERTs share incident reports."
    t = tag_text(tagger, embedder, text, declared=["C11"])["action_lines"]
    assert [(x["line"], x["source"], x["score"]) for x in t[:2]] == [("C11", "declared", 1.0),
                                                                     ("C5", "explicit", 0.9)]
    assert all(parent_code(x["line"]) not in {"C11", "C5"} for x in t[2:])
    # a declared bare C7 is made precise by its most likely sub-line
    t = tag_text(tagger, embedder, "Telemedicine for remote islands.", declared=["C7"])["action_lines"]
    assert t[0]["line"] == "C7" and "C7.e-health" in [x["line"] for x in t]


@pytest.mark.parametrize("text,heading,role", [
    ("Anything at all.", "2. Challenges", "challenge"),
    ("We recommend that governments fund community networks and regulators should open spectrum.", "", "recommendation"),
    ("The main challenge remains the lack of electricity and the high cost of devices, a barrier for many.", "",
     "challenge"),
    ("The programme successfully trained 6,500 teachers and connected 400 schools since 2019.", "", "achievement"),
    ("We will expand the service to ten more districts by 2027 and we commit to open data.", "", "commitment"),
    ("The session started at ten in room B.", "", "none"),
])
def test_roles(text, heading, role):
    assert role_of(text, heading)[0] == role


def test_saved_tagger_reads_back_and_old_format_loads(tagger, embedder, tmp_path):
    v = embedder.encode(["digital skills for teachers", "open data portal"])
    tagger.save(tmp_path / "t.npz")
    again = Tagger.load(tmp_path / "t.npz")
    assert np.allclose(again.scores(v), tagger.scores(v), atol=1e-6)
    with np.load(tmp_path / "t.npz", allow_pickle=False) as z:  # no object arrays: no pickle
        assert all(z[k].dtype != object for k in z.files)
    # format 1 (tagger 1.x): one logistic head blended with the zero-shot similarities
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "old.npz", desc_vectors=tagger.desc_vectors, params=np.array([0.35, 0.2, 0.04, 0.7, 8.0]),
             coef=rng.normal(size=(len(CODES), v.shape[1])).astype(np.float32),
             intercept=np.zeros(len(CODES), np.float32))
    old = Tagger.load(tmp_path / "old.npz")
    s = old.scores(v)
    assert old.blend == pytest.approx(0.7) and np.allclose(s.sum(axis=1), 1.0, atol=1e-5)


def test_zero_shot_without_labelled_documents(tmp_path, embedder):
    """A corpus where no document declares a line (IGF transcripts only): the tagger stays zero-shot, and
    passages and documents still get ranked lines."""
    from indexer.build import build_index
    from indexer.chunk import ChunkSettings
    from indexer.index import load_index

    src = tmp_path / "src"
    src.mkdir()
    shutil.copytree(SAMPLE / "transcripts", src / "transcripts")
    build_index([src], tmp_path / "index", embedder=embedder, chunk=ChunkSettings(), max_file_bytes=30_000_000,
                progress=False, model_name="m")
    idx = load_index(tmp_path / "index")
    assert idx.manifest["tagger"]["classifier_fitted"] is False and idx.tagger.model is None
    ps = idx.store.doc_passages("transcripts/igf-2024-day-3-ws-212-cert-cooperation-against-cybercrime.html")
    assert all(p.action_lines and p.action_lines[0]["primary"] for p in ps)
    assert "C5" in {p.action_lines[0]["line"] for p in ps}
    assert idx.store.document(ps[0].doc_id)["metadata"]["action_line_tags"][0]["line"] == "C5"


def test_wsis_tag_cli(built_index, monkeypatch, capsys):
    monkeypatch.setenv("WSIS_INDEX_DIR", str(built_index[0]))
    from indexer.settings import get_settings

    get_settings.cache_clear()
    lines = [{"id": 1, "text": "Telemedicine lets nurses on remote islands consult doctors by video."},
             {"id": "x", "text": "We recommend a national cybersecurity strategy and a funded CERT."}]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(json.dumps(x) for x in lines) + "\n"))
    assert cli.main(["tag"]) == 0
    out = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [o["id"] for o in out] == [1, "x"]
    assert out[0]["action_lines"][0]["line"] == "C7.e-health"
    assert out[1]["action_lines"][0]["line"] == "C5" and out[1]["role"] == "recommendation"
    for o in out:
        assert set(o) == {"id", "action_lines", "role", "sdgs"}
        assert all(set(t) == {"line", "score", "source", "primary"} for t in o["action_lines"])
        assert 1 <= len(o["action_lines"]) <= 3 and o["action_lines"][0]["primary"]
    monkeypatch.setattr("sys.stdin", io.StringIO("not json\n"))
    assert cli.main(["tag"]) == 2
    get_settings.cache_clear()


# ------------------------------------------------------------------ evaluation

def synthetic_sets(seed=1, per_class=15, dim=16, separable=0.15, counts=None):
    """Embedded sets in the shape evaluation.tagging uses, with separable classes."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(CODES), dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    counts = counts or {c: per_class for c in CODES}
    ty = [c for c in CODES for _ in range(counts[c])]
    tx = np.vstack([centres[CODES.index(c)] + separable * rng.normal(size=dim) for c in ty]).astype(np.float32)
    tx /= np.linalg.norm(tx, axis=1, keepdims=True)
    desc = rng.normal(size=(len(CODES), dim)).astype(np.float32)  # descriptions unrelated to the classes
    desc /= np.linalg.norm(desc, axis=1, keepdims=True)
    return {"tx": tx, "ty": ty, "ttext": [f"entry {i}" for i in range(len(ty))], "ex": np.zeros((0, dim), np.float32),
            "ey": [], "etext": [], "egroups": [], "protos": (np.zeros((0, dim), np.float32), []), "desc": desc}


def test_baselines_are_computed_on_the_folds():
    """The trivial baselines come from the training folds' labels: C7 (its sub-lines summed) is the most
    frequent line, so 'most frequent' scores C7's share; 'plus two' adds C5 and C2 and scores their share at
    top-3. The plain logistic regression is fitted: on separable classes its best sub-line is near perfect."""
    from evaluation import tagging as ev

    counts = {c: 5 for c in CODES}
    counts.update({"C5": 24, "C2": 16, "C1": 10})
    S = synthetic_sets(counts=counts)
    m = ev.cross_validate(S, seed=0, folds=3, systems=ev.BASELINES)["metrics"]
    n = sum(counts.values())
    c7 = sum(v for c, v in counts.items() if c.startswith("C7."))  # C7's sub-lines add up: 40 > 24
    assert m["most_frequent"]["top1_c_level"] == pytest.approx(round(c7 / n, 4))
    assert m["most_frequent_plus_two"]["top3_c_level"] == pytest.approx(round((c7 + 24 + 16) / n, 4))
    assert m["most_frequent_plus_two"]["top1_c_level"] == m["most_frequent"]["top1_c_level"]
    assert m["plain_logreg_minilm"]["top1_c_level_best_subline"] > 0.9
    lists = ev.prior_tags(["C2", "C2", "C9", "C7.e-health"], n=2, k=2)
    assert [t["line"] for t in lists[0]] == ["C2", "C7.e-health"] and lists[0][0]["score"] == 0.5


def test_metrics_read_the_ranked_tags():
    from evaluation import tagging as ev

    tags = [[{"line": "C7.e-health", "score": 0.6}, {"line": "C1", "score": 0.3}, {"line": "C9", "score": 0.1}],
            [{"line": "C3", "score": 0.5}, {"line": "C4", "score": 0.4}, {"line": "C8", "score": 0.1}]]
    m = ev.metrics(["C7.e-learning", "C8"], tags)
    assert m["top1_c_level"] == 0.5 and m["top1_subline"] == 0.0
    assert m["top2_c_level"] == 0.5 and m["top3_c_level"] == 1.0 and m["top1_non_c7"] == 0.0
    assert m["ece"] == pytest.approx((abs(0.6 - 1) + abs(0.5 - 0)) / 2)


def test_learning_curve_rows():
    """The curve refits the tagger on n entries per line from the training folds; with synthetic,
    separable classes it must rise from the description-only fit to the full one."""
    from evaluation import tagging as ev

    rows = ev.learning_curve(synthetic_sets(), "emb", folds=3, sizes=(0, 9))
    assert [r["entries_per_line"] for r in rows] == [0, 9]
    assert rows[1]["top1_subline"] > rows[0]["top1_subline"] + 0.5


@pytest.mark.shared
def test_eval_tagging_beats_the_baselines(embedder):
    """On the real labelled 2021 entries, cross-validated: the baselines are what the labels say, and the
    index's tagger beats the plain logistic regression on MiniLM vectors at C-level top-1 and top-3."""
    from evaluation import tagging as ev
    from indexer.tag_model import DEFAULT_FAMILY

    sets = ev.load_sets(SHARED_CORPUS)
    assert len(sets["test"]) == 270 and len(sets["prototypes"]) > 100
    assert not {t for t, _ in sets["test"]} & {t for t, _ in sets["extra"]}  # no test entry on the training side
    S = ev.embed_sets(sets, embedder)
    m = ev.cross_validate(S, seed=0, systems=ev.BASELINES + (DEFAULT_FAMILY,))["metrics"]
    share_c7 = sum(c.startswith("C7.") for c in S["ty"]) / len(S["ty"])
    assert m["most_frequent"]["top1_c_level"] == pytest.approx(round(share_c7, 4))
    ours, plain = m[DEFAULT_FAMILY], m["plain_logreg_minilm"]
    assert ours["top1_c_level"] > plain["top1_c_level"] and ours["top3_c_level"] > plain["top3_c_level"]
    assert ours["top3_c_level"] > m["most_frequent_plus_two"]["top3_c_level"]
    assert ours["ece"] < 0.12
