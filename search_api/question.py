"""Question understanding for answers: the people, organisations, places and action lines a question names
(recognised from the index's own metadata, so they become filters or boosts rather than words to match),
what it asks for (intent), and the text that is left to search with."""

from __future__ import annotations

import re
import threading
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from indexer.actionlines import ACTION_LINES, BY_CODE, normalise_filter

_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
STOP = set("""a an the of in on for to and or is are was were be been by with at from as that this these those it its
what which who whom how why when where do does did can could should would will shall may might there their they them
we our you your i me my about into than then so such not no yes any all some more most other also just only very
tell give show list find please much many according say said says think thought see saw describe described
explain explained present presented outline outlined mention mentioned believe argue argued view views
he she his her him hers one ones someone anything something thing things way ways kind kinds type types
main key major biggest important has have had i'm im looking over through during while under using use
like regarding concerning session sessions workshop panel speaker speakers talk identify identified
identifies facilitator facilitators""".split())
# Which kind of document a question points at: a facilitator's report, the Plan of Action's text, IGF debate.
KIND_CUES = [
    ("action_line_report", re.compile(r"\b(?:facilitators?|facilitator'?s report|executive summary|"
                                      r"ten-year report|10-year report|WSIS\+10 report)\b", re.I)),
    ("reference", re.compile(r"\b(?:plan of action|geneva plan|tunis agenda|WSIS-SDG matrix|action line text)\b",
                             re.I)),
    ("igf_transcript", re.compile(r"\b(?:IGF|session|workshop|panel(?:ist)?s?|speakers?|debate|discussion)\b",
                                  re.I)),
]
# where the question says the answer should come from ("in the IGF 2020 session on ...") is not its topic
_SOURCE_REF = re.compile(r"\b(?:in|at|during|from)\s+(?:the|an|a)?\s*(?:IGF\s+)?(?:19|20)\d\d\b", re.I)
PRONOUNS = {"he", "she", "him", "her", "his", "hers", "they", "them", "their", "it", "its", "that", "those",
            "these", "this", "there"}
REGIONS = ["sub-saharan africa", "west africa", "east africa", "north africa", "southern africa", "africa",
           "latin america", "south america", "north america", "central america", "caribbean", "asia-pacific",
           "asia pacific", "south asia", "southeast asia", "east asia", "central asia", "asia", "europe",
           "middle east", "arab states", "arab region", "pacific", "small island developing states", "oceania",
           "global south", "developing countries", "least developed countries"]

INTENT_PATTERNS = [
    ("initiatives", re.compile(r"\b(?:initiatives?|projects?|programmes?|programs?|entries|nominations?|nominated|"
                               r"prizes? (?:projects|entries|winners)|stocktaking|tools|apps|platforms)\b", re.I)),
    ("figure", re.compile(r"\b(?:how (?:many|much|large|big|often)|what (?:share|percentage|proportion|number|"
                          r"amount)|number of|percentage of|share of|proportion of|how fast)\b", re.I)),
    ("recommendation", re.compile(r"\b(?:recommend\w*|should|propos\w+|suggest\w*|call(?:s|ed)? for|solutions?|"
                                  r"fix|remed\w+|what (?:needs|has) to be done|way forward|address(?:ing)? (?:those|"
                                  r"these|this|that|the)|answer to)\b", re.I)),
    ("challenge", re.compile(r"\b(?:challenges?|obstacles?|barriers?|problems?|risks?|threats?|difficult\w*|dangers?|"
                             r"stands? in the way|keeps? \w+(?: \w+){0,4} from|hinder\w*|gaps?|limits?)\b", re.I)),
    ("achievement", re.compile(r"\b(?:achiev\w+|results?|progress|impact|accomplish\w+|succe\w+|outcomes?)\b", re.I)),
]
# Sentences that do what an intent asks for: recommend, name a challenge, report an achievement.
ROLE_CUES = {
    "recommendation": re.compile(r"\b(?:should|must|need(?:s|ed)? to|recommend\w*|call(?:s|ed)? (?:on|for)|urge\w*|"
                                 r"important to|propos\w+|encourag\w+|ought|ensure|promote|require\w*)\b|"
                                 r"^(?:Adopt|Determine|Utili[sz]e|Utili[sz]ing|Ensure|Promote|Strengthen|Develop|"
                                 r"Enhance|Support|Establish|Create|Improve|Provide|Increase|Build|Integrate|Invest|"
                                 r"Expand|Encourage|Foster|Facilitate|Use|Make|Set|Define|Harmoni[sz]e)\b", re.I | re.M),
    "challenge": re.compile(r"\b(?:challeng\w+|barrier\w*|obstacl\w+|lack\w*|problem\w*|difficult\w*|risk\w*|threat\w*|"
                            r"gap\w*|cannot|can't|unable|hard|expensive|cost\w*|limit\w*|concern\w*|issue\w*)\b", re.I),
    "achievement": re.compile(r"\b(?:achiev\w+|launched|established|reached|trained|connected|increased|improved|"
                              r"success\w*|more than|over \d)\b", re.I),
}
INTENT_ROLE = {"recommendation": "recommendation", "challenge": "challenge", "achievement": "achievement"}
_INITIATIVE_ASK = re.compile(r"^\s*(?:which|what|are there|is there|any|list|show|find|i'?m looking for|looking for|"
                             r"name|give me)\b|\bany of those\b", re.I)
