"""Helpers shared by the parsers: decoding, whitespace, paragraphs, years."""

from __future__ import annotations

import hashlib
import re
import unicodedata


class ParseError(Exception):
    """A source file that cannot be read as a document; the message is the reason reported."""


# Mojibake seen in spreadsheet exports that went through a Mac code page (2015 stocktaking CSV).
_MOJIBAKE = {
    "\x89Ûª": "'",
    "\x89Û÷": "'",
    "\x89ÛÏ": '"',
    "\x89Û\x9d": '"',
    "\x89ÛÒ": "-",
    "\x89ÛÓ": "-",
    "\x89Û_": "...",
    "Ì©": "é",
    "Ì¢": "â",
    "Ì±": "ñ",
    "Ìü": "ü",
    "Ìö": "ö",
}


def decode_bytes(data: bytes) -> str:
    """UTF-8 (with or without BOM) when valid, else Windows-1252, else latin-1 (never fails)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


# The same byte sequences read as Windows-1252 instead of latin-1 (0x89 is "‰" there).
_MOJIBAKE.update({bad.replace("\x89", "‰"): good for bad, good in list(_MOJIBAKE.items()) if "\x89" in bad})


def fix_mojibake(text: str) -> str:
    for bad, good in _MOJIBAKE.items():
        if bad in text:
            text = text.replace(bad, good)
    return text


def looks_binary(data: bytes) -> bool:
    head = data[:4096]
    if not head:
        return False
    if b"\x00" in head:
        return True
    ctrl = sum(1 for b in head if b < 9 or 13 < b < 32)
    return ctrl / len(head) > 0.05


_WS = re.compile(r"[ \t\u00a0\u2000-\u200b]+")


def clean_inline(text: str) -> str:
    """Normalise a run of text to single spaces (Unicode NFC, no control characters)."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\u2011", "-")
    text = "".join(ch if ch >= " " or ch in "\n\t" else " " for ch in text)
    return _WS.sub(" ", text.replace("\n", " ")).strip()


_SENT_END = re.compile(r"[.!?:;)\"'’”]\s*$")


def ends_sentence(text: str) -> bool:
    return bool(_SENT_END.search(text.rstrip()))


def join_broken(paragraphs: list[str]) -> list[str]:
    """Re-join paragraphs broken by a page break: one that does not end a sentence, followed by one
    that starts in lower case, is one paragraph."""
    out: list[str] = []
    for p in paragraphs:
        if out and not ends_sentence(out[-1]) and p[:1].islower():
            out[-1] = out[-1].rstrip() + " " + p.lstrip()
        else:
            out.append(p)
    return out


_YEAR = re.compile(r"(?<![\d.])(20[0-3]\d|19[89]\d)(?![\d])")


def year_in(text: str) -> int | None:
    m = _YEAR.search(text or "")
    return int(m.group(1)) if m else None


def sha256(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def title_key(text: str) -> str:
    """Comparison key for titles that may carry mojibake or different quotes: ASCII letters and
    digits only."""
    return re.sub(r"[^a-z0-9]", "", text.lower())
