"""What the chat shows (assistant.chat_render), the session-id and history helpers of assistant.chat, and
parse_auth from assistant.ui: pure helpers, without a browser or a server."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from assistant.answering import Answer, GuardReport, Source
from assistant.chat import BLANK_TEXT, new_session_id, parse_history_json, valid_session_id
from assistant.chat_render import (
    answer_notices,
    banner_markdown,
    escape_user_text,
    format_sources,
    glossary_markdown,
    guard_notice,
    render_answer,
)
from assistant.corpus import Glossary, Term
from assistant.ui import parse_auth


def _answer(text="Contributor timing is how cleanly the sides arrive together. [1]", action="passed", notice="",
            sources=None, notices=None) -> Answer:
    sources = sources if sources is not None else [
        Source("c1", "What Exactly Is Coordination in Running?", "What This Means For Speed Training",
               "the pushing side may need to express force more continuously", 0.03),
        Source("c2", "What Exactly Is Coordination in Running?", "Frequently Asked Questions",
               "Coordination is what improved sprinting feels like.", 0.02, question="Is coordination the cause of speed?"),
    ]
    guard = GuardReport(True, "pass", action, notice=notice)
    return Answer(text, sources, "composer", guard, {}, "q", notices=notices or [])


class _Text(HTMLParser):
    """Collects the visible text and the tags of an HTML fragment (what a browser would show)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def _parse(fragment: str) -> _Text:
    parser = _Text()
    parser.feed(fragment)
    return parser


# --- escape_user_text -----------------------------------------------------------------------------

def test_escape_user_text_neutralises_script_tags():
    shown = escape_user_text("<script>alert(1)</script> what is contributor timing?")
    assert "<script" not in shown and "</script" not in shown
    assert "&lt;script&gt;" in shown
    parsed = _parse(shown)
    assert parsed.tags == []  # nothing the browser would parse as an element


def test_escape_user_text_shows_the_literal_characters():
    typed = "<b>bold?</b> *stars* _under_ [link](http://x) # hash 1. item & amp `code` | pipe ~tilde!"
    shown = escape_user_text(typed)
    # Undo the Markdown backslash escapes and the HTML entities: what is left is exactly what was typed.
    unescaped = _parse(re.sub(r"\\(.)", r"\1", shown)).text
    assert "".join(unescaped) == typed
    assert "<b>" not in shown and "](" not in shown.replace("\\]\\(", "")


def test_escape_user_text_does_not_escape_entities_twice_or_backslash_them():
    shown = escape_user_text("a > b & c < d")
    assert shown == "a &gt; b &amp; c &lt; d"  # no backslash before an entity (it would show "&gt;")


def test_escape_user_text_handles_none_and_crlf():
    assert escape_user_text(None) == ""
    assert escape_user_text("line one\r\nline two") == "line one\nline two"


# --- sources, notices, answers ----------------------------------------------------------------

def test_format_sources_is_folded_with_section_and_excerpt():
    html = format_sources(_answer())
    assert html.startswith('<details class="aq-sources">') and html.endswith("</details>")
    assert " open" not in html.split(">", 1)[0]  # folded by default
    assert "<summary>" in html and "2 sources" in html
    assert "What This Means For Speed Training" in html
    assert "express force more continuously" in html
    assert "Q: Is coordination the cause of speed?" in html  # FAQ chunks show their question


def test_format_sources_escapes_corpus_text():
    evil = Source("x", "T", "<img src=x onerror=alert(1)>", "<script>bad()</script>", 0.1)
    html = format_sources(_answer(sources=[evil]))
    assert "<img" not in html and "<script" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "1 source " in html


def test_format_sources_empty():
    assert format_sources(_answer(sources=[])) == ""


