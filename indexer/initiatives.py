"""What each stocktaking initiative does, apart from who does it and where: its title and description with
the organisation, its acronym, country and other place names removed, embedded at build time
without its tool words (`initiatives.npy`, rows in the order of `initiatives.json`), plus the stripped
texts for a lexical (BM25) signal and key phrases at query time. Related-initiative search (search_api/related.py) scores
with these, so that the problem and approach decide, not the byline."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

VERSION = "2"  # 2: vectors of the problem text (tool words removed), BM25 over the stripped texts
VECTORS = "initiatives.npy"
META = "initiatives.json"

# Places that are not a country field of any entry but name where, not what.
REGIONS = ["Africa", "African", "Sub-Saharan", "Asia", "Asian", "Asia-Pacific", "Europe", "European", "Latin America",
           "Latin American", "South America", "North America", "Central America", "Caribbean", "Middle East",
           "Arab region", "Arab States", "Arab", "Gulf", "Pacific", "Balkans", "Eastern Europe", "Central Asia",
           "Scandinavia", "Nordic", "ASEAN", "Sahel"]
# Short names and demonyms the country field does not give.
ALIASES = {
    "united states of america": ["United States", "USA", "U.S.", "American"],
    "russian federation": ["Russia", "Russian"], "united kingdom": ["UK", "Britain", "British"],
    "united arab emirates": ["UAE", "Emirati", "Emirates", "Dubai", "Abu Dhabi"],
    "united republic of tanzania": ["Tanzania", "Tanzanian"], "saudi arabia": ["Saudi", "KSA", "Riyadh"],
    "china": ["Chinese"], "france": ["French"], "switzerland": ["Swiss"], "netherlands": ["Dutch"],
    "philippines": ["Filipino", "Philippine"], "thailand": ["Thai"], "bangladesh": ["Bangladeshi"],
    "kuwait": ["Kuwaiti"], "qatar": ["Qatari"], "oman": ["Omani"], "pakistan": ["Pakistani"],
    "turkey": ["Turkish", "Türkiye"], "poland": ["Polish"], "portugal": ["Portuguese"], "spain": ["Spanish"],
    "sudan": ["Sudanese"], "lebanon": ["Lebanese"], "senegal": ["Senegalese"], "viet nam": ["Vietnam", "Vietnamese"],
    "korea (rep. of)": ["Korea", "Korean"], "republic of korea": ["Korea", "Korean"], "iran": ["Iranian"],
    "kazakhstan": ["Kazakh", "Kazakhstani"], "latvia": ["Latvian"], "egypt": ["Egyptian"], "morocco": ["Moroccan"],
    "algeria": ["Algerian"], "colombia": ["Colombian"], "mexico": ["Mexican"], "brazil": ["Brazilian"],
    "argentina": ["Argentine", "Argentinian"], "indonesia": ["Indonesian"], "malaysia": ["Malaysian"],
    "nigeria": ["Nigerian"], "kenya": ["Kenyan"], "rwanda": ["Rwandan"], "uruguay": ["Uruguayan"],
    "italy": ["Italian"], "serbia": ["Serbian"], "india": ["Indian"], "germany": ["German"], "japan": ["Japanese"],
    "bulgaria": ["Bulgarian"], "canada": ["Canadian"], "ghana": ["Ghanaian"], "uganda": ["Ugandan"],
}
NO_PLACE = {"", "international", "global", "worldwide", "world", "various", "multiple", "online", "n/a", "none"}

_WORD = re.compile(r"[A-Za-z0-9]+(?:[-'][A-Za-z0-9]+)*")
# Words that say nothing about the problem: kept out of key phrases and the lexical signal.
GENERIC = {"project", "projects", "initiative", "initiatives", "programme", "program", "programs", "programmes",
           "platform", "system", "systems", "service", "services", "use", "using", "used", "also", "new", "well",
           "aim", "aims", "aimed", "provide", "provides", "providing", "based", "include", "includes", "including",
           "ict", "icts", "one", "two", "first", "year", "years", "etc", "within", "order", "make", "able", "way",
           "among", "via", "many", "various", "several", "would", "could", "will", "can", "may", "wsis", "prize",
           "prizes", "category", "data", "information", "technology", "technologies", "digital", "development",
           "national", "people", "users", "user", "online", "access", "solution", "solutions", "support", "well",
           "country", "countries", "government", "ministry", "organization", "organisation", "public",
           "which", "has", "have", "had", "how", "day", "days", "increase", "increased", "increasing", "help",
           "helps", "world", "international", "global", "experience", "experiences", "need", "needs", "time",
           "times", "part", "level", "levels", "different", "important", "operational", "operation", "operations",
           "developed", "developing", "implemented", "implementation", "launched", "main", "president", "serve",
           "hour", "hours", "seven", "three", "four", "five", "proposed", "such", "line", "lines", "thus",
           "order", "towards", "toward", "across", "every", "most", "more", "other", "others", "like", "all",
           "high", "large", "free", "open", "best", "key", "real", "allow", "allows", "enable", "enables",
           # spoken filler of session transcripts
           "great", "call", "really", "lot", "lots", "think", "know", "going", "want", "say", "said", "thank",
           "thanks", "yes", "okay", "actually", "basically", "kind", "sort", "thing", "things", "get", "got",
           "let", "look", "see", "come", "well", "much", "many", "something", "everyone", "today", "now"}


def norm_place(value: str) -> str:
    """'NEPAL (Republic of)' -> 'nepal'; 'Moscow,' -> 'moscow'; '' for no place (International, blank)."""
    v = re.sub(r"\(.*?\)", " ", str(value or "")).strip(" ,.;").lower()
    v = re.sub(r"\s+", " ", v)
    return "" if v in NO_PLACE else v


def norm_org(value: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w ]+", " ", str(value or "").lower())).strip()


def org_names(org: str) -> list[str]:
    """The organisation's name as written, without its parenthesised part, that part (its acronym), and
    the initials of its capitalised words when they make an acronym of 3+ letters."""
    org = (org or "").strip()
    if not org:
        return []
    out = [org]
    bare = re.sub(r"\(.*?\)", " ", org).strip(" ,-")
    out.append(bare)
    out += [a.strip() for a in re.findall(r"\(([^)]{2,20})\)", org)]
    caps = [w for w in re.findall(r"[A-Za-z]+", bare) if w[0].isupper() and w.lower() not in {"of", "and", "the", "for"}]
    if len(caps) >= 3:
        out.append("".join(w[0] for w in caps))
    return [n for n in dict.fromkeys(x.strip() for x in out) if len(n) >= 2]


def place_names(countries: list[str]) -> list[str]:
    """Every place named in any entry's country field (split at commas), their aliases and the regions."""
    out: set[str] = set(REGIONS)
    for c in countries:
        for part in re.split(r"[,;/]", re.sub(r"\(.*?\)", " ", c or "")):
            p = norm_place(part)
            if p and len(p) >= 3:
                out.add(p)
                out.update(ALIASES.get(p, []))
        full = norm_place(c)
        out.update(ALIASES.get(full, []))
    return sorted(out, key=len, reverse=True)


