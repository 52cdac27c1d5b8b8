"""`wsis eval tagging`: accuracy of the inferred action lines against the categories that WSIS Prizes
2021 stocktaking entries declare, with the declared category hidden from the tagger.

The fitted tagger is scored by stratified k-fold cross-validation over the labelled entries: each fold is
predicted by a tagger fitted on the other folds plus the other labelled documents of the corpus (2015
entries, action-line records, action-line wiki pages, the seed report), never on itself."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from indexer.actionlines import CODES, parent_code

LABELLED = "stocktaking/wsis_prizes_2021_nominated_by_category.csv"


def _entry_text(doc) -> str:
    # exactly what the index embeds for an entry: title, organisation / country, description
    return doc.text


def load_sets(corpus: Path):
    """(test texts, test labels, extra texts, extra labels) from the real corpus folder."""
    from indexer.build import embed_text, training_labels
    from indexer.chunk import chunk_document
    from indexer.parsers import read_source
    from indexer.parsers.stocktaking import parse_csv

    test_docs, _ = parse_csv(corpus / LABELLED, "stocktaking", LABELLED)
    test_ids = {d.id for d in test_docs}
    test = [(_entry_text(d), d.metadata["action_lines"][0]) for d in test_docs]
    extra = []
    for d in read_source(corpus).documents:
        if d.id in test_ids or d.id.startswith("stocktaking/2021/"):
            continue  # the 2021 entries are the test set (and the held-back ones carry no label)
        label = training_labels(d)
        if not label:
            continue
        for p in chunk_document(d):
            extra.append((embed_text(d, p), label))
    return test, extra


def metrics(true: list[str], pred: list[str]) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    tc = [parent_code(c) for c in true]
    pc = [parent_code(c) for c in pred]
    return {
        "top1_accuracy_c_level": round(float(accuracy_score(tc, pc)), 4),
        "macro_f1_c_level": round(float(f1_score(tc, pc, average="macro", zero_division=0)), 4),
        "top1_accuracy_subline": round(float(accuracy_score(true, pred)), 4),
        "macro_f1_subline": round(float(f1_score(true, pred, average="macro", zero_division=0)), 4),
        "n": len(true),
    }


def confusion_summary(true: list[str], pred: list[str], top: int = 10) -> dict:
    pairs = Counter((t, p) for t, p in zip(true, pred) if t != p)
    per_class = {}
    for c in CODES:
        idx = [i for i, t in enumerate(true) if t == c]
        if idx:
            per_class[c] = round(sum(pred[i] == c for i in idx) / len(idx), 3)
    return {"most_confused": [{"true": t, "predicted": p, "count": n} for (t, p), n in pairs.most_common(top)],
            "recall_per_line": per_class}


def learning_curve(tx, ty, ex, ey, desc_vectors, folds: int = 5, sizes=(0, 3, 6, 9, 12),
                   repeats: int = 3) -> list[dict]:
    """Cross-validated accuracy when the fitted tagger sees only `n` labelled 2021 entries per line from
    the training folds (plus the other labelled documents): does the goal need more labels?"""
    from sklearn.model_selection import StratifiedKFold

    from indexer.tag import Tagger

    rng = np.random.default_rng(0)
    out = []
    for n in sizes:
        runs = []
        for rep in range(repeats):
            pred = [""] * len(ty)
            for train, held in StratifiedKFold(n_splits=folds, shuffle=True, random_state=rep).split(tx, ty):
                by: dict[str, list[int]] = {}
                for i in train:
                    by.setdefault(ty[i], []).append(i)
                sel = [int(i) for c in sorted(by) for i in rng.permutation(by[c])[:n]]
                t = Tagger(desc_vectors)
                t.fit(np.vstack([ex, tx[sel]]) if sel else ex, ey + [ty[i] for i in sel])
                s = t.scores(tx[held])
                for j, i in enumerate(held):
                    pred[i] = CODES[int(s[j].argmax())]
            runs.append(metrics(ty, pred))
        row = {"entries_per_line": n, "repeats": repeats}
        for k in ("top1_accuracy_c_level", "macro_f1_c_level", "top1_accuracy_subline", "macro_f1_subline"):
            row[k] = round(float(np.mean([r[k] for r in runs])), 4)
        out.append(row)
    return out


def run(corpus: Path, embedder, folds: int = 5, seed: int = 0, show_errors: int = 0,
        with_learning_curve: bool = False) -> dict:
    from sklearn.model_selection import StratifiedKFold

    from indexer.tag import Tagger

    test, extra = load_sets(corpus)
    tx = embedder.encode([t for t, _ in test])
    ty = [c for _, c in test]
    ex = embedder.encode([t for t, _ in extra]) if extra else np.zeros((0, embedder.dim), np.float32)
    ey = [c for _, c in extra]
    base = Tagger.from_embedder(embedder)

    def top1(tagger, X):
        s = tagger.scores(X)
        return [CODES[i] for i in s.argmax(axis=1)], s

    results: dict = {"dataset": {"labelled_entries": len(test), "extra_labelled_passages": len(extra),
                                 "folds": folds, "seed": seed, "corpus": str(corpus)}}
    # 1. zero-shot: our descriptions only, nothing fitted on any label
    pred, _ = top1(base, tx)
    results["zero_shot"] = metrics(ty, pred)
    # 2. fitted on the other labelled documents only (no 2021 label seen)
    t2 = Tagger(base.desc_vectors)
    t2.fit(ex, ey)
    pred, _ = top1(t2, tx)
    results["fitted_on_other_documents"] = metrics(ty, pred)
    # 3. the default tagger: fitted on other documents + the other folds (cross-validated)
    cv_pred = [""] * len(ty)
    in_set = [False] * len(ty)
    set_sizes = []
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, held in skf.split(tx, ty):
        t = Tagger(base.desc_vectors)
        t.fit(np.vstack([ex, tx[train]]), ey + [ty[i] for i in train])
        p, s = top1(t, tx[held])
        for j, i in enumerate(held):
            cv_pred[i] = p[j]
            tags = t.tag("", "", "stocktaking_entry", [], s[j])["action_lines"]
            lines = [x["line"] for x in tags]
            set_sizes.append(len(lines))
            in_set[i] = ty[i] in lines
    results["cross_validated"] = metrics(ty, cv_pred)
    results["cross_validated"]["true_line_in_tag_set"] = round(sum(in_set) / len(in_set), 4)
    results["cross_validated"]["mean_tags_per_entry"] = round(float(np.mean(set_sizes)), 2)
    results["confusion"] = confusion_summary(ty, cv_pred)
    if show_errors:
        wrong = [i for i in range(len(ty)) if cv_pred[i] != ty[i]]
        pick = np.random.default_rng(seed).permutation(len(wrong))[:show_errors]
        results["errors_sample"] = [{"true": ty[wrong[k]], "predicted": cv_pred[wrong[k]],
                                     "text": " ".join(test[wrong[k]][0].split())[:160]} for k in sorted(pick)]
    if with_learning_curve:
        results["learning_curve"] = learning_curve(tx, ty, ex, ey, base.desc_vectors, folds=folds)
    return results


def print_report(r: dict) -> None:
    d = r["dataset"]
    print(f"Tagging evaluation: {d['labelled_entries']} labelled 2021 entries (category hidden), "
          f"{d['extra_labelled_passages']} other labelled passages, {d['folds']}-fold CV (seed {d['seed']})")
    print(f"{'system':34s} {'C top-1':>8s} {'C macroF1':>10s} {'sub top-1':>10s} {'sub macroF1':>12s}")
    for name in ("zero_shot", "fitted_on_other_documents", "cross_validated"):
        m = r[name]
        print(f"{name:34s} {m['top1_accuracy_c_level']:8.3f} {m['macro_f1_c_level']:10.3f} "
              f"{m['top1_accuracy_subline']:10.3f} {m['macro_f1_subline']:12.3f}")
    cv = r["cross_validated"]
    print(f"cross-validated tag sets: true line among the tags {cv['true_line_in_tag_set']:.3f}, "
          f"{cv['mean_tags_per_entry']} tags per entry")
    print("most confused (true -> predicted):")
    for c in r["confusion"]["most_confused"]:
        print(f"  {c['true']:18s} -> {c['predicted']:18s} {c['count']}")
    print("recall per line: " + ", ".join(f"{k} {v:.2f}" for k, v in r["confusion"]["recall_per_line"].items()))
    if r.get("errors_sample"):
        print("misclassified entries (cross-validated; the category is the nominator's own choice):")
        for e in r["errors_sample"]:
            print(f"  [{e['true']} -> {e['predicted']}] {e['text']}")
    if r.get("learning_curve"):
        print("learning curve (labelled 2021 entries per line seen by the fitted tagger, mean of 3 CV runs):")
        print(f"  {'per line':>8s} {'C top-1':>8s} {'C macroF1':>10s} {'sub top-1':>10s} {'sub macroF1':>12s}")
        for row in r["learning_curve"]:
            print(f"  {row['entries_per_line']:8d} {row['top1_accuracy_c_level']:8.3f} {row['macro_f1_c_level']:10.3f} "
                  f"{row['top1_accuracy_subline']:10.3f} {row['macro_f1_subline']:12.3f}")


def save(r: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(r, indent=2))
