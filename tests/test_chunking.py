"""Chunking: section-aware, FAQ answers on their own, stable content-hash ids, bounded sizes."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from helpers import shipped_doctrine, shipped_judge

from assistant.chunking import chunk_article, chunk_corpus, chunk_id
from assistant.corpus import load_corpus, parse_markdown

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = ROOT / "corpus" / "what-exactly-is-coordination-in-running.md"
NAVIGATION = ("You Are Here (Within The AQ Speed Training System)", "Ready To Run Faster?")


def _article(text: str | None = None):
    return parse_markdown(text if text is not None else ARTICLE.read_text(encoding="utf-8"), ARTICLE)


def _sections_from_markdown(text: str) -> dict[str, list[str]]:
    """`## ` sections of the Markdown body → their non-blank lines (read here, not via corpus.py)."""
    body = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)
    sections: dict[str, list[str]] = {}
    current = None
    for line in body.splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            sections[current] = []
        elif current is not None and line.strip():
            sections[current].append(line.rstrip())
    return sections


def _is_contiguous(needle: list[str], haystack: list[str]) -> bool:
    n = len(needle)
    return any(haystack[i:i + n] == needle for i in range(len(haystack) - n + 1))


@pytest.fixture(scope="module")
def chunks():
    return chunk_article(_article(), 700, 0, shipped_doctrine(), shipped_judge())


def test_chunks_never_span_two_sections(chunks):
    sections = _sections_from_markdown(ARTICLE.read_text(encoding="utf-8"))
    assert len(chunks) > 20
    for chunk in chunks:
        assert chunk.section in sections, chunk.section
        lines = [ln for ln in chunk.body.splitlines() if ln.strip()]
        if chunk.kind == "faq":
            lines = [f"### {chunk.question}"] + lines
        assert _is_contiguous(lines, sections[chunk.section]), (
            f"chunk {chunk.order} is not one contiguous run of section {chunk.section!r}"
        )


def test_every_content_section_is_covered(chunks):
    sections = _sections_from_markdown(ARTICLE.read_text(encoding="utf-8"))
    content = [s for s in sections if s not in _article().front_matter["navigation_sections"]]
    assert {c.section for c in chunks} == set(content)
    # Every line of a content section lands in one of its chunks: nothing is dropped.
    for name in content:
        if name == "Frequently Asked Questions":
            continue
        chunk_lines = [ln for c in chunks if c.section == name for ln in c.body.splitlines() if ln.strip()]
        assert chunk_lines == sections[name]


def test_section_title_in_metadata_and_text(chunks):
    for chunk in chunks:
        meta = chunk.metadata()
        assert meta["section"] == chunk.section and meta["id"] == chunk.id
        assert meta["source"] == "what-exactly-is-coordination-in-running"
        assert meta["title"] == "What Exactly Is Coordination in Running?"
        first_line = chunk.text.split("\n", 1)[0]
        assert first_line == (chunk.question if chunk.kind == "faq" else chunk.section)
    # order counts within a section, so editing one section never renumbers (and re-embeds) another
    by_section: dict[str, list[int]] = {}
    for c in chunks:
        by_section.setdefault(c.section, []).append(c.order)
    assert all(orders == list(range(len(orders))) for orders in by_section.values())


def test_each_faq_answer_is_its_own_chunk(chunks):
    article = _article()
    faq_section = next(s for s in article.sections if s.title == "Frequently Asked Questions")
    questions = [q for q, _ in faq_section.faq]
    assert len(questions) == 6
    faq_chunks = [c for c in chunks if c.kind == "faq"]
    assert [c.question for c in faq_chunks] == questions
    for chunk, (question, answer) in zip(faq_chunks, faq_section.faq):
        assert chunk.metadata()["question"] == question
        assert chunk.text.startswith(question + "\n")
        answer_lines = [ln for ln in answer if ln.strip()]
        assert [ln for ln in chunk.body.splitlines() if ln.strip()] == answer_lines
        # No other FAQ's answer leaks in.
        for other_q, _ in faq_section.faq:
            if other_q != question:
                assert other_q not in chunk.text
    assert all(c.question == "" for c in chunks if c.kind == "section")


def test_ids_are_stable_content_hashes(chunks):
    again = chunk_article(_article(), 700, 0, shipped_doctrine(), shipped_judge())
    assert [c.id for c in again] == [c.id for c in chunks]
    assert len({c.id for c in chunks}) == len(chunks)
    for chunk in chunks:
        content = chunk.body if chunk.kind == "section" else chunk.text
        assert chunk.id == chunk_id(chunk.source, chunk.section, content)
        assert re.fullmatch(r"[0-9a-f]{32}", chunk.id)


def test_chunk_id_is_sha256_of_its_parts():
    expected = hashlib.sha256(b"src\x1fSection\x1fbody text").hexdigest()[:32]
    assert chunk_id("src", "Section", "body text") == expected
    variants = {chunk_id("src", "Section", "body text"), chunk_id("src2", "Section", "body text"),
                chunk_id("src", "Section 2", "body text"), chunk_id("src", "Section", "body text!")}
    assert len(variants) == 4


def test_editing_one_section_changes_only_its_ids(chunks):
    text = ARTICLE.read_text(encoding="utf-8")
    target = "Why Sprinting Sometimes Suddenly Feels “Off”"
    old = "even when the athlete is trying just as hard."
    assert text.count(old) == 1
    edited = chunk_article(_article(text.replace(old, "even when the athlete is trying equally hard.")), 700, 0, shipped_doctrine(), shipped_judge())

    def by_section(cs):
        out: dict[str, list[str]] = {}
        for c in cs:
            out.setdefault(c.section, []).append(c.id)
        return out

    before, after = by_section(chunks), by_section(edited)
    assert before.keys() == after.keys()
    changed = [s for s in before if before[s] != after[s]]
    assert changed == [target]
    assert set(before[target]) != set(after[target])


def test_navigation_sections_are_not_chunked(chunks):
    article = _article()
    navigation = article.front_matter["navigation_sections"]
    for name in NAVIGATION:
        assert name in navigation
    assert not {c.section for c in chunks} & set(navigation)
    everything = "\n".join(c.text for c in chunks)
    for nav_text in ("WHAT COORDINATION REALLY MEANS IN SPRINTING", "Run Faster With Isometric Training!",
                     "Stride Frequency Is Earned, Not Forced", "You are currently exploring"):
        assert nav_text in ARTICLE.read_text(encoding="utf-8")
        assert nav_text not in everything


@pytest.mark.parametrize(("size", "overlap"), [(700, 0), (400, 0), (150, 0), (400, 120), (100, 80)])
def test_chunk_sizes_are_bounded(size, overlap):
    chunks = chunk_article(_article(), size, overlap, shipped_doctrine(), shipped_judge())
    for chunk in chunks:
        if chunk.kind != "section":
            continue  # an FAQ answer is kept whole, by design
        # Larger than the size only when it is a single line (one block that cannot be split).
        assert len(chunk.body) <= size or "\n" not in chunk.body, (size, overlap, len(chunk.body), chunk.body[:80])
    if overlap == 0:
        # Neighbouring chunks of one section are packed: two of them would not have fit together.
        for a, b in zip(chunks, chunks[1:]):
            if a.section == b.section and a.kind == b.kind == "section":
                first_piece = b.body.split("\n\n", 1)[0]  # blocks never contain a blank line
                assert len(a.body) + 2 + len(first_piece) > size


def test_overlap_repeats_whole_words_only():
    chunks = [c for c in chunk_article(_article(), 400, 120, shipped_doctrine(), shipped_judge()) if c.kind == "section"]
    words = set(re.findall(r"[A-Za-z’“”]+", ARTICLE.read_text(encoding="utf-8")))
    for chunk in chunks:
        first = re.findall(r"[A-Za-z’“”]+", chunk.body)[0]
        assert first in words, f"chunk starts mid-word: {chunk.body[:40]!r}"


def test_corpus_has_no_duplicate_ids(tmp_path):
    (tmp_path / "a.md").write_text(ARTICLE.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "b.md").write_text(ARTICLE.read_text(encoding="utf-8").replace(
        "slug: what-exactly-is-coordination-in-running", "slug: second-copy"), encoding="utf-8")
    articles, warnings = load_corpus(tmp_path)
    assert warnings == [] and len(articles) == 2
    chunks = chunk_corpus(articles, 700, 0, shipped_doctrine(), shipped_judge())
    per_article = len(chunk_article(articles[0], 700, 0, shipped_doctrine(), shipped_judge()))
    assert len(chunks) == 2 * per_article
    assert len({c.id for c in chunks}) == len(chunks)
