"""`wsis build`: parse every source, chunk, tag, embed, and write a new index, swapped in atomically."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .chunk import ChunkSettings, chunk_document
from .columns import write_store_columns
from .index import IndexWriter
from .keyword import BM25_PARAMS, KeywordIndex
from .models import Document, Passage
from .parsers import read_source
from .parsers.common import sha256
from .store import create, insert_document, insert_passage
from .substance import substance
from .tag import FILTER_THRESHOLD
from .tag_stage import tag_passages, training_labels  # noqa: F401  (training_labels: used by evaluation)

log = logging.getLogger(__name__)


@dataclass
class BuildReport:
    documents: dict[str, int] = field(default_factory=dict)
    passages: int = 0
    failures: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    files_read: int = 0
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    passages_per_second: float = 0.0
    index_path: str = ""
    build_id: str = ""
    embedded: int = 0
    reused: int = 0
    near_duplicates: int = 0
    files_reused: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "documents": self.documents, "documents_total": sum(self.documents.values()),
            "passages": self.passages, "failures": self.failures, "skipped": self.skipped,
            "files_read": self.files_read, "seconds": round(self.seconds, 2),
            "stage_seconds": {k: round(v, 2) for k, v in self.stage_seconds.items()},
            "passages_per_second": round(self.passages_per_second, 2), "index": self.index_path,
            "build_id": self.build_id, "embedded": self.embedded, "reused_embeddings": self.reused,
            "near_duplicates": self.near_duplicates,
            "files_reused": self.files_reused,
        }


def embed_text(doc: Document, p: Passage) -> str:
    """What the encoder and BM25 see: the passage with its document title and heading for context."""
    if doc.kind == "stocktaking_entry":
        return p.text
    head = f"{doc.title}. {p.heading}." if p.heading and p.heading not in ("Title", "Description") else f"{doc.title}."
    return f"{head} {p.text}"


def passage_speakers(doc: Document, p: Passage) -> list[str]:
    """Everyone with a turn inside the passage's span, in order of first appearance."""
    return list(dict.fromkeys(s.speaker for s in doc.sections
                              if s.speaker and s.start < p.end and s.end > p.start))


