"""Article knowledge is data: no six-word run of any article appears in the code.

Everything specific to an article or to the doctrine lives beside the glossary (corpus/doctrine.yaml),
so that importing a new article needs no code change. This test reads every article in corpus/
and the test article, and every source file of the package, as lower-case word sequences.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
N = 6
_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")


def _grams(text: str) -> set[tuple[str, ...]]:
    words = [w.replace("’", "'") for w in _WORD.findall(text.lower())]
    return {tuple(words[i:i + N]) for i in range(len(words) - N + 1)}


def _article_grams() -> dict[tuple[str, ...], str]:
    out = {}
    articles = sorted((ROOT / "corpus").glob("*.md")) + [ROOT / "tests" / "fixtures" / "smooth-form.clean.txt"]
    for path in articles:
        body = path.read_text(encoding="utf-8")
        if body.startswith("---"):
            body = body.split("---", 2)[-1]  # front matter: slugs and link titles, not the article's prose
        for gram in _grams(body):
            out.setdefault(gram, path.name)
    return out


def test_no_six_word_sequence_of_an_article_appears_in_the_package():
    articles = _article_grams()
    assert len(articles) > 1000, "the articles were read"
    found = []
    for path in sorted((ROOT / "assistant").rglob("*.py")):
        for gram in _grams(path.read_text(encoding="utf-8")) & articles.keys():
            found.append(f"{path.relative_to(ROOT)}: “{' '.join(gram)}” (from {articles[gram]})")
    assert not found, "article phrases in code (move them to corpus/doctrine.yaml):\n" + "\n".join(sorted(found)[:40])


def test_the_check_can_fail():
    phrase = "aggressive movement becoming easier for the sprint system to organize continuously"
    assert _grams(phrase) & _article_grams().keys()
