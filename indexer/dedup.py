"""Near-duplicate passages, found before embedding so that they are embedded once.

The real corpus holds edited and raw captions of the same IGF session, whose passages repeat each other
with a few words changed. A passage whose word-shingle set has Jaccard similarity >= a threshold with an
earlier passage borrows that passage's vector (its own text still goes to BM25, the store and snippets).

Candidates come from MinHash with LSH banding (deterministic hashes, numpy), and every candidate pair is
verified with the exact Jaccard similarity of the two shingle sets, so the threshold is exact, not an
estimate."""

from __future__ import annotations

import re
import zlib
from collections import defaultdict

import numpy as np

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_PRIME = np.uint64((1 << 61) - 1)


def shingles(text: str, n: int = 4) -> np.ndarray:
    """Sorted unique 32-bit hashes of the text's lower-cased word n-grams."""
    words = _WORD.findall(text.lower())
    if len(words) < n:
        grams = [" ".join(words)] if words else []
    else:
        grams = [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
    return np.unique(np.fromiter((zlib.crc32(g.encode()) for g in grams), dtype=np.uint64, count=len(grams)))


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    if not len(a) or not len(b):
        return 0.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def near_duplicates(texts: list[str], threshold: float = 0.8, *, bands: int = 16, rows: int = 4,
                    min_shingles: int = 8, seed: int = 0) -> dict[int, int]:
    """{index: index of the earlier passage it duplicates} for every text whose shingle Jaccard to a
    kept earlier text is >= threshold. Kept texts map to nothing; duplicates always point at a kept one.
    Very short texts (fewer than `min_shingles` shingles) are never merged."""
    if threshold <= 0 or threshold > 1 or len(texts) < 2:
        return {}
    k = bands * rows
    rng = np.random.default_rng(seed)
    a = rng.integers(1, (1 << 61) - 1, size=k, dtype=np.uint64)
    b = rng.integers(0, (1 << 61) - 1, size=k, dtype=np.uint64)
    buckets: list[dict[bytes, list[int]]] = [defaultdict(list) for _ in range(bands)]
    sets: dict[int, np.ndarray] = {}
    out: dict[int, int] = {}
    for i, text in enumerate(texts):
        s = shingles(text)
        if len(s) < min_shingles:
            continue
        # (a*x + b) mod p, with uint64 wrap-around standing in for the multiply: deterministic and
        # spread well enough for banding (candidates are verified exactly below).
        sig = ((a[:, None] * s[None, :] + b[:, None]) % _PRIME).min(axis=1)
        keys = [sig[j * rows:(j + 1) * rows].tobytes() for j in range(bands)]
        best, best_j = 0.0, -1
        seen: set[int] = set()
        for band, key in enumerate(keys):
            for j in buckets[band].get(key, ()):
                if j in seen:
                    continue
                seen.add(j)
                sim = jaccard(s, sets[j])
                if sim > best:
                    best, best_j = sim, j
        if best_j >= 0 and best >= threshold:
            out[i] = best_j
            continue
        sets[i] = s
        for band, key in enumerate(keys):
            buckets[band][key].append(i)
    return out
