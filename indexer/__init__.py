"""WSIS knowledge search: the indexing pipeline (crawl -> parse -> chunk -> tag -> embed -> index)."""

__version__ = "0.1.0"
