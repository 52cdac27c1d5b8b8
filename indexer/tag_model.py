"""The action-line classifier behind `indexer.tag.Tagger`: features, model families, calibration, and a
plain-numpy predictor that can be saved to and read from `.npz` arrays (no pickle).

Features: the MiniLM passage vector (meaning); its closeness to each line's prototypes, i.e. the highest
cosine to that line's Plan of Action paragraphs and our own description of it (meaning, anchored on the
lines' definitions); and, when the text is given, a TF-IDF vector of word 1-2 grams fitted on the training
texts (the telling words). A family is a list of linear heads; each head gives softmax(beta * (x W + b))
over the 18 codes, with the inverse temperature beta fitted on out-of-fold decision values
(class-balanced, like the fit), and a family's probability is the mean over its heads.

    emb        logistic regression on the vector only
    proto      logistic regression on the vector + prototype similarities (the default: best on the tuning
               folds of `wsis eval tagging`, see README "Tagging quality"; it needs no text)
    lr         logistic regression on vector + TF-IDF
    svm        linear SVM on vector + TF-IDF (decision values made probabilities by the fitted temperature)
    ensemble   the mean of proto, lr and svm

A family with text heads, given no texts, answers with its vector-only heads.

scikit-learn is needed to fit, and to read texts (its tokenizer); predicting from vectors is numpy only."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from .actionlines import CODES

N = len(CODES)
# TF-IDF options: word uni- and bigrams seen in at least two training texts, English stop words dropped.
LEXICON_OPTS = {"ngram_range": (1, 2), "min_df": 2, "stop_words": "english", "lowercase": True,
                "max_features": 20000}
# Chosen on the seed-0 folds of `wsis eval tagging` (see README "Tagging quality").
# head = (linear model, C, reads the TF-IDF features, reads the prototype similarities)
FAMILIES = {
    "emb": [("logreg", 8.0, False, False)],
    "proto": [("logreg", 2.0, False, True)],
    "lr": [("logreg", 8.0, True, False)],
    "svm": [("svm", 0.1, True, False)],
    "ensemble": [("logreg", 2.0, False, True), ("logreg", 8.0, True, False), ("svm", 0.1, True, False)],
}
PROTO_SCALE = 3.0  # weight of the 18 prototype similarities next to the 384 vector components
DEFAULT_FAMILY = "proto"  # C-level top-1 + top-3 on fold seed 0: proto 1.300, ensemble 1.289, lr 1.270, ...


class Lexicon:
    """TF-IDF over a fixed vocabulary: sublinear term frequency, smoothed idf, l2-normalised rows, the same
    arithmetic as scikit-learn's TfidfVectorizer(sublinear_tf=True), kept as plain arrays."""

    def __init__(self, terms: list[str], idf: np.ndarray):
        self.terms = list(terms)
        self.idf = np.asarray(idf, dtype=np.float32)
        self._counter = None

    @classmethod
    def fit(cls, texts: list[str]) -> Lexicon:
        from sklearn.feature_extraction.text import TfidfVectorizer

        opts = dict(LEXICON_OPTS)
        if len(texts) < 20:
            opts["min_df"] = 1
        v = TfidfVectorizer(sublinear_tf=True, **opts)
        try:
            v.fit(texts)
        except ValueError:  # no term at all (empty texts)
            return cls([], np.zeros(0, np.float32))
        terms = [""] * len(v.vocabulary_)
        for t, i in v.vocabulary_.items():
            terms[i] = t
        return cls(terms, v.idf_)

    def __len__(self) -> int:
        return len(self.terms)

    def transform(self, texts: list[str]):
        from scipy import sparse
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.preprocessing import normalize

        if not self.terms:
            return sparse.csr_matrix((len(texts), 0), dtype=np.float32)
        if self._counter is None:
            opts = {k: v for k, v in LEXICON_OPTS.items() if k not in ("min_df", "max_features")}
            self._counter = CountVectorizer(vocabulary={t: i for i, t in enumerate(self.terms)}, **opts)
        x = self._counter.transform(texts).astype(np.float32).tocsr()
        x.data = 1.0 + np.log(x.data)
        x = x.multiply(self.idf).tocsr()
        return normalize(x).astype(np.float32)


