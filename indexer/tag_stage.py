"""The build's tag stage: fit the tagger on every label the corpus has (passages of documents that declare
one line: stocktaking entries' categories, action-line records, reports with a declared line), with the
Plan of Action paragraphs as line prototypes; score every passage (a labelled passage out of fold, by a
tagger that never saw its document, so that its secondary lines are honest); tag passages and documents."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .models import Document, Passage
from .tag import TAGGER_VERSION, Tagger
from .tag_model import DEFAULT_FAMILY

PROTOTYPE_HEADING = "Geneva Plan of Action"  # the paragraphs of an action-line record (wsis_sdg_matrix)


def training_labels(doc: Document) -> str | None:
    """A passage's label for fitting the tagger: its document's single declared line, if any."""
    declared = [c for c in doc.metadata.get("action_lines", []) if c != "C7"]
    return declared[0] if len(declared) == 1 else None


def prototype_texts(docs: list[Document]) -> list[tuple[str, str]]:
    """(text, code) of the Plan of Action paragraphs of the action-line records among `docs`."""
    out = []
    for d in docs:
        code = training_labels(d)
        if code and "record_id" in d.metadata:
            out += [(d.text[s.start:s.end].strip(), code) for s in d.sections
                    if s.heading == PROTOTYPE_HEADING and s.end - s.start > 30]
    return out


@dataclass
class TagStage:
    tagger: Tagger
    tags: list[dict]  # per passage, as Tagger.tag returns
    doc_tags: dict[str, list[dict]]  # document id -> ranked action lines of the whole document
    info: dict = field(default_factory=dict)  # for the manifest


def tag_passages(pairs: list[tuple[Document, Passage]], texts: list[str], vectors: np.ndarray, embedder, *,
                 family: str = DEFAULT_FAMILY, out_of_fold: int = 5, filter_threshold: float = 0.0) -> TagStage:
    """Tags for every passage (`texts`: what was embedded, `vectors` their vectors) and every document."""
    from sklearn.model_selection import GroupKFold

    tagger = Tagger.from_embedder(embedder)
    labelled = [(i, training_labels(d)) for i, (d, _) in enumerate(pairs)]
    idx = np.array([i for i, c in labelled if c], dtype=np.int64)
    labels = [c for _, c in labelled if c]
    groups = [pairs[i][0].id for i in idx]
    docs = list({d.id: d for d, _ in pairs}.values())
    protos = prototype_texts(docs)
    pvecs = embedder.encode([t for t, _ in protos]) if protos else np.zeros((0, vectors.shape[1]), np.float32)
    prototypes = (pvecs, [c for _, c in protos])

    def fitted_on(sel: np.ndarray) -> Tagger:
        t = Tagger(tagger.desc_vectors)
        t.fit(vectors[idx[sel]], [labels[j] for j in sel], texts=[texts[idx[j]] for j in sel],
              prototypes=prototypes, groups=[groups[j] for j in sel], family=family)
        return t

    fitted = tagger.fit(vectors[idx], labels, texts=[texts[i] for i in idx], prototypes=prototypes,
                        groups=groups, family=family) if len(idx) else False
    scores = tagger.scores(vectors, texts)
    folds = min(out_of_fold, len(set(groups)))
    if fitted and folds >= 2:
        for train, held in GroupKFold(n_splits=folds).split(idx, groups=groups):
            t = fitted_on(train)
            if t.fitted:
                scores[idx[held]] = t.scores(vectors[idx[held]], [texts[idx[j]] for j in held])
    tags = [tagger.tag(p.text, p.heading, d.kind, d.metadata.get("action_lines", []), scores[i])
            for i, (d, p) in enumerate(pairs)]
    # a document's lines: from the mean of its passages' probabilities, weighted by their length
    rows: dict[str, list[int]] = {}
    for i, (d, _) in enumerate(pairs):
        rows.setdefault(d.id, []).append(i)
    doc_tags = {}
    for d in docs:
        r = rows[d.id]
        w = np.array([max(1, pairs[i][1].words) for i in r], dtype=np.float64)
        mean = (scores[r] * w[:, None]).sum(axis=0) / w.sum()
        doc_tags[d.id] = tagger.tag("", "", d.kind, d.metadata.get("action_lines", []), mean)["action_lines"]
    info = {"version": TAGGER_VERSION, "classifier_fitted": fitted, "family": family if fitted else "zero-shot",
            "labelled_passages": len(idx), "prototypes": len(protos),
            "labelled_scored_out_of_fold": bool(fitted and folds >= 2), "filter_threshold": filter_threshold}
    return TagStage(tagger, tags, doc_tags, info)
