"""Over the real documents in ../shared/corpus_sources (skipped when absent): every file is read with
zero failures, the document counts are the expected ones, and ids match the evaluation's ids."""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import MODEL_NAME, SHARED, SHARED_CORPUS

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def shared_docs():
    from indexer.parsers import read_source

    return read_source(SHARED_CORPUS)


def test_every_file_read_and_expected_counts(shared_docs):
    res = shared_docs
    assert res.failures == []
    assert sorted(f.source for f in res.skipped) == ["MANIFEST.tsv", "README.md"]
    groups = Counter()
    for d in res.documents:
        if d.kind == "stocktaking_entry":
            groups[d.id.rsplit("/", 1)[0]] += 1
        else:
            groups[d.id.split("/")[0] if "#" not in d.id else d.id.split("#")[0]] += 1
    assert groups == {
        "igf_transcripts": 35, "stocktaking/2021": 360, "stocktaking/2015": 302,
        "wsis_sdg_matrix/actions.json": 18, "wsis_sdg_matrix/sdgs.json": 17, "seed": 1, "secondary": 49,
    }
    assert len(res.documents) == 782
    partial = [d for d in res.documents if d.metadata.get("partial")]
    assert len(partial) == 1


def test_ids_match_the_evaluation_judgements(shared_docs):
    ids = {d.id for d in shared_docs.documents}
    qrels = (SHARED / "eval" / "wsis" / "qrels" / "test.tsv").read_text().splitlines()[1:]
    judged = {line.split("\t")[1] for line in qrels if line.strip()}
    assert judged and judged <= ids, sorted(judged - ids)[:10]


def test_known_records(shared_docs):
    docs = {d.id: d for d in shared_docs.documents}
    assert docs["stocktaking/2015/132"].title == "Investigating DNS Abuse/Misuse for Public Safety Community"
    assert docs["stocktaking/2015/132"].metadata["action_lines"] == ["C5"]
    seed = docs["seed/wsis10_C11_executive_summary.txt"]
    assert seed.metadata["action_lines"] == ["C11"] and seed.metadata["facilitator"] == "UNDESA"
    assert {"1. Achievements", "2. Challenges", "3. Recommendations"} <= {s.heading for s in seed.sections}
    labelled = [d for d in docs.values() if d.id.startswith("stocktaking/2021/") and d.metadata.get("action_lines")]
    assert len(labelled) == 270
    assert docs["wsis_sdg_matrix/actions.json#12"].metadata["action_lines"] == ["C7.e-agriculture"]
    t = docs["igf_transcripts/igf-2020-day-6-ws317-dns-abuse-in-the-age-of-covid-19-lessons-learned.txt"]
    assert t.year == 2020 and t.metadata["speakers"] and all(s.text for s in t.sections)


def test_build_over_shared_corpus(tmp_path, embedder):
    from indexer.build import build_index
    from indexer.chunk import ChunkSettings
    from indexer.index import load_index

    r = build_index([SHARED_CORPUS], tmp_path / "index", embedder=embedder, chunk=ChunkSettings(),
                    max_file_bytes=30_000_000, progress=False, model_name=MODEL_NAME)
    assert r.failures == []
    assert r.documents == {"action_line_report": 1, "igf_transcript": 35, "reference": 84, "stocktaking_entry": 662}
    loaded = load_index(tmp_path / "index", expected_model=MODEL_NAME)
    assert loaded.size == r.passages > 3000
