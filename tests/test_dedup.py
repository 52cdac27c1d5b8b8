"""Near-duplicate passages: the exact Jaccard threshold, and a build where a twin borrows its vector."""

from __future__ import annotations

import numpy as np
from conftest import MODEL_NAME

from indexer.dedup import jaccard, near_duplicates, shingles

WORDS = [f"w{i}" for i in range(100)]


def _text(replace: dict[int, str] | None = None) -> str:
    w = list(WORDS)
    for i, new in (replace or {}).items():
        w[i] = new
    return " ".join(w)


def test_threshold_is_the_exact_shingle_jaccard():
    a, b = _text(), _text({50: "other"})
    # 97 four-word shingles each; changing one middle word replaces 4 of them: 93 / (97 + 97 - 93)
    assert len(shingles(a)) == 97
    assert jaccard(shingles(a), shingles(b)) == 93 / 101
    assert near_duplicates([a, b], threshold=0.92) == {1: 0}
    assert near_duplicates([a, b], threshold=0.93) == {}
    assert near_duplicates([a, b], threshold=0) == {}  # off


def test_duplicates_point_at_kept_passages_and_short_texts_never_merge():
    a = _text()
    b = _text({10: "x"})
    c = _text({10: "x", 80: "y"})  # closest to b, which is itself a duplicate of a
    unrelated = " ".join(f"u{i}" for i in range(100))
    found = near_duplicates([a, b, unrelated, c], threshold=0.8)
    assert found == {1: 0, 3: 0}
    assert near_duplicates(["Thank you.", "Thank you."], threshold=0.5) == {}


def test_build_embeds_a_near_duplicate_once(tmp_path, embedder):
    from indexer.build import build_index
    from indexer.chunk import ChunkSettings
    from indexer.index import load_index

    body = ("Community networks built by local cooperatives connected forty villages in the highlands, "
            "and the regulator set aside spectrum for them after a two year pilot with the ministry. ") * 3
    src = tmp_path / "src"
    src.mkdir()
    (src / "edited.md").write_text(f"# Community networks\n\n{body}\n")
    (src / "raw.md").write_text(f"# Community networks\n\n{body.replace('forty', '40', 1)}\n")
    (src / "other.md").write_text("# Health\n\nTelemedicine links island clinics to hospitals on the mainland.\n")
    common = dict(embedder=embedder, chunk=ChunkSettings(), max_file_bytes=10**6, progress=False,
                  model_name=MODEL_NAME)
    r = build_index([src], tmp_path / "i", near_duplicate_jaccard=0.8, **common)
    assert r.passages == 3 and r.near_duplicates == 1 and r.embedded == 2
    idx = load_index(tmp_path / "i")
    emb = np.asarray(idx.embeddings)
    rows = idx.store.passages([0, 1, 2])
    texts = [rows[i].text for i in range(3)]
    twin = [i for i, t in enumerate(texts) if "40" in t][0]
    first = [i for i, t in enumerate(texts) if "forty" in t][0]
    assert np.array_equal(emb[twin], emb[first])  # the vector is borrowed, the text is its own
    # with every passage's own vector in the cache, the twin still borrows: the index depends on the corpus only
    from indexer.embed import EmbeddingCache

    cache = EmbeddingCache(tmp_path / "cache" / "e.sqlite", "test")
    r_off = build_index([src], tmp_path / "j", near_duplicate_jaccard=0, cache=cache, **common)
    assert r_off.near_duplicates == 0 and r_off.embedded == 3
    assert not np.array_equal(np.asarray(load_index(tmp_path / "j").embeddings)[twin], emb[first])
    r_again = build_index([src], tmp_path / "k", near_duplicate_jaccard=0.8, cache=cache, **common)
    assert r_again.embedded == 0 and r_again.near_duplicates == 1 and r_again.reused == 2
    assert np.array_equal(np.asarray(load_index(tmp_path / "k").embeddings), emb)
    cache.close()
