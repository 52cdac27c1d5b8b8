"""Write a corpus of hostile and broken files, plus a few good ones, for `wsis build` to survive:

    python scripts/make_hostile_corpus.py OUT_DIR

Zero-byte, truncated and corrupt PDFs, an encrypted PDF, a PDF of 2,000 empty pages, a 50 MB text file,
HTML with 100k nested tags, wrong and mixed encodings, a binary file named .html, a CSV with broken
quoting, JSON with a wrong schema. Prints what it wrote and what a build should say about each."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_PDF = ROOT / "corpus" / "sample" / "reports" / "c5-facilitator-report-2024.pdf"

EXPECT = {  # file -> what the build must do: "ok" (indexed) or a word of the reported reason
    "good/report.pdf": "ok",
    "good/entries.jsonl": "ok",
    "good/latin1-report.txt": "ok",
    "good/mixed-encoding.md": "ok",
    "bad/zero.pdf": "0 bytes",
    "bad/truncated.pdf": "PDF",
    "bad/corrupt.pdf": "PDF",
    "bad/encrypted.pdf": "encrypted",
    "bad/blank-2000-pages.pdf": "pages",
    "bad/huge.txt": "too large",
    "bad/nested.html": "",
    "bad/binary.html": "binary",
    "bad/broken-quoting.csv": "",
    "bad/wrong-schema.json": "schema",
    "bad/utf16-no-bom.txt": "binary",
    "bad/not-json.jsonl": "JSON",
}


def write(out: Path) -> dict[str, str]:
    from pypdf import PdfReader, PdfWriter

    (out / "good").mkdir(parents=True, exist_ok=True)
    (out / "bad").mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLE_PDF, out / "good" / "report.pdf")
    (out / "good" / "entries.jsonl").write_text(json.dumps(
        {"id": "G1", "title": "Solar classroom", "description": "A solar-powered classroom with tablets for a remote "
         "school.", "country": "Chad", "action_lines": ["C7.e-learning"], "year": 2024}) + "\n")
    (out / "good" / "latin1-report.txt").write_bytes(
        ("WSIS Action Line – C9: Media\nLead Facilitator: UNESCO\n\n1. Achievements\n\nRadio communautaire à "
         "Thiès: les auditrices ont reçu une formation.\n\n3. Recommendations\n\n- Protéger la presse.\n").encode("cp1252"))
    (out / "good" / "mixed-encoding.md").write_bytes("# Café policy\n\nUTF-8 part: naïve café.\n\n".encode() +
                                                     "Latin-1 part: r\xe9sum\xe9 of na\xefve users.\n".encode("latin-1"))
    (out / "bad" / "zero.pdf").write_bytes(b"")
    data = SAMPLE_PDF.read_bytes()
    (out / "bad" / "truncated.pdf").write_bytes(data[: len(data) // 3])
    (out / "bad" / "corrupt.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(4096))
    w = PdfWriter(clone_from=PdfReader(SAMPLE_PDF))
    w.encrypt(user_password="secret", owner_password="owner")
    with open(out / "bad" / "encrypted.pdf", "wb") as f:
        w.write(f)
    w = PdfWriter()
    for _ in range(2000):
        w.add_blank_page(width=300, height=300)
    with open(out / "bad" / "blank-2000-pages.pdf", "wb") as f:
        w.write(f)
    with open(out / "bad" / "huge.txt", "w") as f:
        line = "Broadband for every school and clinic. " * 25 + "\n"
        for _ in range(50 * 1024 * 1024 // len(line) + 1):
            f.write(line)
    (out / "bad" / "nested.html").write_text("<html><body>" + "<div>" * 100_000 + ">> NAME: deep" +
                                             "</div>" * 100_000 + "</body></html>")
    (out / "bad" / "binary.html").write_bytes(os.urandom(200_000))
    (out / "bad" / "broken-quoting.csv").write_text('title,desc,link,country\n"Open "quote,never closed,'
                                                     '/x/DetailsPopup/1,Peru\nSecond,"ok",/x/DetailsPopup/2,Chile\n')
    (out / "bad" / "wrong-schema.json").write_text(json.dumps({"items": [{"name": "no title field"}]}))
    (out / "bad" / "utf16-no-bom.txt").write_bytes("Text in UTF-16 without a byte order mark".encode("utf-16-le"))
    (out / "bad" / "not-json.jsonl").write_text("{broken json\n[1, 2\n")
    return EXPECT


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "var/hostile")
    for name, expect in write(target).items():
        print(f"{name:32s} {expect or 'reported or indexed, never fatal'}")