class Prototypes:
    """Vectors that define the lines (Plan of Action paragraphs, our descriptions), each owned by one code;
    a passage's prototype features are its highest cosine to each code's prototypes (0 for a code without)."""

    def __init__(self, vectors: np.ndarray, owners: np.ndarray):
        self.vectors = np.asarray(vectors, np.float32)
        self.owners = np.asarray(owners, np.int64)

    def features(self, vectors: np.ndarray) -> np.ndarray:
        out = np.zeros((len(vectors), N), np.float32)
        if not len(self.owners):
            return out
        sims = vectors @ self.vectors.T
        for c in np.unique(self.owners):
            out[:, c] = sims[:, self.owners == c].max(axis=1)
        return PROTO_SCALE * out


@dataclass
class Head:
    """One calibrated linear head over [vector, prototype similarities?, tf-idf?]: softmax(beta * (x W + b))."""
    W: np.ndarray  # (18, d [+ 18] [+ v])
    b: np.ndarray  # (18,)
    beta: float
    lexical: bool
    proto: bool

    def logits(self, vectors: np.ndarray, protos: np.ndarray | None, lex) -> np.ndarray:
        d = vectors.shape[1]
        z = vectors @ self.W[:, :d].T + self.b
        if self.proto:
            z = z + protos @ self.W[:, d:d + N].T
            d += N
        if self.lexical:
            z = z + np.asarray(lex @ self.W[:, d:].T)
        return z

    def proba(self, vectors: np.ndarray, protos, lex) -> np.ndarray:
        return softmax(self.beta * self.logits(vectors, protos, lex))


@dataclass
class LineModel:
    family: str
    heads: list[Head]
    lexicon: Lexicon | None = None
    prototypes: Prototypes | None = None
    info: dict = field(default_factory=dict)

    @property
    def lexical(self) -> bool:
        return any(h.lexical for h in self.heads)

    def proba(self, vectors: np.ndarray, texts: list[str] | None = None) -> np.ndarray | None:
        """(n, 18) probabilities: the mean over the heads that can be computed (a head that reads the text
        needs `texts`); None when no head can."""
        vectors = np.asarray(vectors, dtype=np.float32)
        lex = self.lexicon.transform(texts) if (texts is not None and self.lexicon is not None and self.lexical) \
            else None
        protos = self.prototypes.features(vectors) if self.prototypes is not None else None
        heads = [h for h in self.heads if (not h.lexical or lex is not None) and (not h.proto or protos is not None)]
        if not heads:
            return None
        return np.mean([h.proba(vectors, protos, lex) for h in heads], axis=0)

    # ---- arrays for .npz (no pickle)
    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        meta = {"family": self.family, "heads": [[h.lexical, h.proto] for h in self.heads], **self.info}
        out = {f"{prefix}info": np.array(json.dumps(meta))}
        for i, h in enumerate(self.heads):
            out[f"{prefix}W{i}"] = h.W.astype(np.float32)
            out[f"{prefix}b{i}"] = h.b.astype(np.float32)
            out[f"{prefix}beta{i}"] = np.array([h.beta], np.float32)
        if self.lexicon is not None:
            out[f"{prefix}terms"] = np.array(self.lexicon.terms, dtype=str)
            out[f"{prefix}idf"] = self.lexicon.idf
        if self.prototypes is not None:
            out[f"{prefix}proto_vectors"] = self.prototypes.vectors
            out[f"{prefix}proto_owners"] = self.prototypes.owners
        return out

    @classmethod
    def from_arrays(cls, z, prefix: str) -> LineModel | None:
        if f"{prefix}info" not in z:
            return None
        info = json.loads(str(z[f"{prefix}info"]))
        flags = info.pop("heads")
        heads = [Head(z[f"{prefix}W{i}"], z[f"{prefix}b{i}"], float(z[f"{prefix}beta{i}"][0]), lex, proto)
                 for i, (lex, proto) in enumerate(flags)]
        lexicon = Lexicon([str(t) for t in z[f"{prefix}terms"]], z[f"{prefix}idf"]) if f"{prefix}terms" in z else None
        protos = Prototypes(z[f"{prefix}proto_vectors"], z[f"{prefix}proto_owners"]) \
            if f"{prefix}proto_vectors" in z else None
        return cls(info.pop("family"), heads, lexicon, protos, info)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def balanced_weights(y: np.ndarray) -> np.ndarray:
    counts = np.bincount(y, minlength=N).astype(np.float64)
    present = (counts > 0).sum()
    return len(y) / (present * counts[y])


