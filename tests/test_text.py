"""The shared text toolkit (assistant.text): citation marks, sentences, stream cuts, words."""

from __future__ import annotations

import pytest
from helpers import shipped_judge

from assistant.guard import StreamGuard
from assistant.text import CITATION_MARK, normalise, sentence_pieces, split_sentences, stem_words, strip_citations

MARKS = ["[1]", "[1, 2]", "[2,3]", "[4–6]", "[^4]", "[1, 2, 3]"]


@pytest.mark.parametrize("mark", MARKS)
def test_a_citation_after_a_full_stop_stays_with_its_sentence_in_a_stream(mark):
    text = f"Sprinting can feel smoother when timing improves. {mark} The swing side matters too."
    assert sentence_pieces(text) == [f"Sprinting can feel smoother when timing improves. {mark} ", "The swing side matters too."]


@pytest.mark.parametrize("mark", MARKS)
def test_the_stream_guard_releases_a_sentence_with_all_its_citations(mark):
    guard = StreamGuard(shipped_judge())
    released = []
    for piece in (f"Sprinting can feel smoother when timing improves. {mark} The swi", "ng side matters too."):
        released += guard.feed(piece)
    released += guard.close()
    assert released[0].strip() == f"Sprinting can feel smoother when timing improves. {mark}"
    assert "".join(released) == f"Sprinting can feel smoother when timing improves. {mark} The swing side matters too."


@pytest.mark.parametrize("mark", MARKS)
def test_split_sentences_keeps_citations_and_strip_citations_removes_them(mark):
    text = f"Coordination is a label for a feeling. {mark} Speed comes from what happens underneath. {mark}"
    assert split_sentences(text) == [f"Coordination is a label for a feeling. {mark}",
                                     f"Speed comes from what happens underneath. {mark}"]
    assert strip_citations(text) == "Coordination is a label for a feeling. Speed comes from what happens underneath."
    assert CITATION_MARK.fullmatch(mark)


def test_numbers_that_are_not_citations_stay():
    assert strip_citations("Run 3 x [30 m] sprints, rest 2 minutes.") == "Run 3 x [30 m] sprints, rest 2 minutes."
    assert split_sentences("e.g. the swing side. Next one.") == ["e.g. the swing side.", "Next one."]


def test_normalise_reads_spellings_alike():
    assert normalise("Swing-Side’s “thrust”") == normalise("swing side's thrust") == "swing side s thrust"
    assert normalise("pushing_side/swing") == "pushing side swing"


def test_stem_words_is_snowball_english():
    assert stem_words(["feeling", "feels", "rushed"]) == ["feel", "feel", "rush"]


def test_history_messages_names_the_first_message_that_is_not_one():
    from assistant.text import history_messages

    ok = [{"role": "user", "content": "What is swing side?", "extra": 1}, {"role": "assistant", "content": "It is …"}]
    assert history_messages(ok) == [{"role": "user", "content": "What is swing side?"},
                                    {"role": "assistant", "content": "It is …"}]
    for bad, where in (({"role": "user"}, ""), ([{"role": "user", "content": "hi"}, {"role": "system", "content": "x"}], "message 1"),
                       ([{"role": "user", "content": 3}], "message 0")):
        with pytest.raises(ValueError, match="history file h.json must be a JSON list") as raised:
            history_messages(bad, "history file h.json")
        assert where in str(raised.value)
