"""Each document kind parses into the expected titles, sections, pages and speakers."""

from __future__ import annotations

import json

from conftest import SAMPLE

from indexer.parsers import read_source
from indexer.parsers.report import parse_pdf_report, parse_text_report


def sample_docs():
    res = read_source(SAMPLE)
    return res, {d.id: d for d in res.documents}


def test_bundled_corpus_reads_without_failures():
    res, docs = sample_docs()
    assert res.failures == []
    kinds = {}
    for d in res.documents:
        kinds[d.kind] = kinds.get(d.kind, 0) + 1
    assert kinds["action_line_report"] == 11
    assert kinds["igf_transcript"] >= 6
    assert kinds["stocktaking_entry"] >= 60
    # every action line has stocktaking entries
    lines = {c for d in res.documents if d.kind == "stocktaking_entry" for c in d.metadata["action_lines"]}
    from indexer.actionlines import CODES
    assert set(CODES) <= lines


def test_pdf_report_sections_pages_and_no_running_headers():
    d = parse_pdf_report(SAMPLE / "reports" / "c11-facilitator-report-2024.pdf", "r", "r")
    assert "C11" in d.title and "International and regional cooperation" in d.title
    assert d.metadata["action_lines"] == ["C11"]
    assert d.metadata["facilitator"] == "UNDESA"
    assert d.year == 2024
    headings = [s.heading for s in d.sections]
    for h in ("1. Achievements", "2. Challenges", "3. Recommendations"):
        assert h in headings
    assert {s.page for s in d.sections} >= {1, 2}
    assert "not a WSIS report ·" not in d.text  # running header dropped
    assert "This is an invented sample report" in d.text  # the paragraph under the title block is kept
    assert "Page 1" not in d.text and "Page 2" not in d.text  # footer dropped
    recs = [s.text for s in d.sections if s.heading == "3. Recommendations"]
    assert len(recs) == 5 and recs[0].startswith("Donors and development banks")
    assert not recs[0].startswith("•")


def test_pdf_paragraphs_broken_across_pages_are_rejoined():
    for pdf in sorted((SAMPLE / "reports").glob("*.pdf")):
        d = parse_pdf_report(pdf, "r", "r")
        for s in d.sections:
            assert not s.text[:1].islower(), (pdf.name, s.text[:60])


def test_text_report(tmp_path):
    p = tmp_path / "report.txt"
    p.write_text(
        "World Summit\non the Information Society\n\n\nDocument Number: WSIS+10/4/99\n\n"
        "**WSIS Action Line – C9: Media\nLead Facilitator: UNESCO**\n\nExecutive Summary\n\n1. Achievements\n\n"
        "Community radio grew in many countries and\n\nreached rural listeners.\n\n2. Challenges\n\n"
        "- Journalists face threats.\n- Revenue moved to platforms.\n\n3. Recommendations\n\n"
        "- Protect press freedom.\n- Fund media literacy.\n", encoding="utf-8")
    d = parse_text_report(p, "x", "x")
    assert d.metadata == {"action_lines": ["C9"], "facilitator": "UNESCO", "document_number": "WSIS+10/4/99"}
    assert d.year == 2014
    by = {}
    for s in d.sections:
        by.setdefault(s.heading, []).append(s.text)
    assert by["1. Achievements"] == ["Community radio grew in many countries and reached rural listeners."]
    assert by["3. Recommendations"] == ["Protect press freedom.", "Fund media literacy."]
    assert "World Summit" not in d.text  # banner before the document number


