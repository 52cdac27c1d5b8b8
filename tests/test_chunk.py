"""Passages are exact spans of their document, sized within bounds, and respect headings and turns."""

from conftest import SAMPLE

from indexer.chunk import ChunkSettings, chunk_document
from indexer.models import Document, assemble
from indexer.parsers import read_source


def test_passages_are_exact_spans_within_bounds():
    cfg = ChunkSettings()
    for d in read_source(SAMPLE).documents:
        ps = chunk_document(d, cfg)
        assert ps, d.id
        for p in ps:
            assert p.text == d.text[p.start:p.end]
            assert p.words <= cfg.max_words
            assert p.id == f"{d.id}::{p.ordinal}"
        if d.kind == "action_line_report":
            for p in ps:  # never across a heading, except that a leading fragment (title block) may join
                secs = [s for s in d.sections if s.start < p.end and s.end > p.start]
                assert len({s.heading for s in secs[1:]}) <= 1
                lead = secs[0]
                assert lead.heading == secs[-1].heading or len(lead.text.split()) < 40


def test_long_turns_split_at_sentences_and_keep_speaker():
    sentence = "Connectivity in rural districts depends on power and backhaul. "
    blocks = [{"text": sentence * 60, "speaker": "ALICE"}, {"text": "Thank you.", "speaker": "BOB"},
              {"text": sentence * 10, "speaker": "CAROL"}]
    text, sections = assemble(blocks)
    doc = Document(id="t", kind="igf_transcript", title="T", source="t", year=2020, text=text, sections=sections)
    ps = chunk_document(doc, ChunkSettings(target_words=180, min_words=100, max_words=250))
    assert all(p.text.endswith(".") for p in ps)
    assert [p.speaker for p in ps][:3] == ["ALICE", "ALICE", "ALICE"]
    assert all(100 <= p.words <= 250 for p in ps[:-1])
    assert ps[-1].speaker == "CAROL"  # the short "Thank you." turn is absorbed, not a passage of its own
    assert not any(p.text == "Thank you." for p in ps)