def test_guard_notice_only_when_replaced_or_fallback():
    assert guard_notice(_answer(action="passed")) is None
    assert guard_notice(_answer(action="regenerated")) is None
    assert guard_notice(_answer(action="filtered")) is None
    replaced = guard_notice(_answer(action="replaced", notice="The model's answer contradicted AQ."))
    assert replaced == "⚠️ The model's answer contradicted AQ."
    fallback = guard_notice(_answer(action="fallback", notice=""))
    assert fallback.startswith("⚠️ ") and len(fallback) > 10


def test_answer_notices_dedupes_guard_notice():
    notice = "The language model could not be reached, so this answer was composed directly from AQ's articles."
    answer = _answer(action="fallback", notice=notice, notices=["Your question was very long.", notice])
    assert answer_notices(answer) == [f"⚠️ {notice}", "ℹ️ Your question was very long."]


def test_render_answer_keeps_markdown_escapes_html_and_appends_sources():
    answer = _answer(text="In AQ's terms, **swing side** <i>matters</i>.", action="replaced", notice="Replaced.")
    shown = render_answer(answer)
    assert "**swing side**" in shown  # Markdown from the answer still renders
    assert "<i>" not in shown and "&lt;i&gt;" in shown
    assert shown.index("Replaced.") < shown.index("<details")
    assert shown.rstrip().endswith("</details>")


# --- glossary, banner, sessions, auth ---------------------------------------------------------

def test_glossary_markdown_lists_every_term():
    glossary = Glossary([
        Term("swing side", "The side attacking forward.", ("knee drive",), ("pushing side",)),
        Term("contributor timing", "How cleanly the sides arrive together.", (), ()),
    ])
    md = glossary_markdown(glossary)
    assert md.index("**contributor timing**") < md.index("**swing side**")  # sorted
    assert "The side attacking forward." in md and "knee drive" in md and "Related: pushing side" in md


def test_glossary_markdown_of_the_shipped_glossary(settings):
    from assistant.indexing import glossary_for

    glossary = glossary_for(settings)
    md = glossary_markdown(glossary)
    assert len(glossary) >= 5
    for term in glossary:
        assert f"**{term.term}**" in md


def test_glossary_markdown_empty():
    assert "not loaded" in glossary_markdown(Glossary([]))


def test_banner_markdown_shows_the_command():
    md = banner_markdown("The AQ index is empty. Build it with: aq-coach ingest")
    assert "`aq-coach ingest`" in md and md.startswith("⚠️")
    assert "`aq-coach ingest --rebuild`" in banner_markdown("the store is corrupt; rebuild it with aq-coach ingest --rebuild")
    assert banner_markdown(None) == ""
    assert "aq-coach ingest" in banner_markdown("something else broke")


def test_session_ids():
    a, b = new_session_id(), new_session_id()
    assert a != b and valid_session_id(a) == a
    for bad in ("", None, 42, "../etc", "x" * 32, a + "0"):
        assert valid_session_id(bad) is None


def test_parse_auth():
    assert parse_auth(None) is None and parse_auth("") is None
    assert parse_auth("coach:s3cret:with:colons") == ("coach", "s3cret:with:colons")
    with pytest.raises(ValueError):
        parse_auth("nopassword")


def test_parse_history_json():
    assert parse_history_json("") == [] and parse_history_json("  ") == [] and parse_history_json(None) == []
    assert parse_history_json("[]") == []
    history = [{"role": "user", "content": "What is the pushing side?"}, {"role": "assistant", "content": "It is …"}]
    import json

    assert parse_history_json(json.dumps(history)) == history
    assert parse_history_json(json.dumps([{**history[0], "extra": 1}])) == [history[0]]  # only role and content kept
    for bad in ("not json", '{"role": "user", "content": "x"}', '[{"role": "system", "content": "x"}]',
                '[{"role": "user", "content": 3}]', '["hello"]', "42"):
        with pytest.raises(ValueError, match="history_json must be a JSON list"):
            parse_history_json(bad)


def test_blank_text_is_friendly():
    assert "question" in BLANK_TEXT.lower()