_SAID = re.compile(r"\b(?:say|said|says|think|thought|see|saw|argue\w*|explain\w*|describ\w+|outlin\w+|present\w*|"
                   r"mention\w*|believe\w*|view|views|suggest\w*|recommend\w*|define\w*|find|found|report\w*)\b", re.I)
_CAPS = re.compile(r"(?<![\w-])((?:[A-Z][\w'’.&-]*|[a-z]+[A-Z][\w-]*)(?:\s+(?:of|for|the|and|de|la|du|von|van)?\s*"
                   r"(?:[A-Z][\w'’.&-]*|[a-z]+[A-Z][\w-]*))*)")
_POSSESSIVE = re.compile(r"['’]s$")
_QUESTION_START = {"What", "Which", "Who", "How", "Why", "When", "Where", "Are", "Is", "Do", "Does", "Did", "Can",
                   "Could", "Should", "Would", "Will", "Has", "Have", "Find", "Show", "List", "Tell", "Give", "And",
                   "But", "Also", "Under", "According", "In", "On", "For", "To", "The", "A", "An", "I", "I'm", "Any",
                   "Name", "Please", "So", "Then", "Now", "Same", "Ok", "Okay", "What's", "Whats", "Looking"}


def words(text: str) -> list[str]:
    return [re.sub(r"['’]s$", "", w) for w in _WORD.findall(text.lower().replace("’", "'"))]


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in STOP and len(w) > 1]


@dataclass(frozen=True)
class Entity:
    kind: str  # speaker | organisation | country | region | action_line
    name: str  # canonical: as stored in the index (speaker as in transcripts, country lower-case)
    text: str  # as written in the question


@dataclass(frozen=True)
class Question:
    text: str
    intent: str = "general"  # general | said | initiatives | figure | recommendation | challenge | achievement
    role: str = ""  # the passage role the intent asks for, if any
    entities: tuple[Entity, ...] = ()
    topic: tuple[str, ...] = ()  # content words that are not names, places or question scaffolding
    names: tuple[str, ...] = ()  # distinctive capitalised names the question uses (coverage check)
    pronoun: bool = False
    kinds: tuple[str, ...] = ()  # document kinds the question points at (boosted, not filtered)

    def of(self, kind: str) -> list[Entity]:
        return [e for e in self.entities if e.kind == kind]

    @property
    def speakers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.name for e in self.of("speaker")))

    @property
    def places(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.text for e in self.entities if e.kind in ("country", "region")))

    @property
    def action_lines(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.name for e in self.of("action_line")))

    def search_text(self) -> str:
        """What retrieval searches with: the topic plus places and the names of the action lines named
        ("C11" stands for "International and regional cooperation"); people used as filters are left out."""
        parts = list(self.topic) + [p for p in self.places if p.lower() not in " ".join(self.topic)]
        for code in self.action_lines:
            line = BY_CODE.get(code)
            if line and line.name.lower() not in " ".join(parts).lower():
                parts.append(line.name)
        return " ".join(parts) if parts else self.text


@dataclass
class Gazetteer:
    """Names the index knows: speakers of transcript turns, organisations and countries of entries."""
    speakers: dict[str, set[str]] = field(default_factory=dict)  # lower-case name or surname -> canonical names
    organisations: set[str] = field(default_factory=set)
    countries: set[str] = field(default_factory=set)

    @classmethod
    def from_columns(cls, cols) -> "Gazetteer":
        g = cls()
        canon = sorted(s for s in cols.speaker_names if s and s.upper() != "MODERATOR" and len(s) > 3)
        full: dict[str, set[str]] = defaultdict(set)
        surname: dict[str, set[str]] = defaultdict(set)
        for s in canon:
            toks = s.lower().split()
            if len(toks) < 2:
                continue
            full[" ".join(toks)].add(s)
            if len(toks[-1]) >= 4:
                surname[toks[-1]].add(s)
        # spelling variants of one person in the captions (ANDERS ANDRAE / ANDERS ADRAE) count as one
        names = list(full)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                if a.split()[0] == b.split()[0] and SequenceMatcher(None, a, b).ratio() >= 0.85:
                    full[a] |= full[b]
                    full[b] |= full[a]
        g.speakers = dict(full)
        for sn, people in surname.items():
            if len({" ".join(p.lower().split()[:1]) for p in people}) == 1 and sn not in STOP:
                g.speakers.setdefault(sn, set()).update(people)
        g.organisations = {o.lower() for o in cols.organisations.names.tolist() if o and len(o) >= 4}
        g.countries = {c for c in cols.countries.names.tolist() if c and len(c) >= 4 and re.fullmatch(r"[a-z .'-]+", c)}
        return g


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def gazetteer(engine) -> Gazetteer:
    """The engine's gazetteer, built once per loaded index."""
    with _LOCK:
        g = _CACHE.get(engine)
        if g is None:
            g = _CACHE[engine] = Gazetteer.from_columns(engine.cols)
        return g