def build_index(sources: list[Path], index_path: Path, *, embedder, chunk: ChunkSettings, max_file_bytes: int,
                keep_builds: int = 2, progress: bool = True, model_name: str = "", cache=None,
                hnsw_threshold: int = 20_000, hnsw_sq8_threshold: int = 500_000, hnsw_ef_search: int = 512,
                backend: str = "faiss", milvus_uri: str = "",
                milvus_token: str = "", embed_workers: int = 1, milvus_bm25: str = "client",
                near_duplicate_jaccard: float = 0.0, query_encoder: str = "auto",
                tag_filter_threshold: float = FILTER_THRESHOLD) -> BuildReport:
    """`cache` is an EmbeddingCache (or None to embed everything). A passage whose word-shingle Jaccard
    similarity to an earlier one is >= `near_duplicate_jaccard` (0: off) borrows that passage's vector
    instead of being embedded (see indexer.dedup). `query_encoder` "auto" also writes the checked ONNX
    export of the model that the server encodes queries with ("torch": none)."""
    from tqdm import tqdm

    report = BuildReport()
    t0 = time.perf_counter()

    # parse
    docs: list[Document] = []
    seen: dict[str, str] = {}
    for src in sources:
        res = read_source(Path(src), max_bytes=max_file_bytes,
                          cache_dir=(cache.path.parent / "parsed") if cache else None)
        report.files_read += res.files_read
        report.files_reused += res.files_reused
        report.failures += [{"source": f"{src}/{f.source}" if len(sources) > 1 else f.source, "reason": f.reason}
                            for f in res.failures]
        report.skipped += [{"source": f.source, "reason": f.reason} for f in res.skipped]
        for d in res.documents:
            if d.id in seen:
                report.failures.append({"source": d.source, "reason": f"document id {d.id!r} already read from {seen[d.id]}"})
                continue
            seen[d.id] = str(src)
            docs.append(d)
    report.documents = dict(sorted(Counter(d.kind for d in docs).items()))
    t1 = time.perf_counter()
    report.stage_seconds["parse"] = t1 - t0

    # chunk
    pairs: list[tuple[Document, Passage]] = []
    for d in docs:
        pairs += [(d, p) for p in chunk_document(d, chunk)]
    if not pairs:
        raise RuntimeError("no passages to index (no readable documents); the current index is left as it is")
    t2 = time.perf_counter()
    report.stage_seconds["chunk"] = t2 - t1

    # embed: reuse cached vectors of unchanged texts, embed identical texts once, let near-duplicates
    # borrow their earlier twin's vector; the rest longest first, so that batches hold texts of
    # similar length
    from .dedup import near_duplicates
    from .embed import ParallelEncoder

    texts = [embed_text(d, p) for d, p in pairs]
    hashes = [sha256(t) for t in texts]
    vectors = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    cached = cache.get_many(hashes) if cache else {}
    first_of: dict[str, int] = {}
    for i, h in enumerate(hashes):
        first_of.setdefault(h, i)
    # A twin borrows whether or not its own vector is cached, so that the index depends on the corpus
    # only, never on what an earlier build left in the cache.
    near = {i: j for i, j in near_duplicates(texts, near_duplicate_jaccard).items() if first_of[hashes[i]] == i}
    todo_hashes: dict[str, int] = {}
    for i, h in enumerate(hashes):
        if i in near or first_of[h] != i:
            continue
        if h in cached:
            vectors[i] = cached[h]
        else:
            todo_hashes[h] = i
    todo = sorted(todo_hashes.values(), key=lambda i: -len(texts[i]))
    with tqdm(total=len(todo), desc="embedding", unit="passage", disable=not progress) as bar:
        vecs = ParallelEncoder(embedder, embed_workers).encode_many([texts[j] for j in todo], progress=bar.update)
    if todo:
        vectors[todo] = vecs
        if cache:
            cache.put_many([(hashes[j], v) for j, v in zip(todo, vecs)])
    for i in sorted(near):  # a twin always points at an earlier kept passage, which has its vector now
        vectors[i] = vectors[near[i]]
    for i, h in enumerate(hashes):
        if first_of[h] != i:
            vectors[i] = vectors[first_of[h]]
    report.embedded = len(todo)
    report.near_duplicates = len(near)
    report.reused = len(texts) - len(todo) - len(near)
    t3 = time.perf_counter()
    report.stage_seconds["embed"] = t3 - t2

    # tag: ranked action lines of every passage and document (indexer/tag_stage.py)
    staged = tag_passages(pairs, texts, vectors, embedder, filter_threshold=tag_filter_threshold)
    tagger, tags = staged.tagger, staged.tags
    docs = [replace(d, metadata={**d.metadata, "action_line_tags": staged.doc_tags[d.id]}) for d in docs]
    t4 = time.perf_counter()
    report.stage_seconds["tag"] = t4 - t3

    # write
    writer = IndexWriter(index_path)
    try:
        con = create(writer.dir / "store.sqlite")
        with con:
            for d in docs:
                insert_document(con, d)
            for vid, ((d, p), t) in enumerate(zip(pairs, tags)):
                insert_passage(con, vid, p, t, content_hash=hashes[vid], substance=substance(p.text),
                               speakers=passage_speakers(d, p))
        con.execute("VACUUM")
        con.close()
        columns_info = write_store_columns(writer.dir, tag_filter_threshold)
        vector_info = writer.write_vectors(vectors, hnsw_threshold=hnsw_threshold,
                                            sq8_threshold=hnsw_sq8_threshold, ef_search=hnsw_ef_search)
        tagger.save(writer.dir / "tagger.npz")
        keyword_index = KeywordIndex.build(texts)
        keyword_index.save(writer.dir / "keyword")
        manifest = {
            "package": "wsis-search", "package_version": __version__,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model": {"name": model_name, "dim": embedder.dim, "dtype": embedder.dtype,
                      "max_seq_length": embedder.model.max_seq_length, "normalized": True},
            "chunker": chunk.as_dict(),
            "near_duplicates": {"jaccard_threshold": near_duplicate_jaccard, "shingle_words": 4,
                                "passages": len(near)},
            "keyword": BM25_PARAMS,
            "vector_index": vector_info,
            "columns": columns_info,
            "tagger": staged.info,
            "sources": [str(s) for s in sources],
            "corpus_hash": sha256("\n".join(sorted(f"{d.id}\t{d.content_hash}" for d in docs))),
            "counts": {"documents": len(docs), "passages": len(pairs), "by_kind": report.documents,
                       "failures": len(report.failures)},
        }
        if query_encoder != "torch":
            from .onnx_encoder import write_query_encoder

            manifest["query_encoder"] = write_query_encoder(writer.dir, embedder, cache.path.parent if cache else None)
        from .initiatives import build_initiatives  # what each initiative does, names removed (related search)

        manifest["initiatives"] = build_initiatives(writer.dir, docs, embedder, cache)
        manifest["backend"] = {"backend": "faiss"}
        if backend == "milvus":
            from .milvus import write_milvus

            manifest["backend"] = write_milvus(milvus_uri, writer.build_id, writer.dir / "store.sqlite", texts, vectors,
                                               token=milvus_token, keyword_index=keyword_index, bm25=milvus_bm25,
                                               line_threshold=tag_filter_threshold)
        elif backend != "faiss":
            raise RuntimeError(f"unknown backend {backend!r} (faiss or milvus)")
        final = writer.commit(manifest, keep=keep_builds)
    except BaseException:
        writer.abort()
        raise
    t5 = time.perf_counter()
    report.stage_seconds["write"] = t5 - t4
    report.passages = len(pairs)
    report.seconds = t5 - t0
    report.passages_per_second = len(pairs) / report.seconds if report.seconds else 0.0
    report.index_path = str(index_path)
    report.build_id = final.name
    return report


