"""BM25 keyword index (bm25s, English stop words, Snowball stemmer), saved as plain files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

BM25_PARAMS = {"k1": 1.2, "b": 0.75, "method": "lucene", "stemmer": "english", "stopwords": "en"}


def _quiet(bm25s) -> None:
    # bm25s sets its logger to DEBUG when imported; its per-build chatter is not ours to print.
    logging.getLogger(bm25s.__name__).setLevel(logging.WARNING)


def _tokenizer():
    import bm25s
    import Stemmer

    _quiet(bm25s)
    return bm25s.tokenization.Tokenizer(stopwords="en", stemmer=Stemmer.Stemmer("english"))


class KeywordIndex:
    def __init__(self, retriever, tokenizer):
        self.retriever = retriever
        self.tokenizer = tokenizer
        self.size = int(retriever.scores["num_docs"])
        self._terms: dict[int, str] | None = None  # term id -> stemmed term (bm25s rebuilds this on every decode)

    @classmethod
    def build(cls, texts: list[str]) -> "KeywordIndex":
        import bm25s

        tok = _tokenizer()
        ids = tok.tokenize(texts, update_vocab=True, return_as="ids", show_progress=False)
        retriever = bm25s.BM25(k1=BM25_PARAMS["k1"], b=BM25_PARAMS["b"], method=BM25_PARAMS["method"])
        retriever.index(bm25s.tokenization.Tokenized(ids=ids, vocab=tok.get_vocab_dict()), show_progress=False)
        return cls(retriever, tok)

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.retriever.save(str(path), show_progress=False)
        self.tokenizer.save_vocab(str(path))
        (path / "params.wsis.json").write_text(json.dumps(BM25_PARAMS))

    @classmethod
    def load(cls, path: Path, mmap: bool = True) -> "KeywordIndex":
        import bm25s

        retriever = bm25s.BM25.load(str(path), mmap=mmap, show_progress=False)
        tok = _tokenizer()
        tok.load_vocab(str(path))
        return cls(retriever, tok)

    def query_ids(self, query: str) -> list[int]:
        ids = self.tokenizer.tokenize([query], update_vocab=False, return_as="ids", show_progress=False)[0]
        return [i for i in ids if i is not None and 0 <= i < len(self.retriever.scores["indptr"]) - 1]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage for the query (0 where no term matches)."""
        ids = self.query_ids(query)
        if not ids:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.retriever.get_scores_from_ids(ids), dtype=np.float32)

    def terms(self, query: str) -> list[str]:
        """The stemmed query terms that the index knows (for highlighting)."""
        if self._terms is None:
            self._terms = {v: k for k, v in self.tokenizer.get_vocab_dict().items()}
        return [self._terms[i] for i in self.query_ids(query)]

    def doc_rows(self) -> list[dict[int, float]]:
        """Each passage's BM25 term weights as a sparse row {term id: weight}: a query's BM25 score is then
        the inner product with its term counts (what a sparse-vector engine such as Milvus computes)."""
        from scipy.sparse import csc_matrix

        s = self.retriever.scores
        n_terms = len(s["indptr"]) - 1
        m = csc_matrix((np.asarray(s["data"]), np.asarray(s["indices"]), np.asarray(s["indptr"])),
                       shape=(self.size, n_terms)).tocsr()
        return [dict(zip(m.indices[m.indptr[i]:m.indptr[i + 1]].tolist(), m.data[m.indptr[i]:m.indptr[i + 1]].tolist()))
                for i in range(self.size)]

    def query_vector(self, query: str) -> dict[int, float]:
        """The query's term counts over the index vocabulary (repeated terms count again, as in bm25s)."""
        out: dict[int, float] = {}
        for i in self.query_ids(query):
            out[int(i)] = out.get(int(i), 0.0) + 1.0
        return out
