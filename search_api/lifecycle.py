"""Loading and reloading the engine a server holds: open the index, choose the query encoder (the index's
checked ONNX export, else torch), swap a freshly loaded engine in atomically."""

from __future__ import annotations

import logging
import threading

from indexer.index import load_index
from indexer.passage_index import open_passage_index
from indexer.settings import Settings

from .engine import Engine
from .fusion import Fusion

log = logging.getLogger(__name__)
_reload_lock = threading.Lock()


def engine_for(loaded, embedder, settings: Settings) -> Engine:
    """An engine over a loaded index with the configured fusion, query cache and the index's passage index
    (WSIS_BACKEND=milvus with WSIS_MILVUS_URI points a Milvus build at another address of its cluster)."""
    uri = settings.milvus_uri if settings.backend == "milvus" else None
    passages = open_passage_index(loaded, milvus_uri=uri, milvus_token=settings.milvus_token)
    return Engine(loaded, embedder, passages=passages, fusion=Fusion.from_settings(settings),
                  query_cache_size=settings.query_cache_size, substance_weight=settings.search_substance_weight)


def open_engine(settings: Settings, index_dir=None, embedder=None, loaded=None) -> Engine:
    """The engine over the index at `index_dir` (default: the settings' index), or over `loaded`, an index
    the caller has just loaded and checked."""
    import faiss

    faiss.omp_set_num_threads(settings.threads)
    if loaded is None:
        loaded = load_index(index_dir or settings.index_dir, expected_model=settings.model_name)
    return engine_for(loaded, embedder, settings)


def query_encoder(loaded, settings: Settings):
    """The encoder a server uses for queries: the index's ONNX export when present and loadable (no torch
    import), else the sentence-transformers model."""
    encoder = onnx_encoder(loaded, settings) if settings.query_encoder != "torch" else None
    if encoder is None:
        from indexer.embed import Embedder

        encoder = Embedder(settings.model_dir, dtype=settings.embed_dtype, batch_size=settings.embed_batch_size,
                           threads=settings.threads, max_seq_length=settings.max_seq_length)
    if encoder.dim != loaded.manifest["model"]["dim"]:
        raise RuntimeError("the configured model's dimension differs from the index's")
    return encoder


def onnx_encoder(loaded, settings: Settings):
    """The index's checked ONNX export of its model, or None (then the torch encoder is loaded)."""
    entry = loaded.manifest.get("query_encoder") or {}
    if not entry.get("onnx"):
        return None
    try:
        from indexer.onnx_encoder import OnnxEncoder

        return OnnxEncoder(loaded.path / entry["onnx"], settings.model_dir,
                           max_seq_length=loaded.manifest["model"].get("max_seq_length", settings.max_seq_length),
                           threads=settings.threads, batch_size=settings.embed_batch_size)
    except Exception:
        log.exception("the ONNX query encoder could not be loaded; loading the torch encoder")
        return None


def load_engine(settings: Settings, warm_in_background: bool = True, loaded=None) -> Engine:
    """Open the index now (or use `loaded`); load the encoder in a background thread when
    `warm_in_background`, so that keyword search answers from the first second."""
    engine = open_engine(settings, loaded=loaded)

    def load_encoder():
        try:
            encoder = query_encoder(engine.index, settings)
            encoder.encode_query("warm up")
            engine.set_embedder(encoder)
        except Exception as exc:  # keep serving keyword search; say why in /health
            log.exception("the encoder could not be loaded")
            engine.encoder_error = f"{type(exc).__name__}: {exc}"

    if warm_in_background:
        threading.Thread(target=load_encoder, name="encoder-loader", daemon=True).start()
    else:
        load_encoder()
    return engine


def reload_engine(app) -> dict:
    """Swap in the build the index path points at now: the new engine is loaded fully first, then replaces
    the old one in one assignment; requests in flight finish on the engine they started with."""
    with _reload_lock:
        old = app.state.engine
        settings = app.state.settings
        new = load_engine(settings, warm_in_background=False) if old is None or old.embedder is None \
            else open_engine(settings, embedder=old.embedder)
        app.state.engine = new
    return {"status": "reloaded", "build_id": new.index.manifest.get("build_id"),
            "previous": old.index.manifest.get("build_id") if old else None}


def reload_workers(app) -> dict:
    """Under `wsis serve --workers N`: ask the supervisor (this worker's parent) to replace every worker, one
    at a time, each new one loading the build the index path points at now (uvicorn's SIGHUP handling)."""
    import os
    import signal

    os.kill(os.getppid(), signal.SIGHUP)
    return {"status": "reloading", "workers": app.state.settings.workers,
            "previous": app.state.engine.index.manifest.get("build_id") if app.state.engine else None}


def install_sighup(app) -> None:
    """`kill -HUP <pid>` reloads the index (in a thread, so the signal handler returns at once)."""
    import signal

    def handler(signum, frame):
        def work():
            try:
                log.warning("SIGHUP: %s", reload_engine(app))
            except Exception:
                log.exception("reload on SIGHUP failed; the previous index keeps serving")
        threading.Thread(target=work, daemon=True).start()

    try:
        signal.signal(signal.SIGHUP, handler)
    except ValueError:  # not in the main thread (e.g. under a test client)
        pass