def _fit_linear(kind: str, C: float, X, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(W (18, D), b (18,)) of a class-weighted linear model; classes absent from y get -inf-like bias."""
    if kind == "logreg":
        from sklearn.linear_model import LogisticRegression

        m = LogisticRegression(C=C, max_iter=5000)
    else:
        from sklearn.svm import LinearSVC

        m = LinearSVC(C=C, max_iter=20000)
    m.fit(X, y, sample_weight=w)
    W = np.zeros((N, X.shape[1]), np.float32)
    b = np.full(N, -1e4, np.float32)
    coef, icpt = m.coef_, np.atleast_1d(m.intercept_)
    if len(m.classes_) == 2 and coef.shape[0] == 1:  # binary: one row for class 1
        coef = np.vstack([-coef, coef]) / 2
        icpt = np.array([-icpt[0], icpt[0]]) / 2
    W[m.classes_] = coef
    b[m.classes_] = icpt
    return W, b


def _fit_beta(z: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Inverse temperature minimising the weighted log loss of softmax(beta * z)."""
    from scipy.optimize import minimize_scalar

    keep = z[np.arange(len(y)), y] > -1e3  # rows whose class was absent from their training fold say nothing
    z, y, w = z[keep], y[keep], w[keep]
    if not len(y):
        return 1.0
    z = z - z.max(axis=1, keepdims=True)

    def loss(log_beta):
        s = np.exp(log_beta) * z
        lse = np.log(np.exp(s - s.max(axis=1, keepdims=True)).sum(axis=1)) + s.max(axis=1)
        return float(np.sum(w * (lse - s[np.arange(len(y)), y])) / w.sum())

    return float(np.exp(minimize_scalar(loss, bounds=(-6.0, 6.0), method="bounded").x))


def fit_model(vectors: np.ndarray, y: np.ndarray, texts: list[str] | None = None, family: str = DEFAULT_FAMILY,
              prototypes: Prototypes | None = None, groups: np.ndarray | None = None, calibration_folds: int = 3,
              seed: int = 0) -> LineModel:
    """Fit a family on labelled examples (y: indices into CODES), class-balanced. Heads that read the text
    are left out without `texts`, heads that read prototypes without `prototypes`. Each head's temperature
    is fitted on its out-of-fold decision values (`calibration_folds` folds, grouped by `groups` when given,
    so that the passages of one document stay together)."""
    from threadpoolctl import threadpool_limits

    # one BLAS thread: the fits are small, and threads oversubscribed on a busy machine are 50x slower
    with threadpool_limits(1):
        return _fit_model(vectors, y, texts, family, prototypes, groups, calibration_folds, seed)


def _fit_model(vectors, y, texts, family, prototypes, groups, calibration_folds, seed) -> LineModel:
    from scipy import sparse
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    vectors = np.asarray(vectors, np.float32)
    spec = [h for h in FAMILIES[family] if (texts is not None or not h[2]) and (prototypes is not None or not h[3])]
    if not spec:
        raise ValueError(f"family {family!r} needs texts or prototypes")
    w = balanced_weights(y)
    protos = prototypes.features(vectors) if prototypes is not None else None
    counts = np.bincount(y, minlength=N)
    k = min(calibration_folds, int(counts[counts > 0].min()))
    folds = []
    if k >= 2:
        if groups is not None and len(set(groups)) >= k * 5:
            folds = list(GroupKFold(n_splits=k).split(vectors, y, groups))
        else:
            folds = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(vectors, y))

    def design(idx, lexicon, use_lex, use_proto):
        parts = [vectors[idx]] + ([protos[idx]] if use_proto else [])
        dense = np.hstack(parts) if len(parts) > 1 else parts[0]
        if not use_lex:
            return dense
        return sparse.hstack([sparse.csr_matrix(dense), lexicon.transform([texts[i] for i in idx])]).tocsr()

    lexicon = Lexicon.fit(texts) if any(h[2] for h in spec) else None
    heads = []
    for kind, C, use_lex, use_proto in spec:
        oof = np.zeros((len(y), N), np.float32)
        for tr, te in folds:
            lex_tr = Lexicon.fit([texts[i] for i in tr]) if use_lex else None
            W, b = _fit_linear(kind, C, design(tr, lex_tr, use_lex, use_proto), y[tr], balanced_weights(y[tr]))
            oof[te] = np.asarray(design(te, lex_tr, use_lex, use_proto) @ W.T) + b
        beta = _fit_beta(oof, y, w) if folds else 1.0
        W, b = _fit_linear(kind, C, design(np.arange(len(y)), lexicon, use_lex, use_proto), y, w)
        heads.append(Head(W, b, beta, use_lex, use_proto))
    return LineModel(family, heads, lexicon, prototypes,
                     {"examples": len(y), "classes": int((counts > 0).sum())})
