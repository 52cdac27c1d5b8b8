"""Render the sample facilitator reports (corpus/report_src/*.txt, written for this project) as
multi-page PDFs in corpus/sample/reports/, with a running header and footer like the real ones.

They are INVENTED: titles start with "Sample:", document numbers with SAMPLE-, the running header and a
paragraph under the title block say so, and the PDF's author is this project, not the agency. What is
real: the action line, its name and its facilitating agency (the "Lead Facilitator" line).

    python corpus/tools/make_reports.py        # needs the `dev` or `test` extra (reportlab)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from reportlab.lib.pagesizes import A5
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import ListFlowable, ListItem, Paragraph, SimpleDocTemplate, Spacer
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
INVENTED = ("This is an invented sample report, written for the wsis-search project's tests and demonstrations. "
            "It is not a WSIS document and no statement of {agency}: the action line, its name and its "
            "facilitating agency are real; the rest (text, figures, examples, commitments) was written for this "
            "sample and is not to be cited.")


def parse_source(text: str) -> tuple[dict, list[tuple[str, list[str]]]]:
    meta: dict[str, str] = {}
    sections: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if not sections and (m := re.match(r"^(\w[\w ]*):\s*(.+)$", line)):
            meta[m.group(1).lower()] = m.group(2)
        elif line.startswith("## "):
            sections.append((line[3:].strip(), []))
        elif line.strip() and sections:
            sections[-1][1].append(line.strip())
    return meta, sections


def render(src: Path, out: Path) -> None:
    meta, sections = parse_source(src.read_text(encoding="utf-8"))
    ss = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=ss["BodyText"], fontSize=10.5, leading=14, spaceBefore=5, spaceAfter=1)
    h = ParagraphStyle("h", parent=ss["Heading2"], fontSize=12.5, leading=15, spaceBefore=10, spaceAfter=4)
    tb = ParagraphStyle("tb", parent=body, fontName="Helvetica-Bold", fontSize=10.5, leading=13, spaceBefore=2)
    code = re.search(r"C\d+[^:]*", meta["action line"]).group(0).strip()
    running = f"Invented sample · not a WSIS report · {code}"

    def header_footer(canvas, doc):
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.drawString(15 * mm, A5[1] - 10 * mm, running)
        canvas.drawRightString(A5[0] - 15 * mm, 8 * mm, f"Page {doc.page}")
        canvas.drawString(15 * mm, 8 * mm, "wsis-search sample corpus (invented text)")
        canvas.restoreState()

    story = [
        Paragraph(escape(f"Document Number: {meta['document']}"), body),
        Paragraph(escape(meta["title"]), tb),
        Paragraph(escape(meta["action line"]), tb),
        Paragraph(escape(meta["facilitator"]), tb),
        Paragraph(escape(f"Reporting year: {meta['year']}"), body),
        Paragraph(escape(INVENTED.format(agency=meta["facilitator"].split(":", 1)[-1].strip())), body),
        Spacer(1, 4 * mm),
    ]
    for heading, lines in sections:
        story.append(Paragraph(escape(heading), h))
        bullets = [ln[2:] for ln in lines if ln.startswith("- ")]
        for ln in lines:
            if not ln.startswith("- "):
                story.append(Paragraph(escape(ln), body))
        if bullets:
            story.append(ListFlowable([ListItem(Paragraph(escape(b), body), leftIndent=10) for b in bullets],
                                      bulletType="bullet", start="•", leftIndent=10))
    doc = SimpleDocTemplate(str(out), pagesize=A5, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=16 * mm,
                            bottomMargin=15 * mm, title=f"{meta['title']}: {meta['action line'].split(':', 1)[1].strip()}",
                            author="wsis-search sample corpus (invented)", subject=code,
                            creator="wsis-search sample corpus", invariant=1)
    doc.build(story, onFirstPage=header_footer, onLaterPages=header_footer)


def main() -> int:
    out_dir = ROOT / "sample" / "reports"
    out_dir.mkdir(parents=True, exist_ok=True)
    for src in sorted((ROOT / "report_src").glob("*.txt")):
        out = out_dir / f"{src.stem}-facilitator-report-2024.pdf"
        render(src, out)
        print(out.relative_to(ROOT.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
