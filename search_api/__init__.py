"""WSIS knowledge search: the query side (retrieval engine, HTTP API)."""
