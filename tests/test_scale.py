"""Serving at scale: build-time columns memory-mapped at load, compact (8-bit) HNSW vectors, and several server
worker processes sharing conversations and rate limits."""

from __future__ import annotations

import os
import time

import httpx
import numpy as np
import pytest

from conftest import MODEL_NAME


def test_columns_read_from_the_build_equal_columns_computed_from_the_store(loaded):
    from indexer.columns import filter_threshold
    from search_api.filters import Columns

    assert isinstance(loaded.columns.years, np.memmap)  # read from the build's files, not recomputed
    mapped = Columns(loaded.columns)
    fresh = Columns(store=loaded.store, line_threshold=filter_threshold(loaded.manifest))
    assert mapped.n == fresh.n == loaded.size
    for name in ("doc_ids", "kinds", "roles", "countries", "stakeholders", "organisations"):
        assert getattr(mapped, name).tolist() == getattr(fresh, name).tolist(), name
    for name in ("years", "substance", "line_masks", "primary", "kind_codes", "role_codes"):
        assert np.array_equal(np.asarray(getattr(mapped, name)), np.asarray(getattr(fresh, name))), name
    assert mapped.kind_names == fresh.kind_names and mapped.role_names == fresh.role_names
    assert mapped.speaker_names == fresh.speaker_names and mapped.speaker_names
    for s in mapped.speaker_names:
        assert mapped.speaker_passages(s).tolist() == fresh.speaker_passages(s).tolist()
    assert mapped.speaker_passages("NOBODY AT ALL").tolist() == []


def test_columns_of_another_threshold_are_recomputed(built_index, loaded):
    from indexer.columns import read_columns

    assert read_columns(built_index[0], loaded.columns.line_threshold) is not None
    assert read_columns(built_index[0], loaded.columns.line_threshold + 0.2) is None


def test_coded_column_behaves_like_an_object_array():
    from indexer.columns import Coded

    col = Coded(np.array([1, 0, 1, 2], dtype=np.int32), ["b", "a", "c"])
    assert col[0] == "a" and col[3] == "c" and len(col) == 4
    assert col[np.array([0, 1])].tolist() == ["a", "b"]
    assert col.tolist() == ["a", "b", "a", "c"] and list(col.astype(str)) == ["a", "b", "a", "c"]
    assert col.values_where(lambda v: v in ("a", "c")).tolist() == [True, False, True, True]


def test_compact_hnsw_is_written_mapped_and_finds_neighbours(tmp_path):
    from indexer.index import IndexWriter, read_vectors

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(50, 64)).astype(np.float32)
    x = centres[rng.integers(0, 50, 4000)] + rng.normal(0, 0.3, size=(4000, 64)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    w = IndexWriter(tmp_path / "index")
    info = w.write_vectors(x, hnsw_threshold=1000, sq8_threshold=3000)
    assert info["type"] == "IndexHNSWSQ" and info["quantizer"] == "QT_8bit"
    assert info["recall@10_vs_flat"] >= 0.9
    flat_size = x.nbytes
    assert (w.dir / "vectors.faiss").stat().st_size < 0.5 * flat_size + 4000 * 32 * 2 * 4  # codes: 1 byte/dim
    index = read_vectors(w.dir / "vectors.faiss", info)
    q = x[:50]
    _, got = index.search(q, 10)
    exact = np.argsort(-(q @ x.T), axis=1)[:, :10]
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, got)]) >= 0.9
    # as the engine searches: the 8-bit candidates re-scored with the full vectors, so scores are exact
    from indexer.passage_index import FaissPassageIndex

    pidx = FaissPassageIndex(index, x, keyword=None, hnsw=True, rescore=True)
    ids, scores = pidx.dense(q[0], 50, None)
    assert np.allclose(scores, x[ids] @ q[0], atol=1e-6) and np.all(np.diff(scores) <= 0)
    assert len(set(ids[:10].tolist()) & set(exact[0].tolist())) >= 9
    # below the threshold: HNSW over full vectors
    assert IndexWriter(tmp_path / "other").write_vectors(x, hnsw_threshold=1000, sq8_threshold=5000)["type"] \
        == "IndexHNSWFlat"


def _turn(text: str):
    from search_api.conversation import Turn
    from search_api.filters import Filters
    from search_api.question import Entity, Question

    q = Question(text=text, intent="challenge", role="challenge",
                 entities=(Entity("country", "kenya", "Kenya"),), topic=("farmers", "prices"), names=("Kenya",),
                 kinds=("stocktaking_entry",))
    return Turn(question=text, understood=q, filters=Filters(kinds=("stocktaking_entry",), year_from=2020))


def test_shared_conversations_are_seen_by_every_process(tmp_path):
    from search_api.conversation import SharedConversations

    path = tmp_path / "state" / "conversations.sqlite"
    a, b = SharedConversations(path), SharedConversations(path)  # two worker processes' handles
    conv = a.get_or_create(None)
    a.add(conv, _turn("How do farmers in Kenya get prices?"))
    seen = b.get_or_create(conv.id)
    assert seen.id == conv.id and len(seen.turns) == 1
    assert seen.turns[0] == _turn("How do farmers in Kenya get prices?")  # the whole turn survives the file
    assert b.get_or_create("made-up-by-a-client").id != "made-up-by-a-client"  # ids are the server's own