def _names_pattern(names: list[str]) -> re.Pattern | None:
    names = [n for n in names if n.strip()]
    if not names:
        return None
    alts = "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))
    return re.compile(r"(?<![\w-])(?:" + alts + r")(?![\w-])", re.I)


def strip_names(text: str, org_pattern: re.Pattern | None, place_pattern: re.Pattern | None) -> str:
    """Remove the organisation's names anywhere, and place names where they are capitalised (so 'turkey'
    the bird or 'chad' stay), then parenthesised acronyms and empty brackets left behind."""
    if org_pattern is not None:
        text = org_pattern.sub(" ", text)
    if place_pattern is not None:
        text = place_pattern.sub(lambda m: " " if m.group(0)[0].isupper() else m.group(0), text)
    text = re.sub(r"\(\s*(?=[^)]*[A-Z][^)]*[A-Z])[A-Za-z0-9&.\- ]{2,16}\)", " ", text)  # (eMISK), (UKE), ( MOE )
    text = re.sub(r"\(\s*[,;:\-\s]*\)", " ", text)
    text = re.sub(r"\s+([,.;:])", r"\1", text)
    return re.sub(r"\s+", " ", text).strip(" ,;:-")


def initiative_text(title: str, description: str, org: str, places: re.Pattern | None) -> str:
    """Title + description without who and where; the bare title when stripping leaves nothing."""
    pat = _names_pattern(org_names(org))
    out = strip_names(f"{title}. {description}".strip(" ."), pat, places)
    return out if len(_WORD.findall(out)) >= 2 else title


