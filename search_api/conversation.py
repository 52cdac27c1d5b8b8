"""Server-side conversations and follow-up resolution: a follow-up ("What did he recommend to fix that?",
"What about in Latin America?", "Are any of those in Kenya?") keeps the previous turn's topic, speaker and
intent where it says nothing of its own, and replaces the scope (place, speaker, action line) it names."""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .filters import Filters
from .question import PRONOUNS, Entity, Question, content_words
from .shared_state import SharedDB

FOLLOW_UP_START = re.compile(r"^\s*(?:and|but|also|what about|how about|and what about|what of|same|then|ok(?:ay)?|"
                             r"now|so|are any|is any|any of (?:those|these|them)|which of (?:those|these|them))\b", re.I)
_REFERRING = re.compile(r"\b(?:he|she|him|her|his|hers|they|them|their|it|its|those|these|that|this (?:problem|issue|"
                        r"question|topic|one)|such)\b", re.I)


@dataclass
class Turn:
    question: str
    understood: Question  # the question as resolved (after inheriting from earlier turns)
    filters: Filters


@dataclass
class Conversation:
    id: str
    turns: list[Turn] = field(default_factory=list)
    updated: float = field(default_factory=time.time)


class Conversations:
    """Server-side conversations, bounded in number (least recently used dropped first), age and turns."""

    def __init__(self, max_count: int = 1000, max_age_s: float = 3600.0, max_turns: int = 20):
        self.max_count, self.max_age_s, self.max_turns = max_count, max_age_s, max_turns
        self._data: OrderedDict[str, Conversation] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_create(self, cid: str | None) -> Conversation:
        """The conversation `cid` names if the server gave that id out and it is still alive; otherwise a new
        conversation under a fresh server-generated id (128 random bits), never the one the client sent: an
        id cannot be chosen, so a client cannot guess or share its way into another client's conversation."""
        now = time.time()
        with self._lock:
            for key in [k for k, c in self._data.items() if now - c.updated > self.max_age_s]:
                del self._data[key]
            conv = self._data.get(cid) if cid else None
            if conv is None:
                conv = Conversation(id=secrets.token_urlsafe(16))
                self._data[conv.id] = conv
            self._data.move_to_end(conv.id)
            conv.updated = now
            while len(self._data) > self.max_count:
                self._data.popitem(last=False)
            return conv

    def add(self, conv: Conversation, turn: Turn) -> None:
        with self._lock:
            conv.turns.append(turn)
            del conv.turns[:-self.max_turns]

    def __len__(self) -> int:
        return len(self._data)


def turn_to_json(t: Turn) -> dict:
    return {"question": t.question, "understood": asdict(t.understood), "filters": asdict(t.filters)}


def turn_from_json(d: dict) -> Turn:
    u = dict(d["understood"])
    u["entities"] = tuple(Entity(**e) for e in u.get("entities", ()))
    for k in ("topic", "names", "kinds"):
        u[k] = tuple(u.get(k, ()))
    f = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d["filters"].items()}
    return Turn(question=d["question"], understood=Question(**u), filters=Filters(**f))


class SharedConversations:
    """The same contract as Conversations, kept in one SQLite file that every server process on the machine
    opens (WAL mode), so a follow-up finds its conversation whichever worker process it reaches."""

    def __init__(self, path: Path, max_count: int = 1000, max_age_s: float = 3600.0, max_turns: int = 20):
        self.max_count, self.max_age_s, self.max_turns = max_count, max_age_s, max_turns
        self.db = SharedDB(path, (
            "CREATE TABLE IF NOT EXISTS conversations (id TEXT PRIMARY KEY, updated REAL NOT NULL, turns TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS conversations_updated ON conversations(updated)"))

    def get_or_create(self, cid: str | None) -> Conversation:
        """As Conversations.get_or_create: a live id the server gave out, else a new server-generated one."""
        now = time.time()
        with self.db.transaction() as con:
            con.execute("DELETE FROM conversations WHERE updated < ?", (now - self.max_age_s,))
            row = con.execute("SELECT turns FROM conversations WHERE id = ?", (cid,)).fetchone() if cid else None
            if row is None:
                conv = Conversation(id=secrets.token_urlsafe(16), updated=now)
                con.execute("INSERT INTO conversations VALUES (?, ?, '[]')", (conv.id, now))
            else:
                conv = Conversation(id=cid, turns=[turn_from_json(t) for t in json.loads(row[0])], updated=now)
                con.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, cid))
            con.execute("DELETE FROM conversations WHERE id IN (SELECT id FROM conversations ORDER BY updated DESC "
                        "LIMIT -1 OFFSET ?)", (self.max_count,))
        return conv

    def add(self, conv: Conversation, turn: Turn) -> None:
        conv.turns.append(turn)
        del conv.turns[:-self.max_turns]
        self.db.execute("UPDATE conversations SET turns = ?, updated = ? WHERE id = ?",
                        (json.dumps([turn_to_json(t) for t in conv.turns]), time.time(), conv.id))

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM conversations")[0][0]

    def close(self) -> None:
        self.db.close()


def is_follow_up(q: Question, conv: Conversation) -> bool:
    if not conv.turns:
        return False
    if FOLLOW_UP_START.match(q.text):
        return True
    own = [w for w in content_words(q.text) if w not in PRONOUNS]
    if len(own) <= 2:
        return True
    # a pronoun that refers back, in a question that names no subject of its own
    return bool(_REFERRING.search(q.text)) and not q.names and len(q.topic) <= 6


def resolve(q: Question, filters: Filters, conv: Conversation) -> tuple[Question, Filters, bool]:
    """(question to answer, filters, whether it was read as a follow-up)."""
    if not is_follow_up(q, conv):
        return q, filters, False
    prev = conv.turns[-1].understood
    f = conv.turns[-1].filters if filters.empty() else filters
    entities = list(q.entities)
    kinds_named = {e.kind for e in q.entities}
    places_named = bool(kinds_named & {"country", "region"})
    for e in prev.entities:
        if e.kind in kinds_named:
            continue  # the follow-up names its own speaker / place / line: it replaces the previous one
        if e.kind in ("country", "region") and places_named:
            continue
        if e.kind == "speaker" and not (q.pronoun or not q.topic):
            continue  # a new question about something else does not keep the previous speaker
        entities.append(e)
    # the topic: a follow-up with a topic of its own keeps only the previous question's names (what "she",
    # "it", "those" point at); a short one ("what about in Kenya?") keeps the previous topic, less the places
    # it replaces
    old_places = {w for p in prev.places for w in content_words(p)}
    if len(q.topic) >= 3:
        topic = list(q.topic) + [w for n in prev.names for w in content_words(n)
                                 if w not in old_places and n not in {e.text for e in prev.entities}]
    else:
        topic = [w for w in prev.topic if w not in old_places or not places_named]
        topic += [w for w in q.topic if w not in topic]
    intent = q.intent if q.intent != "general" else prev.intent
    if intent == "said" and not [e for e in entities if e.kind == "speaker"]:
        intent = "general"
    role = q.role or (prev.role if q.intent == "general" else "")
    resolved = replace(q, intent=intent, role=role, entities=tuple(entities), topic=tuple(dict.fromkeys(topic)),
                       names=tuple(dict.fromkeys(q.names + prev.names)), kinds=q.kinds or prev.kinds)
    return resolved, f, True