def test_shared_conversations_are_bounded_in_number_age_and_turns(tmp_path):
    from search_api.conversation import SharedConversations

    c = SharedConversations(tmp_path / "c.sqlite", max_count=3, max_age_s=3600, max_turns=2)
    ids = [c.get_or_create(None).id for _ in range(10)]
    assert len(c) == 3 and c.get_or_create(ids[-1]).id == ids[-1] and c.get_or_create(ids[0]).id != ids[0]
    conv = c.get_or_create(ids[-1])
    for i in range(5):
        c.add(conv, _turn(f"question {i}"))
    assert [t.question for t in c.get_or_create(ids[-1]).turns] == ["question 3", "question 4"]
    old = SharedConversations(tmp_path / "c.sqlite", max_age_s=0.05)
    time.sleep(0.1)
    assert old.get_or_create(ids[-1]).id != ids[-1]  # expired


def test_shared_rate_limit_is_one_budget_across_processes(tmp_path):
    from search_api.guards import SharedTokenBuckets

    path = tmp_path / "rate.sqlite"
    a, b = SharedTokenBuckets(path, per_minute=6, burst=3), SharedTokenBuckets(path, per_minute=6, burst=3)
    got = [x.allow("client")[0] for x in (a, b, a, b)]
    assert got == [True, True, True, False]
    ok, retry = b.allow("client")
    assert not ok and 0 < retry <= 10
    assert a.allow("someone else")[0]


@pytest.fixture(scope="module")
def two_workers(built_index, tmp_path_factory):
    from evaluation.localserver import start, stop

    state = tmp_path_factory.mktemp("state")
    env = {**os.environ, "WSIS_INDEX_DIR": str(built_index[0]), "HF_HUB_OFFLINE": "1", "WSIS_STATE_DIR": str(state),
           "WSIS_ASK_RATE_PER_MINUTE": "0"}
    proc, base = start(env, args=("--workers", "2"))
    yield base, proc, state
    stop(proc)


def _ready_pids(base: str, want: int, tries: int = 400) -> set[int]:
    pids: set[int] = set()
    for _ in range(tries):
        r = httpx.get(base + "/health", timeout=10)  # a new connection each time: either worker may accept it
        if r.json().get("encoder") == "ready":
            pids.add(r.json()["worker_pid"])
        if len(pids) >= want:
            break
        time.sleep(0.02)
    return pids


def test_two_workers_serve_and_share_conversations(two_workers):
    base, proc, state = two_workers
    pids = _ready_pids(base, 2)
    assert len(pids) == 2 and proc.pid not in pids  # two worker processes under one supervisor
    first = httpx.post(base + "/ask", json={"question": "How do farmers get market prices and weather information?"},
                       timeout=60).json()
    cid = first["conversation_id"]
    seen = set()
    for _ in range(6):  # follow-ups on new connections: whichever worker answers knows the conversation
        r = httpx.post(base + "/ask", json={"question": "and in Kenya?", "conversation_id": cid}, timeout=60).json()
        assert r["conversation_id"] == cid and r["query_run"]["follow_up"] is True
        assert "farmers" in r["query_run"]["text"]
    assert (state / "conversations.sqlite").exists()
    # responses leave without waiting for the client's delayed ACK (TCP_NODELAY on the workers' connections:
    # without it every keep-alive response took ~40 ms more)
    with httpx.Client(timeout=10) as c:
        times = []
        for _ in range(12):
            t = time.perf_counter()
            c.get(base + "/health")
            times.append(time.perf_counter() - t)
    assert sorted(times)[6] < 0.030, times
    for _ in range(20):
        seen.add(httpx.get(base + "/search", params={"q": "community networks"}, timeout=30).status_code)
    assert seen == {200}


def test_cli_refuses_zero_workers(built_index, capsys, monkeypatch):
    from indexer.settings import get_settings
    from wsis_cli.main import main

    monkeypatch.setenv("WSIS_INDEX_DIR", str(built_index[0]))
    get_settings.cache_clear()
    try:
        assert main(["serve", "--workers", "0"]) == 2
    finally:
        get_settings.cache_clear()
    assert "--workers" in capsys.readouterr().err


def test_loaded_index_checks_column_count(built_index, tmp_path):
    import shutil

    from indexer.index import IndexError_, load_index

    copy = tmp_path / "copy"
    shutil.copytree(os.path.realpath(built_index[0]), copy)
    years = np.load(copy / "columns" / "years.npy")
    np.save(copy / "columns" / "years.npy", years[:-1])
    with pytest.raises(IndexError_, match="columns"):  # the checksum catches it first; either way: refused
        load_index(copy, expected_model=MODEL_NAME)


def test_sighup_replaces_the_workers_and_a_dead_worker_is_restarted(two_workers):
    import signal

    base, proc, _ = two_workers
    before = _ready_pids(base, 2)
    assert len(before) == 2
    os.kill(proc.pid, signal.SIGHUP)  # the supervisor replaces each worker, new one ready before the old goes
    deadline, codes, now = time.time() + 120, set(), set()
    while time.time() < deadline:
        codes.add(httpx.get(base + "/search", params={"q": "community networks"}, timeout=30).status_code)
        now = _ready_pids(base, 2, tries=50)
        if now and not (now & before) and len(now) == 2:
            break
    assert now and not (now & before), (before, now)
    assert codes == {200}  # served throughout
    victim = next(iter(now))
    os.kill(victim, signal.SIGKILL)
    deadline, after = time.time() + 120, set()
    while time.time() < deadline:
        after = _ready_pids(base, 2, tries=50)
        if len(after) == 2 and victim not in after:
            break
    assert len(after) == 2 and victim not in after