# Words about the tool rather than the problem ("a mobile app", "an online platform"): left out of the text
# that is embedded, so that two apps for different problems are not alike and two answers to one problem
# are, whatever the tool.
TOOL_WORDS = re.compile(
    r"(?<![\w-])(?:apps?|applications?|mobile|platforms?|portals?|online|digital(?:ly)?|icts?|technology|"
    r"technologies|technological|systems?|software|websites?|web|electronic|smart|solutions?|tools?|projects?|"
    r"initiatives?|programmes?|programs?|services?|innovative|innovations?|e|m|based|using|use|through|via|"
    r"develop(?:ed|ment|ing)?|provid(?:e|es|ed|ing)|aims?|objective|goal)(?![\w])", re.I)


def problem_text(text: str) -> str:
    """The text with compound hyphens opened ("persons-with-disabilities") and tool words removed."""
    t = re.sub(r"(?<=[A-Za-z]{3})-(?=[A-Za-z]{3})", " ", text or "")
    t = re.sub(r"(?<![\w])-", " ", TOOL_WORDS.sub(" ", t))
    t = re.sub(r"\s+", " ", t).strip()
    return t or (text or "")


def represent(docs) -> tuple[list[str], list[str]]:
    """(doc ids, stripped texts) of the stocktaking entries among `docs` (indexer.models.Document), in
    document order."""
    entries = [d for d in docs if d.kind == "stocktaking_entry"]
    places = _names_pattern(place_names([d.metadata.get("country", "") for d in entries]))
    ids, texts = [], []
    for d in entries:
        desc = " ".join(s.text for s in d.sections if s.heading == "Description")
        ids.append(d.id)
        texts.append(initiative_text(d.title, desc, d.metadata.get("organisation", ""), places))
    return ids, texts


def build_initiatives(out_dir: Path, docs, embedder, cache=None) -> dict[str, Any]:
    """Write `initiatives.npy` and `initiatives.json` into the build folder; returns the manifest entry.
    Vectors of texts embedded before come from the embedding cache (keyed by the text's hash)."""
    import hashlib
    import time

    t = time.perf_counter()
    ids, texts = represent(docs)
    by_id = {d.id: d for d in docs}
    orgs = [norm_org(by_id[i].metadata.get("organisation", "")) for i in ids]
    countries = [norm_place(by_id[i].metadata.get("country", "")) for i in ids]
    dim = embedder.dim
    vectors = np.zeros((len(texts), dim), dtype=np.float32)
    hashes = [hashlib.sha256(("initiative\n" + problem_text(x)).encode("utf-8")).hexdigest() for x in texts]
    cached = cache.get_many(hashes) if cache and hashes else {}
    todo = [i for i, h in enumerate(hashes) if h not in cached]
    for i, h in enumerate(hashes):
        if h in cached:
            vectors[i] = cached[h]
    if todo:
        vecs = np.asarray(embedder.encode([problem_text(texts[i]) for i in todo]), dtype=np.float32)
        vectors[todo] = vecs
        if cache:
            cache.put_many([(hashes[i], v) for i, v in zip(todo, vecs)])
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.maximum(norms, 1e-12)
    np.save(Path(out_dir) / VECTORS, vectors.astype(np.float32))
    (Path(out_dir) / META).write_text(json.dumps({"version": VERSION, "ids": ids, "texts": texts,
                                                  "organisations": orgs, "countries": countries},
                                                 ensure_ascii=False))
    return {"vectors": VECTORS, "ids": META, "version": VERSION, "count": len(ids), "embedded": len(todo),
            "removed": "organisation names and acronyms, country and other place names",
            "seconds": round(time.perf_counter() - t, 2)}