def test_igf_html_keeps_speakers_and_drops_boilerplate():
    _, docs = sample_docs()
    d = docs["transcripts/igf-2024-day-3-ws-212-cert-cooperation-against-cybercrime.html"]
    assert d.title == "Sample: WS #212 CERT cooperation against cybercrime and ransomware"
    assert d.year == 2024 and d.metadata["session_type"] == "workshop"
    assert d.metadata["url"].endswith("/igf-2024-day-3-ws-212-cert-cooperation-against-cybercrime")
    assert "KOFI MENSAH" in d.metadata["speakers"] and "MODERATOR" in d.metadata["speakers"]
    assert all(s.speaker for s in d.sections)
    assert d.sections[1].speaker == "KOFI MENSAH" and d.sections[1].text.startswith("Our national CERT")
    for junk in ("real-time captioning", "Privacy", "Transcripts", "analytics", ">>"):
        assert junk not in d.text


def test_igf_text_export(tmp_path):
    p = tmp_path / "igf-2019-day-2-ws-12-open-data-raw.txt"
    p.write_text(
        "^^new transcript^^/multilingual/content/igf-2019-day-2-ws-12-open-data-raw^^\n\n"
        "      >> Please take your seats.\n"
        "     >> MODERATOR: Welcome to the open data session.\n"
        "     We will start with the panel.\n"
        "(Captioner will disconnect in two minutes)\n"
        "     >> JANE DOE: Thank you ‑‑ open data helps journalists.\n", encoding="utf-8")
    res = read_source(tmp_path)
    assert res.failures == []
    [d] = res.documents
    assert d.kind == "igf_transcript" and d.year == 2019
    assert d.metadata["raw_captions"] is True and d.metadata["session_number"] == "12"
    assert d.title == "Open data"
    assert [(s.speaker, s.text) for s in d.sections] == [
        ("", "Please take your seats."), ("MODERATOR", "Welcome to the open data session."),
        ("MODERATOR", "We will start with the panel."), ("JANE DOE", "Thank you -- open data helps journalists.")]
    assert "Captioner" not in d.text


def test_stocktaking_jsonl_entry():
    _, docs = sample_docs()
    d = docs["stocktaking/2021/S050"]
    assert d.title == "Sample: SMS crop advisory for smallholders"
    assert d.metadata["action_lines"] == ["C7.e-agriculture"]
    assert d.metadata["country"] == "Kenya" and d.metadata["stakeholder_type"] == "Private sector"
    assert d.metadata["sdgs_declared"] == [2]


def test_csv_read_header_by_header_and_latin1(tmp_path):
    st = tmp_path / "stocktaking"
    st.mkdir()
    (st / "nominations_2021_all.csv").write_text(
        "title,desc,link,country\n"
        "Farm Radio,Radio for farmers,/net4/wsis/stocktaking/Prizes/2021/DetailsPopup/111,Kenya\n"
        "cat,title,desc,link,country\n"
        "Category 13 — AL C7. ICT applications: benefits in all aspects of life — E-agriculture,Farm Radio,"
        "Radio for farmers,/net4/wsis/stocktaking/Prizes/2021/DetailsPopup/111,Kenya\n"
        "Category 5 — AL C5. Building confidence and security in use of ICTs,Cyber Kids,\"Safety, for kids\","
        "/net4/wsis/stocktaking/Prizes/2021/DetailsPopup/222,Chile\n", encoding="utf-8")
    (st / "projects_2015.csv").write_bytes(
        "Category,Project,Organisation,Country\nC9. MEDIA,Women\x89Ûªs Radio,Caf\xe9 Org,MALI\n".encode("latin-1"))
    res = read_source(tmp_path)
    assert res.failures == []
    docs = {d.id: d for d in res.documents}
    assert set(docs) == {"stocktaking/2021/111", "stocktaking/2021/222", "stocktaking/2015/1"}
    assert docs["stocktaking/2021/111"].metadata["action_lines"] == ["C7.e-agriculture"]  # merged from 2nd export
    assert docs["stocktaking/2021/222"].metadata["action_lines"] == ["C5"]
    assert docs["stocktaking/2015/1"].title == "Women's Radio"
    assert docs["stocktaking/2015/1"].metadata["organisation"] == "Café Org"


