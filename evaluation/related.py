"""`wsis eval related`: precision@5 of the related initiatives over a judged set (evaluation/data/related.jsonl:
one line per seed {"seed": doc id or "<doc id>::<n>", "seed_type", "split": dev|test, "topic",
"judgements": {candidate doc id: 1|0}}), per split, for the current method and the first one.

Relevant = judged 1. An item of the top 5 that nobody judged is counted apart (`unjudged`) and the
precision is given twice: strict (unjudged = not relevant) and over the judged items only; never is an
unjudged item taken as relevant. Also: the share of the top 5 that has the seed's organisation or country
(document metadata, initiative seeds only), and the p50 latency of the whole related call."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from indexer.initiatives import norm_org, norm_place

DEFAULT_SET = Path(__file__).resolve().parent / "data" / "related.jsonl"
K = 5


def load_set(path: Path = DEFAULT_SET) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def _call(engine, method: str, seed: str, k: int, cfg=None) -> dict:
    from search_api.related import DEFAULT, related
    from search_api.related_legacy import legacy_related

    kw = {"passage_id": seed} if "::" in seed else {"document_id": seed}
    if method == "legacy":
        return legacy_related(engine, k=k, **kw)
    return related(engine, k=k, cfg=cfg or DEFAULT, **kw)


def run(engine, rows: list[dict], method: str = "problem", k: int = K, cfg=None) -> dict:
    """Per split: strict and judged-only precision@k, unjudged count, same-organisation / same-country
    share, p50 latency; and the per-seed lists."""
    store = engine.index.store
    per_seed, latencies = [], []
    _call(engine, method, rows[0]["seed"], k, cfg) if rows else None  # warm caches (vids, encoder)
    for r in rows:
        t = time.perf_counter()
        out = _call(engine, method, r["seed"], k, cfg)
        latencies.append((time.perf_counter() - t) * 1000)
        got = [c["document_id"] for c in out["initiatives"]][:k]
        seed_doc = r["seed"].split("::")[0]
        seed_meta = (store.document(seed_doc) or {}).get("metadata", {})
        metas = store.documents(got)
        org, country = norm_org(seed_meta.get("organisation", "")), norm_place(seed_meta.get("country", ""))
        same_org = sum(1 for d in got if org and norm_org(metas.get(d, {}).get("metadata", {}).get("organisation", "")) == org)
        same_country = sum(1 for d in got if country and
                           norm_place(metas.get(d, {}).get("metadata", {}).get("country", "")) == country)
        same_any = sum(1 for d in got if (org and norm_org(metas[d]["metadata"].get("organisation", "")) == org)
                       or (country and norm_place(metas[d]["metadata"].get("country", "")) == country))
        j = r["judgements"]
        per_seed.append({"seed": r["seed"], "seed_type": r["seed_type"], "split": r["split"], "topic": r.get("topic", ""),
                         "top": got, "judged": [j.get(d) for d in got], "relevant": sum(1 for d in got if j.get(d) == 1),
                         "unjudged": [d for d in got if d not in j], "returned": len(got),
                         "same_org": same_org, "same_country": same_country, "same_any": same_any,
                         "has_place": bool(org or country)})
    splits = {}
    for split in sorted({r["split"] for r in rows}):
        ps = [p for p in per_seed if p["split"] == split]
        slots = k * len(ps)
        rel = sum(p["relevant"] for p in ps)
        unj = sum(len(p["unjudged"]) for p in ps)
        placed = [p for p in ps if p["has_place"]]
        pslots = sum(p["returned"] for p in placed) or 1
        splits[split] = {
            "seeds": len(ps), "precision@5": round(rel / slots, 3) if slots else 0.0,
            "precision@5_judged_only": round(rel / (slots - unj), 3) if slots > unj else 0.0,
            "unjudged_in_top5": unj,
            "same_org_share": round(sum(p["same_org"] for p in placed) / pslots, 3),
            "same_country_share": round(sum(p["same_country"] for p in placed) / pslots, 3),
            "same_org_or_country_share": round(sum(p["same_any"] for p in placed) / pslots, 3),
            "by_seed_type": {t: round(sum(p["relevant"] for p in ps if p["seed_type"] == t)
                                      / (k * sum(1 for p in ps if p["seed_type"] == t)), 3)
                             for t in sorted({p["seed_type"] for p in ps})},
        }
    return {"method": method, "k": k, "splits": splits, "p50_ms": round(statistics.median(latencies), 1) if latencies else 0.0,
            "per_seed": per_seed}


def print_report(results: list[dict]) -> None:
    print(f"{'method':16s} {'split':5s} {'seeds':>5s} {'P@5':>6s} {'P@5 judged':>10s} {'unjudged':>8s} "
          f"{'same org':>8s} {'same ctry':>9s} {'org|ctry':>8s} {'p50 ms':>7s}")
    for r in results:
        for split, s in r["splits"].items():
            print(f"{r['method']:16s} {split:5s} {s['seeds']:5d} {s['precision@5']:6.3f} {s['precision@5_judged_only']:10.3f} "
                  f"{s['unjudged_in_top5']:8d} {s['same_org_share']:8.3f} {s['same_country_share']:9.3f} "
                  f"{s['same_org_or_country_share']:8.3f} {r['p50_ms']:7.1f}")
        for split, s in r["splits"].items():
            print(f"  {r['method']} {split} P@5 by seed type: " +
                  ", ".join(f"{t} {v:.3f}" for t, v in s["by_seed_type"].items()))
    print("P@5 counts unjudged items as not relevant; 'P@5 judged' is over judged items only. Same org/country: "
          "share of the top 5 of initiative seeds (document metadata).")


def unjudged_rows(result: dict) -> list[tuple[str, str]]:
    return [(p["seed"], d) for p in result["per_seed"] for d in p["unjudged"]]