# ---------------------------------------------------------------- query-time view


class Initiatives:
    """The build's initiative representations: problem vectors, stripped texts, and over those texts a BM25
    view (unigram stems) for the lexical signal and phrase statistics (unigrams and bigrams of stems) for
    the shared key phrases."""

    K1, B = 1.2, 0.75

    def __init__(self, ids: list[str], texts: list[str], vectors: np.ndarray, version: str = VERSION,
                 organisations: list[str] | None = None, countries: list[str] | None = None):
        self.ids = list(ids)
        self.texts = list(texts)
        self.organisations = list(organisations or [""] * len(self.ids))  # normalised (norm_org)
        self.countries = list(countries or [""] * len(self.ids))  # normalised (norm_place), "" for none
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.version = version
        self.row = {d: i for i, d in enumerate(self.ids)}
        self._stemmer = None
        self._stem_cache: dict[str, str] = {}
        self.surface: dict[str, Counter] = {}
        docs_terms = [self.terms(t, learn_surface=True) for t in self.texts]
        self.df: Counter = Counter()
        for terms in docs_terms:
            self.df.update(terms.keys())
        self._bm25(docs_terms)

    def _bm25(self, docs_terms: list[Counter]) -> None:
        from scipy.sparse import csc_matrix

        unigrams = [{t: c for t, c in terms.items() if " " not in t} for terms in docs_terms]
        vocab = sorted({t for u in unigrams for t in u})
        self.vocab = {t: j for j, t in enumerate(vocab)}
        n = max(len(unigrams), 1)
        lengths = np.array([sum(u.values()) for u in unigrams] or [0], dtype=np.float32)
        avg = float(lengths.mean()) or 1.0
        rows, cols, vals = [], [], []
        for i, u in enumerate(unigrams):
            norm = self.K1 * (1 - self.B + self.B * lengths[i] / avg)
            for t, c in u.items():
                idf = math.log(1 + (n - self.df[t] + 0.5) / (self.df[t] + 0.5))
                rows.append(i)
                cols.append(self.vocab[t])
                vals.append(idf * c * (self.K1 + 1) / (c + norm))
        self.bm25_matrix = csc_matrix((np.asarray(vals, dtype=np.float32), (rows, cols)),
                                      shape=(len(unigrams), max(len(vocab), 1)))

    def __len__(self) -> int:
        return len(self.ids)

    def problem_text(self, text: str) -> str:
        return problem_text(text)

    def stem(self, word: str) -> str:
        w = word.lower()
        s = self._stem_cache.get(w)
        if s is None:
            if self._stemmer is None:
                import Stemmer

                self._stemmer = Stemmer.Stemmer("english")
            s = self._stemmer.stemWord(w)
            self._stem_cache[w] = s
        return s

    def tokens(self, text: str) -> list[str | None]:
        """Stems of the words in order; None where a stop word or a generic word breaks a phrase."""
        from bm25s.stopwords import STOPWORDS_EN_PLUS

        stop = _stopwords(STOPWORDS_EN_PLUS)
        out: list[str | None] = []
        for w in _WORD.findall(text or ""):
            lw = w.lower()
            if lw in stop or lw in GENERIC or len(lw) < 3 or lw.isdigit():
                out.append(None)
            else:
                out.append(self.stem(lw))
        return out

    def terms(self, text: str, learn_surface: bool = False) -> Counter:
        """Unigram and bigram stem counts ('communiti network')."""
        toks = self.tokens(text)
        c: Counter = Counter(t for t in toks if t)
        c.update(f"{a} {b}" for a, b in zip(toks, toks[1:]) if a and b and a != b)
        if learn_surface:
            words = _WORD.findall(text or "")
            for w, t in zip(words, toks):
                if t:
                    self.surface.setdefault(t, Counter())[w.lower()] += 1
        return c

    def lexical(self, text: str) -> np.ndarray:
        """BM25 of `text`'s word stems against every initiative's stripped text, divided by the best score
        (0..1)."""
        cols = sorted({self.vocab[t] for t in self.terms(text) if " " not in t and t in self.vocab})
        if not cols or not len(self.ids):
            return np.zeros(len(self.ids), dtype=np.float32)
        sc = np.asarray(self.bm25_matrix[:, cols].sum(axis=1)).ravel().astype(np.float32)
        top = float(sc.max())
        return sc / top if top > 0 else sc

    def weight(self, term: str) -> float:
        """Inverse document frequency of a stem or stem bigram among the initiatives."""
        n = len(self.ids)
        return math.log((n + 1) / (self.df.get(term, 0) + 1)) + 1.0

    def label(self, term: str) -> str:
        """The most frequent spelling of a stem or stem bigram ('communiti network' -> 'community networks')."""
        return " ".join(self.surface[p].most_common(1)[0][0] if p in self.surface else p for p in term.split(" "))

    def shared_phrases(self, a: str, b: str, top: int = 4, max_df: float = 0.08) -> list[str]:
        """Key phrases two texts share, rarest first; bigrams hide their own unigrams; phrases used by more
        than `max_df` of the initiatives are too common to explain anything."""
        ta, tb = self.terms(a), self.terms(b)
        limit = max(2, int(max_df * max(len(self.ids), 1)))
        shared = [t for t in ta.keys() & tb.keys() if self.df.get(t, 0) <= limit]
        bigram_parts = {p for t in shared if " " in t for p in t.split(" ")}
        shared = [t for t in shared if " " in t or t not in bigram_parts]
        shared.sort(key=lambda t: (-(self.weight(t) + (1.0 if " " in t else 0.0)), t))
        return [self.label(t) for t in shared[:top]]

    def key_phrases(self, rows: list[int], top: int = 3, min_share: float = 0.25) -> list[str]:
        """Phrases that characterise a group of initiatives: frequent inside (>= `min_share` of the group,
        at least 2), rare outside (inverse document frequency). For one initiative: its rarest phrases
        that at least one other initiative also uses."""
        inside: Counter = Counter()
        for r in rows:
            inside.update(set(self.terms(self.texts[r]).keys()))
        need = max(2, math.ceil(min_share * len(rows))) if len(rows) > 1 else 1
        common = 0.08 * max(len(self.ids), 1)
        cands = [(c * self.weight(t) * (1.3 if " " in t else 1.0), t) for t, c in inside.items()
                 if c >= need and (len(rows) > 1 or 2 <= self.df.get(t, 0) <= common)]
        cands.sort(key=lambda x: (-x[0], x[1]))
        out: list[str] = []
        for _, t in cands:
            if any(t in o or o in t for o in out):
                continue
            out.append(t)
            if len(out) >= top:
                break
        return [self.label(t) for t in out]


_STOP: set[str] | None = None


def _stopwords(base) -> set[str]:
    global _STOP
    if _STOP is None:
        _STOP = {w.lower() for w in base}
    return _STOP


def load_initiatives(folder: Path) -> Initiatives | None:
    """The build's initiatives, or None for an index built before they existed (callers fall back)."""
    folder = Path(folder)
    if not (folder / VECTORS).exists() or not (folder / META).exists():
        return None
    meta = json.loads((folder / META).read_text(encoding="utf-8"))
    vectors = np.load(folder / VECTORS)
    if len(vectors) != len(meta["ids"]):
        return None
    return Initiatives(meta["ids"], meta["texts"], vectors, meta.get("version", VERSION),
                       meta.get("organisations"), meta.get("countries"))
