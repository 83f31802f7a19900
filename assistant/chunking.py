"""Section-aware chunks with stable ids.

A chunk never spans two sections. Inside a section the article is written as lead lines
("For example:", "AQ looks deeper into:") followed by bullet fragments, so a lead and its list
form one block and blocks are never split apart unless a block alone exceeds the chunk size.
Each FAQ answer is its own chunk, stored with its question. Each chunk carries its answer units
(assistant.units), parsed here once rather than by the composer on every question.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from langchain_core.documents import Document

from .corpus import Article, Section
from .doctrine import Doctrine
from .units import AnswerUnit, dump_units, parse_units

if TYPE_CHECKING:  # the guard is needed when units are made (ingest), not on the search path
    from .guard import FramingJudge


@dataclass(frozen=True)
class Chunk:
    id: str
    text: str          # what is embedded and searched: section title, then the Markdown body
    source: str        # article slug
    title: str         # article title
    section: str
    kind: str          # "section" or "faq"
    question: str      # the FAQ question, "" for section chunks
    order: int         # position of the chunk in its section (so an edit re-embeds only that section)
    units: tuple[AnswerUnit, ...] = ()   # what an answer can quote from it (with embeddings after ingest)

    @property
    def body(self) -> str:
        """The text without the leading section/question line, for excerpts and composing."""
        return self.text.split("\n", 1)[1] if "\n" in self.text else self.text

    def metadata(self) -> dict:
        return {
            "id": self.id,
            "source": self.source,
            "title": self.title,
            "section": self.section,
            "kind": self.kind,
            "question": self.question,
            "order": self.order,
            "units": dump_units(self.units),
        }

    def to_document(self) -> Document:
        return Document(page_content=self.text, metadata=self.metadata())


def chunk_id(source: str, section: str, content: str) -> str:
    """Stable id: the same source, section and content always give the same id."""
    return hashlib.sha256(f"{source}\x1f{section}\x1f{content}".encode()).hexdigest()[:32]


def _blocks(lines: list[str]) -> list[str]:
    """Group Markdown lines into blocks: a paragraph, or a lead paragraph with its list."""
    paragraphs: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if not line.strip():
            if current:
                paragraphs.append(current)
                current = []
            continue
        current.append(line.rstrip())
    if current:
        paragraphs.append(current)

    blocks: list[str] = []
    for para in paragraphs:
        is_list = all(ln.startswith("- ") for ln in para)
        # A list belongs to the lead line right before it ("For example:"), and a line that starts
        # in lower case finishes the sentence before it ("…athletes call it: - “flow” / to name…").
        continues = para[0][:1].islower()
        if blocks and ((is_list and blocks[-1].rstrip().endswith(":")) or continues):
            blocks[-1] = blocks[-1] + "\n" + "\n".join(para)
        else:
            blocks.append("\n".join(para))
    return blocks


def _split_oversized(block: str, size: int) -> list[str]:
    if len(block) <= size:
        return [block]
    pieces, current = [], ""
    for line in block.split("\n"):
        if current and len(current) + 1 + len(line) > size:
            pieces.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        pieces.append(current)
    return pieces


def _tail(text: str, overlap: int) -> str:
    """The last `overlap` characters of a chunk, starting at a word, never mid-word."""
    if overlap <= 0:
        return ""
    if len(text) <= overlap:
        return text
    tail = text[-overlap:]
    if not text[-overlap - 1].isspace():
        parts = tail.split(None, 1)
        tail = parts[1] if len(parts) > 1 else ""
    return tail.strip()


def _pack(blocks: list[str], size: int, overlap: int) -> list[str]:
    chunks: list[str] = []
    current = ""
    for block in blocks:
        for piece in _split_oversized(block, size):
            if current and len(current) + 2 + len(piece) > size:
                chunks.append(current)
                tail = _tail(current, overlap)
                if tail and len(tail) + 2 + len(piece) > size:
                    tail = ""  # the overlap never pushes a chunk past the size
                current = f"{tail}\n\n{piece}" if tail else piece
            else:
                current = f"{current}\n\n{piece}" if current else piece
    if current.strip():
        chunks.append(current)
    return chunks


def chunk_section(article: Article, section: Section, size: int, overlap: int, start: int) -> list[Chunk]:
    out: list[Chunk] = []
    order = start
    for body in _pack(_blocks(section.lines), size, overlap):
        text = f"{section.title}\n{body}"
        out.append(Chunk(chunk_id(article.slug, section.title, body), text, article.slug, article.title,
                         section.title, "section", "", order))
        order += 1
    for question, answer_lines in section.faq:
        answer = "\n\n".join(_blocks(answer_lines))
        if not answer.strip():
            continue
        text = f"{question}\n{answer}"
        out.append(Chunk(chunk_id(article.slug, section.title, text), text, article.slug, article.title,
                         section.title, "faq", question, order))
        order += 1
    return out


def with_units(chunk: Chunk, doctrine: Doctrine, judge: FramingJudge) -> Chunk:
    return replace(chunk, units=parse_units(chunk.body, chunk.kind, chunk.section, doctrine, judge, chunk.question))


def chunk_article(article: Article, size: int, overlap: int, doctrine: Doctrine, judge: FramingJudge) -> list[Chunk]:
    """All chunks of one article, with their answer units (made with the corpus's doctrine and framing
    judge); navigation sections are not coaching content and are left out."""
    chunks: list[Chunk] = []
    for section in article.sections:
        if section.navigation:
            continue
        chunks.extend(with_units(c, doctrine, judge) for c in chunk_section(article, section, size, overlap, start=0))
    return chunks


def chunk_corpus(articles: list[Article], size: int, overlap: int, doctrine: Doctrine, judge: FramingJudge) -> list[Chunk]:
    chunks: list[Chunk] = []
    seen: set[str] = set()
    for article in articles:
        for chunk in chunk_article(article, size, overlap, doctrine, judge):
            if chunk.id not in seen:  # identical text in one section is one chunk, never a duplicate
                seen.add(chunk.id)
                chunks.append(chunk)
    return chunks
