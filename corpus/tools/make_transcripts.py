"""Render the sample IGF transcripts (corpus/transcript_src/*.txt, written for this project) as HTML
pages shaped like IGF transcript pages: site navigation, a captioning disclaimer, then one paragraph per
`>> NAME:` turn.

They are INVENTED sessions: the title starts with "Sample:", the page's address is on example.org, a note
above the transcript and an editorial note as its last turn say so. Organisations and programmes the
speakers mention are named only; the speakers and what they say are invented.

    python corpus/tools/make_transcripts.py
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTE = ("Invented sample: this session never took place. The transcript was written for the wsis-search "
        "project's tests and demonstrations; its speakers and their words are invented.")
LAST_TURN = (">> EDITORIAL NOTE: This is an invented sample transcript (wsis-search test corpus), not a record of "
             "an IGF session; the speakers and what they say are invented.")

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} | IGF-style sample page (invented)</title>
<link rel="canonical" href="https://igf.example.org/en/content/{slug}">
<meta name="igf:date" content="{date}">
<meta name="igf:session-type" content="{stype}">
<meta name="igf:organizer" content="{org}">
</head>
<body>
<header class="site-header"><a href="/en">IGF-style sample site (invented sessions)</a>
<nav><ul><li><a href="/en/about">About</a></li><li><a href="/en/igf-2024">IGF 2024</a></li>
<li><a href="/en/transcripts">Transcripts</a></li><li><a href="/en/contact">Contact</a></li></ul></nav></header>
<main>
<article class="node transcript">
<h1>{title}</h1>
<div class="session-info"><span class="date">{date}</span> <span class="type">{stype}</span></div>
<div class="transcript-body">
<p><strong>{note}</strong></p>
<p><em>The following are the outputs of the real-time captioning taken during an IGF session. Although it
is largely accurate, in some cases it may be incomplete or inaccurate due to inaudible passages or
transcription errors. It is posted as an aid, but should not be treated as an authoritative record.</em></p>
{turns}
</div>
</article>
</main>
<footer><p>wsis-search sample corpus: invented pages for tests and demonstrations.</p></footer>
<script>window.analytics = window.analytics || [];</script>
</body>
</html>
"""


def render(src: Path, out: Path) -> None:
    meta: dict[str, str] = {}
    turns: list[str] = []
    for line in src.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^(Title|Date|Session type|Organizer):\s*(.+)$", line)
        if m and not turns:
            meta[m.group(1).lower()] = m.group(2)
        elif line.strip():
            turns.append(f"<p>{html.escape(line.strip(), quote=False)}</p>")
    turns.append(f"<p>{html.escape(LAST_TURN, quote=False)}</p>")
    out.write_text(PAGE.format(title=html.escape("Sample: " + meta["title"]), slug=src.stem, date=meta["date"],
                               note=html.escape(NOTE),
                               stype=html.escape(meta["session type"]), org=html.escape(meta["organizer"]),
                               turns="\n".join(turns)), encoding="utf-8")


def main() -> int:
    out_dir = ROOT / "sample" / "transcripts"
    out_dir.mkdir(parents=True, exist_ok=True)
    for src in sorted((ROOT / "transcript_src").glob("*.txt")):
        out = out_dir / f"{src.stem}.html"
        render(src, out)
        print(out.relative_to(ROOT.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