def _find_speakers(text: str, g: Gazetteer) -> list[tuple[Entity, tuple[int, int]]]:
    low = text.lower()
    found = []
    for key in sorted(g.speakers, key=len, reverse=True):
        for m in re.finditer(rf"(?<![\w-]){re.escape(key)}(?![\w-])", low):
            if any(s <= m.start() < e for _, (s, e) in found):
                continue
            if " " not in key and not text[m.start()].isupper():
                continue  # a bare surname counts only when written as a name
            for canon in sorted(g.speakers[key]):
                found.append((Entity("speaker", canon, text[m.start():m.end()]), (m.start(), m.end())))
    return found


def understand(text: str, engine) -> Question:
    g = gazetteer(engine)
    entities: list[Entity] = []
    taken: list[tuple[int, int]] = []
    for ent, span in _find_speakers(text, g):
        entities.append(ent)
        taken.append(span)
    # "<speaker> of/from/at the Internet Society": the affiliation describes the speaker, it is not a topic
    for s, e in list(taken):
        m = re.match(r"(?:['’]s)?\s*,?\s*(?:of|from|at|with)\s+(?:the\s+)?((?:[A-Z][\w&'-]*\s*)+)", text[e:])
        if m:
            taken.append((e, e + m.end()))
    low = text.lower()
    for region in REGIONS:
        for m in re.finditer(rf"\b{re.escape(region)}\b", low):
            if not any(s <= m.start() < e2 for s, e2 in taken):
                entities.append(Entity("region", region, text[m.start():m.end()]))
                taken.append((m.start(), m.end()))
    for m in re.finditer(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?\b", text):
        name = m.group(0).lower()
        if name in g.countries and not any(s <= m.start() < e2 for s, e2 in taken):
            entities.append(Entity("country", name, m.group(0)))
    for m in re.finditer(r"\b(?:action\s+lines?\s+)?(C\s?(?:1[01]|[1-9])(?:\.?\s?e-[a-z]+)?)\b", text):
        code = normalise_filter(m.group(1).replace(" ", ""))
        if code:
            entities.append(Entity("action_line", code, m.group(0)))
            taken.append((m.start(), m.end()))
    dehyphen = low.replace("-", " ")
    for a in ACTION_LINES:
        variant = a.name.lower().replace("-", " ")
        if len(variant) > 4:
            m = re.search(rf"\b{re.escape(variant)}\s+action\s+line\b", dehyphen)
            if m:
                entities.append(Entity("action_line", a.code, text[m.start():m.end()]))
                taken.append((m.start(), m.end()))
    for m in _SOURCE_REF.finditer(text):
        taken.append((m.start(), m.end()))
    masked = "".join(" " if any(s <= i < e for s, e in taken) else ch for i, ch in enumerate(text))
    intent = _intent(text, bool([e for e in entities if e.kind == "speaker"]))
    topic = [w for w in content_words(masked) if w not in PRONOUNS and not re.fullmatch(r"c\d{1,2}", w)]
    if intent == "initiatives":
        topic = [w for w in topic if not INTENT_PATTERNS[0][1].fullmatch(w)]
    kinds = tuple(kind for kind, pat in KIND_CUES if pat.search(text))
    return Question(text=text, intent=intent, role=INTENT_ROLE.get(intent, ""), entities=tuple(entities),
                    topic=tuple(dict.fromkeys(topic)), names=tuple(distinctive_names(text)),
                    pronoun=bool(set(words(text)) & PRONOUNS), kinds=kinds[:1])


def _intent(text: str, has_speaker: bool) -> str:
    hits = {name for name, pat in INTENT_PATTERNS if pat.search(text)}
    if "initiatives" in hits and not has_speaker and _INITIATIVE_ASK.search(text):
        return "initiatives"
    for name in ("figure", "recommendation", "challenge", "achievement"):
        if name in hits:
            return name
    if has_speaker and _SAID.search(text):
        return "said"
    return "general"


def distinctive_names(text: str) -> list[str]:
    """Capitalised names in the question (not its first word when that is scaffolding): "X-Road", "Gaia-X",
    "Tim Berners-Lee", "Freedom Online Coalition". Acronyms of action lines (C5) and WSIS vocabulary are not
    names to check."""
    out = []
    spans = []
    for m in _CAPS.finditer(text):
        spans += re.split(r"['’]s\s+", m.group(1))  # "Estonia's X-Road": two names
    for raw in spans:
        span = _POSSESSIVE.sub("", raw.strip(" .,;:?!"))
        toks = span.split()
        while toks and toks[0] in _QUESTION_START:
            toks = toks[1:]
        while toks and toks[-1].lower() in {"of", "for", "the", "and"}:
            toks = toks[:-1]
        span = " ".join(toks)
        if not span or re.fullmatch(r"C\d{1,2}(?:\.e-\w+)?|WSIS|IGF|ICTs?|UN|SDGs?|COVID-19|COVID", span):
            continue
        out.append(span)
    return list(dict.fromkeys(out))