def make_embedder(settings):
    """The build-time encoder (sentence-transformers, bf16 where the CPU has it) from settings."""
    from .embed import Embedder

    return Embedder(settings.model_dir, dtype=settings.embed_dtype, batch_size=settings.embed_batch_size,
                    threads=settings.threads, max_seq_length=settings.max_seq_length)


def embedding_cache(settings, embedder):
    """The vector cache, keyed by model, dtype and sequence length (a change re-embeds everything)."""
    from .embed import EmbeddingCache

    return EmbeddingCache(settings.cache_dir / "embeddings.sqlite",
                          f"{settings.model_name}|{embedder.dtype}|{settings.max_seq_length}")


def build_from_settings(settings, sources: list[Path] | None = None, index_path: Path | None = None, *,
                        embedder=None, use_cache: bool = True, progress: bool = False, **overrides) -> BuildReport:
    """`build_index` with every option taken from settings; `overrides` replace single keyword arguments
    (e.g. backend="milvus", milvus_uri=...)."""
    import os

    embedder = embedder or make_embedder(settings)
    kwargs = dict(
        embedder=embedder,
        chunk=ChunkSettings(settings.chunk_target_words, settings.chunk_min_words, settings.chunk_max_words),
        max_file_bytes=settings.max_file_bytes, keep_builds=settings.keep_builds, progress=progress,
        model_name=settings.model_name, cache=embedding_cache(settings, embedder) if use_cache else None,
        hnsw_threshold=settings.hnsw_threshold, hnsw_sq8_threshold=settings.hnsw_sq8_threshold,
        hnsw_ef_search=settings.hnsw_ef_search,
        backend=settings.backend, milvus_uri=settings.milvus_uri,
        milvus_token=settings.milvus_token, embed_workers=settings.embed_workers or (os.cpu_count() or 1),
        milvus_bm25=settings.milvus_bm25, near_duplicate_jaccard=settings.near_duplicate_jaccard,
        query_encoder=settings.query_encoder, tag_filter_threshold=settings.tag_filter_threshold,
    )
    kwargs.update(overrides)
    return build_index(list(sources or settings.sources), Path(index_path or settings.index_dir), **kwargs)