def test_listing_page_merges_with_csv_rows(tmp_path):
    (tmp_path / "prizes_2015.csv").write_text("Category,Project,Organisation,Country\nC5. SECURITY,Safe Net,ORG,PERU\n")
    (tmp_path / "prizes_2015_page.html").write_text(
        "<html><body><h5>C5. Building confidence and security</h5><ul>"
        "<li><span class='bold'>Safe Net</span><span class='italic'>Org A, PERU</span></li>"
        "<li><span class='bold'>Only On Page</span><span class='italic'>Org B, CHILE</span></li></ul></body></html>")
    res = read_source(tmp_path)
    docs = {d.id: d for d in res.documents}
    assert set(docs) == {"stocktaking/2015/1", "stocktaking/2015/page-2"}
    assert docs["stocktaking/2015/1"].metadata["organisation"] == "Org A"


def test_reference_json_and_markdown(tmp_path):
    (tmp_path / "actions.json").write_text(json.dumps([{
        "id": 4, "name": "C5: Building confidence", "shortName": "Security", "desc": "<ol><li>One.</li><li>Two.</li></ol>",
        "goals": [{"goalId": 15, "subgoals": [{"subId": "16.2", "rationale": "Because<br/>reasons."}]}]}]))
    (tmp_path / "sdgs.json").write_text(json.dumps([{"id": 3, "name": "Quality education", "desc": "<p>4.1 Target.</p>"}]))
    (tmp_path / "page.md").write_text("---\ntitle: \"C4: Capacity\"\n---\n# C4\n\n## Overview\n\nSkills **matter** [[c3|C3]].\n")
    res = read_source(tmp_path)
    assert res.failures == []
    docs = {d.id: d for d in res.documents}
    a = docs["actions.json#4"]
    assert a.metadata["action_lines"] == ["C5"] and a.metadata["sdg_links"] == [{"sdg": 16, "target": "16.2"}]
    assert "SDG 16 target 16.2: Because reasons." in a.text
    assert docs["sdgs.json#3"].title == "SDG 4: Quality education"
    md = docs["page.md"]
    assert md.title == "C4: Capacity" and md.sections[0].heading == "Overview"
    assert md.sections[0].text == "Skills matter C3."


def test_broken_files_are_reported_not_fatal(tmp_path):
    (tmp_path / "good.md").write_text("# Title\n\nSome real text about broadband.\n")
    (tmp_path / "corrupt.pdf").write_bytes(b"%PDF-1.4\n1 0 obj <</Type /Catalog>> garbage" * 10)
    (tmp_path / "not-a-pdf.pdf").write_bytes(b"hello")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.html").write_bytes(bytes(range(256)) * 20)
    (tmp_path / "wrong.json").write_text('{"foo": 1}')
    (tmp_path / "data.xyz").write_text("?")
    res = read_source(tmp_path)
    assert [d.id for d in res.documents] == ["good.md"]
    reasons = {f.source: f.reason for f in res.failures}
    assert set(reasons) == {"corrupt.pdf", "not-a-pdf.pdf", "empty.txt", "binary.html", "wrong.json"}
    assert "PDF" in reasons["corrupt.pdf"] and "0 bytes" in reasons["empty.txt"]
    assert [f.source for f in res.skipped] == ["data.xyz"]


def test_speaker_affiliations_from_self_introductions():
    from indexer.models import Section
    from indexer.parsers.affiliation import affiliations

    secs = [Section("Thank you. I work for the Internet Society as a senior director for Africa.", speaker="ANA B"),
            Section("Good morning, I'm Tom Reed from the Rural Broadband Alliance. We connect villages.", speaker="TOM REED"),
            Section("Welcome everyone, I work for the Secretariat.", speaker="MODERATOR"),
            Section("We started in 2019 with solar hotspots.", speaker="LI WEI")]
    assert affiliations(secs) == {"ANA B": "Internet Society", "TOM REED": "Rural Broadband Alliance"}
