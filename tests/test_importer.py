"""The importer: ISO-8859-7 mojibake repaired, structure read, words unchanged, bad input refused.

Expectations about the article are derived from the RAW fixture with rules written here, not
with the importer's own helpers, so a mistake in the importer cannot hide behind itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from assistant import repair as repair_module
from assistant.cli import app
from assistant.doctrine import PROJECT_DOCTRINE, Doctrine
from assistant.headings import HEADING_MARKERS, heading_text
from assistant.importer import ImportError_, import_article, parse_article, to_markdown
from assistant.repair import MOJIBAKE_RESIDUE, candidates, damage, repair, repair_text

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_ARTICLE = ROOT / "corpus" / "what-exactly-is-coordination-in-running.md"
# A test-only article in AQ's style (never shipped in corpus/), damaged like the seed.
SMOOTH_RAW = ROOT / "tests" / "fixtures" / "smooth-form.raw.txt"
SMOOTH_CLEAN = ROOT / "tests" / "fixtures" / "smooth-form.clean.txt"

# What survives of UTF-8 bytes read as ISO-8859-7 (the brief's damage set), and the lost-VS16 pair.
DAMAGE_CHARS = "βπΒ₯§¨ͺ―‘’¦»ο"
RESIDUE = re.compile(r"[βπΒ]|ο¸|οΈ")
WORD = re.compile(r"[A-Za-z0-9]+")
SMALL_WORDS = {"a", "an", "and", "as", "at", "by", "for", "in", "into", "of", "on", "or", "the", "to", "with"}
LINK_MARKER = "β‘οΈ"  # ➡️: a related-article link, never a heading

EXPECTED_HEADINGS = [
    "Introduction",
    "Why Coordination Often Feels Hard To Explain",
    "What Athletes Often Mean By “Better Coordination”",
    "Why Better Sprinting Often Feels Smoother And More Powerful At The Same Time",
    "Why “Coordination” Alone Is Not The Full Explanation",
    "Why Sprinting Sometimes Suddenly Feels “Off”",
    "Why “Coordination” Can Look Different Between Athletes",
    "What This Means For Speed Training",
    "What This Means For You",
    "You Are Here (Within The AQ Speed Training System)",
    "Frequently Asked Questions",
]


# --- helpers written independently of the importer ------------------------------------------

def _scrub(text: str) -> str:
    """Replace every damaged character (and the `οΈ` pair) with a space."""
    text = text.replace("οΈ", " ")
    return text.translate({ord(c): " " for c in DAMAGE_CHARS})


def _words(text: str) -> list[str]:
    return WORD.findall(_scrub(text))


def _raw_lines(seed_raw: Path) -> list[str]:
    return [ln.strip() for ln in seed_raw.read_text(encoding="utf-8").splitlines() if ln.strip()]


def _marker_and_rest(line: str) -> tuple[str, str]:
    """Split a raw line into its leading non-ASCII marker (emoji mojibake) and the rest."""
    match = re.match(r"^([^A-Za-z0-9]*)(.*)$", line)
    return match.group(1), match.group(2)


def _raw_is_title_case(rest: str) -> bool:
    words = re.findall(r"[A-Za-z]+", _scrub(rest))
    if not words or rest.rstrip().endswith((".", ":", "β¦")):
        return False
    if all(w.isupper() for w in words) and len(words) > 1:
        return False
    return words[0][0].isupper() and all(w[0].isupper() or w.lower() in SMALL_WORDS for w in words)


def _raw_heading_lines(seed_raw: Path) -> list[tuple[str, str]]:
    """(line, heading) for raw lines that start with an emoji-mojibake marker and are Title Case."""
    out = []
    for line in _raw_lines(seed_raw)[1:]:  # line 1 is the breadcrumb
        marker, rest = _marker_and_rest(line)
        if all(ch.isascii() for ch in marker) or line.startswith(LINK_MARKER):
            continue
        if _raw_is_title_case(rest):
            out.append((line, rest))
    return out


def _raw_headings(seed_raw: Path) -> list[str]:
    return [heading for _, heading in _raw_heading_lines(seed_raw)]


def _raw_faq_questions(seed_raw: Path) -> list[str]:
    lines = _raw_lines(seed_raw)
    start = next(i for i, ln in enumerate(lines) if ln.endswith("Frequently Asked Questions"))
    return [ln for ln in lines[start + 1:] if ln.endswith("?") and not _marker_and_rest(ln)[0].strip()]


def _raw_bullets(seed_raw: Path) -> list[str]:
    """Raw lines that start with the 👉 (`π `) or • (`β’ `) marker and are not headings."""
    headings = {line for line, _ in _raw_heading_lines(seed_raw)}
    return [line.split(" ", 1)[1].strip() for line in _raw_lines(seed_raw)
            if line.startswith(("π ", "β’ ")) and line not in headings]


def _split_front(markdown: str) -> tuple[dict, str]:
    match = re.match(r"\A---\n(.*?)\n---\n", markdown, re.S)
    assert match, "the Markdown has no front matter"
    return yaml.safe_load(match.group(1)), markdown[match.end():]


def _body_without_h1(markdown: str) -> str:
    _, body = _split_front(markdown)
    return "\n".join(ln for ln in body.splitlines() if not ln.startswith("# "))


def _unquoted_words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9]+", text.replace("“", " ").replace("”", " "))


# The project's doctrine names the navigation headings, as `aq-coach import` passes the corpus's.
DOCTRINE = Doctrine.load(PROJECT_DOCTRINE)


@pytest.fixture
def imported(seed_raw, tmp_path) -> str:
    result = import_article(seed_raw, tmp_path / "imported", DOCTRINE)
    return Path(result.path).read_text(encoding="utf-8")


# --- the seed article ------------------------------------------------------------------------

def test_no_mojibake_residue(imported, seed_raw):
    assert RESIDUE.search(seed_raw.read_text(encoding="utf-8")), "the fixture should be damaged"
    leftover = [ln for ln in imported.splitlines() if RESIDUE.search(ln)]
    assert leftover == []
    assert "\u00a0" not in imported and "\ufffd" not in imported


def test_shipped_corpus_is_a_fresh_import(imported):
    assert SHIPPED_ARTICLE.read_text(encoding="utf-8") == imported, (
        "corpus/ is stale: run `aq-coach import tests/fixtures/aq-what-exactly-is-coordination-in-running.raw.txt`"
    )


def test_quotes_apostrophes_ellipses(imported, seed_raw):
    _, body = _split_front(imported)
    assert "“coordination”" in body
    assert "athlete’s" in body and "AQ’s biggest distinctions" in body
    assert "And usually…" in body
    assert "“Okay… what exactly does that mean?”" in body
    assert "❌ “coordination” itself is not the mechanical explanation" in body
    # The raw text has no straight quotes, so none may appear in the repaired body text.
    raw = seed_raw.read_text(encoding="utf-8")
    assert "'" not in raw and '"' not in raw
    assert "'" not in body and '"' not in body
    # Every damaged apostrophe (letter β letter) is now ’, and quotes are balanced per line.
    assert body.count("’") >= len(re.findall(r"[A-Za-z]β[A-Za-z]", raw))
    for line in body.splitlines():
        assert line.count("“") == line.count("”"), line


def test_bullets_become_markdown_list_items(imported, seed_raw):
    body = _body_without_h1(imported)
    items = [ln[2:] for ln in body.splitlines() if ln.startswith("- ")]
    expected = _raw_bullets(seed_raw)
    assert len(expected) > 100
    assert [_unquoted_words(i) for i in items] == [_words(b) for b in expected]
    assert not any(ln.startswith(("•", "👉 ")) for ln in body.splitlines()), "a bullet marker was left in the text"
    assert "- smoother" in body.splitlines() and "- “coordination”" in body.splitlines()


def test_every_section_heading_and_faq_question(imported, seed_raw):
    body = _body_without_h1(imported)
    h2 = [ln[3:] for ln in body.splitlines() if ln.startswith("## ")]
    h3 = [ln[4:] for ln in body.splitlines() if ln.startswith("### ")]

    raw_headings = _raw_headings(seed_raw)
    assert len(raw_headings) == 14
    assert [_unquoted_words(h) for h in h2] == [_words(h) for h in raw_headings]
    for heading in EXPECTED_HEADINGS:
        assert heading in h2

    raw_questions = _raw_faq_questions(seed_raw)
    assert len(raw_questions) == 6
    assert [_unquoted_words(q) for q in h3] == [_words(q) for q in raw_questions]
    assert "What does “coordination” actually mean in sprinting?" in h3
    assert "Why can sprinting suddenly feel “off”?" in h3
    # The FAQ questions sit under the FAQ heading, after every other section.
    lines = body.splitlines()
    assert lines.index("## Frequently Asked Questions") < min(lines.index(f"### {q}") for q in h3)


def test_front_matter(imported, seed_raw):
    front, _ = _split_front(imported)
    assert front["title"] == "What Exactly Is Coordination in Running?"
    assert front["slug"] == "what-exactly-is-coordination-in-running"
    assert front["source"] == seed_raw.name
    breadcrumb_line = _raw_lines(seed_raw)[0]
    assert front["breadcrumb"] == [p.strip() for p in breadcrumb_line.split("Β»")]
    assert front["breadcrumb"][:2] == ["Home", "Running Mechanics Explained"]

    raw_links = [_scrub(ln[len(LINK_MARKER):]).strip() for ln in _raw_lines(seed_raw) if ln.startswith(LINK_MARKER)]
    titles = [r["title"] for r in front["related"]]
    assert titles == raw_links
    assert "Why Sprinting Is Not Separate Movements" in titles
    assert "Stride Frequency Is Earned, Not Forced" in titles
    about = {r["title"]: r["about"] for r in front["related"]}
    assert about["Why Sprinting Is Not Separate Movements"].startswith("Learn why sprinting is not fully explained")
    assert "You Are Here (Within The AQ Speed Training System)" in front["navigation_sections"]
    assert "Frequently Asked Questions" not in front["navigation_sections"]


def test_navigation_headings_come_from_the_doctrine(seed_raw, tmp_path):
    """The importer knows no navigation heading itself: the doctrine it is given names them."""
    nav = ["You Are Here (Within The AQ Speed Training System)", "See How This Fits Into The Complete AQ Speed System",
           "Continue Deeper Into Running Mechanics Explained", "Ready To Run Faster?"]

    def front(headings: list[str], name: str) -> dict:
        doctrine = Doctrine.from_data({**DOCTRINE.data, "navigation_headings": headings})
        return _split_front(Path(import_article(seed_raw, tmp_path / name, doctrine).path).read_text(encoding="utf-8"))[0]

    default = front(["You Are Here"], "default")
    assert default["navigation_sections"] == nav
    later = front(["ready to run"], "later")  # case-insensitive, and navigation runs from the first match to the FAQ
    assert later["navigation_sections"] == nav[3:]
    # the ➡️ links under "Continue Deeper" are no longer navigation, so no longer related articles
    assert [r["title"] for r in later["related"]] == ["Run Faster With Isometric Training!"] != [r["title"] for r in default["related"]]
    assert front(["Continue Deeper"], "middle")["navigation_sections"] == nav[2:]
    nothing = front([], "none")
    assert nothing["navigation_sections"] == [] and nothing["related"] == []


def test_words_are_otherwise_unchanged(imported, seed_raw):
    raw_lines = seed_raw.read_text(encoding="utf-8").splitlines()
    raw_words = _words("\n".join(raw_lines[1:]))  # minus the breadcrumb line
    repaired_words = WORD.findall(_body_without_h1(imported))
    assert len(raw_words) > 2500
    assert repaired_words == raw_words


# --- repair_text ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("damaged", "repaired"),
    [
        ("the athleteβs label", "the athlete’s label"),
        ("use the word βcoordinationβ here", "use the word “coordination” here"),
        ("And usuallyβ¦", "And usually…"),
        ("intro:\nβ’ smoother\nβ’ lighter", "intro:\n• smoother\n• lighter"),
        ("π₯ Suddenly", "🔥 Suddenly"),
        ("Home Β» Running Mechanics Explained", "Home » Running Mechanics Explained"),
        ("β‘οΈ Why Sprinting Is Not Separate Movements", "➡️ Why Sprinting Is Not Separate Movements"),
        ("π§ Introduction", "🧠 Introduction"),
        ("π coordination", "👉 coordination"),
        ("β‘ Why Copying Good Form Fails", "⚡ Why Copying Good Form Fails"),
        ("π οΈ What This Means For Speed Training", "🛠️ What This Means For Speed Training"),
        ("looks tidy β upright, balanced", "looks tidy — upright, balanced"),
        ("Coaches love the word βform.β", "Coaches love the word “form.”"),
        ("the athletesβ view", "the athletes’ view"),
        ("the word βcoordinationβ, not βformβ", "the word “coordination”, not “form”"),
        ("β‘οΈΒ What Is Strength Balance?", "➡️  What Is Strength Balance?"),
        ("made faster. ππ₯", "made faster. 👉🔥"),
        ("β Frequently Asked Questions", "❓ Frequently Asked Questions"),
        ("β Not directly.", "❌ Not directly."),
    ],
)
def test_repair_text(damaged, repaired):
    text, count = repair_text(damaged)
    assert text == repaired
    assert count >= 1
    assert not RESIDUE.search(text)


def test_repair_text_leaves_clean_text_alone():
    clean = "AQ’s view: “coordination” is a label… 🔥 athletes feel it.\n• smoother\n➡️ Next"
    assert repair_text(clean) == (clean, 0)


def test_heading_emoji_whose_identity_was_lost_is_still_a_heading():
    # 🧠 and 🧭 both arrive as `π§`; any heading marker will do, the Markdown drops it.
    text, _ = repair_text("π§ You Are Here (Within The AQ Speed Training System)")
    assert text[0] in "🧠🧭" and heading_text(text) == "You Are Here (Within The AQ Speed Training System)"
    # A lone `π` (every trailing byte lost) before a Title-Case heading: an unknown heading emoji.
    text, _ = repair_text("π What Smoothness May Actually Reflect")
    assert heading_text(text) == "What Smoothness May Actually Reflect"
    assert text.split(" ", 1)[0] in HEADING_MARKERS


def test_genuine_apostrophe_and_guillemet_stand_for_themselves():
    clean = "the athlete’s description\nHome » Running"
    assert repair_text(clean) == (clean, 0)
    assert repair_text("the athleteβs and the athlete’s") == ("the athlete’s and the athlete’s", 1)


# --- the damage model -----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("char", "damaged"),
    [
        ("’", "β"), ("“", "β"), ("”", "β"), ("—", "β"), ("✅", "β"), ("❌", "β"), ("❓", "β"),
        ("•", "β’"), ("…", "β¦"), ("🔥", "π₯"), ("👉", "π"), ("🏁", "π"), ("➡️", "β‘οΈ"),
        ("\ufe0f", "οΈ"), ("»", "Β»"), ("\u00a0", "Β\u00a0"), ("×", "Γ"), ("⚡", "β‘"),
        ("🧠", "π§\u00a0"), ("🧭", "π§\u00ad"), ("🛠️", "π\u00a0οΈ"), ("A", "A"),
    ],
)
def test_damage(char, damaged):
    assert damage(char) == damaged


def test_candidate_sets():
    lone_b = candidates("β")
    for ch in "’“”—✅❌❓":
        assert ch in lone_b
    assert set("🔥💥") <= set(candidates("π₯"))
    assert {"👉", "🏁"} <= set(candidates("π"))
    assert {"🧠", "🧭"} <= set(candidates("π§"))  # NBSP/SHY were lost from the source pages
    assert "➡️" in candidates("β‘οΈ") and "⚡" in candidates("β‘")
    assert "🛠️" in candidates("π οΈ")
    assert candidates("Β»") == ("»",) and candidates("οΈ") == ("\ufe0f",)
    assert "\u00a0" in candidates("Β")
    # Only damaged forms are keys: a character that survives intact is never a candidate of itself.
    assert candidates("’") == () and candidates("a") == ()
    assert "A" not in candidates("A")


def test_residue_pattern_matches_leftover_damage():
    for leftover in ("β", "π", "Β", "ο", "Έ", "₯", "ͺ"):
        assert MOJIBAKE_RESIDUE.search(leftover), leftover
    assert not MOJIBAKE_RESIDUE.search("AQ’s “form” — …  » ✅ ❌ 🔥 👉")


def test_repair_code_names_no_article_phrase():
    import inspect

    source = "".join(
        inspect.getsource(getattr(repair_module, name))
        for name in ("repair", "_repair_line", "_choose", "_lone_b", "_line_mark", "_segment", "candidates_map")
    )
    for phrase in ("You Are Here", "Frequently Asked", "Introduction", "coordination", "HUGE"):
        assert phrase.lower() not in source.lower(), phrase


# --- ✅ vs ❌: decide only when context decides ------------------------------------------------

@pytest.mark.parametrize(
    ("damaged", "mark"),
    [
        ("Smooth does not always mean:\nβ less aggression", "❌"),  # (a) negated lead
        ("It is no longer treated as:\nβ a label\nβ a cause", "❌"),  # (a) every item of the list
        ("Because now:\nβ βformβ itself is not the mechanism", "❌"),  # (a) negated marked statement
        ("Is it the same?\nβ Not exactly.", "❌"),  # (b) yes/no opener
        ("Is it the same?\nβ No.", "❌"),
        ("Can it be trained?\nβ Yes, it can.", "✅"),
        ("β Frequently Asked Questions", "❓"),  # (c) a Question heading
    ],
)
def test_line_marks_decided_by_context(damaged, mark):
    report = repair(damaged)
    marked = [ln for ln in report.text.splitlines() if ln[:1] in "✅❌❓"]
    assert marked and all(ln.startswith(f"{mark} ") for ln in marked)
    assert report.ambiguous == 0 and report.residue == 0


def test_undecidable_line_mark_is_dropped_and_reported():
    damaged = "That is a HUGE distinction.\nβ good-looking positions do not guarantee it\nβ it appears when sides organize"
    report = repair(damaged)
    assert report.text.splitlines() == [
        "That is a HUGE distinction.",
        "good-looking positions do not guarantee it",
        "it appears when sides organize",
    ]
    assert report.ambiguous == 2 and report.ambiguous_lines == report.text.splitlines()[1:]
    assert "✅" not in report.text and "❌" not in report.text


# --- a second article: smooth-form (test-only, never in corpus/) -----------------------------

UNDECIDABLE = ("❌ good-looking positions", "✅ smooth sprinting appears")


@pytest.fixture
def smooth(tmp_path):
    result = import_article(SMOOTH_RAW, tmp_path / "corpus", DOCTRINE)
    return result, Path(result.path).read_text(encoding="utf-8")


def test_smooth_form_imports_to_its_clean_text(smooth):
    result, markdown = smooth
    clean = SMOOTH_CLEAN.read_text(encoding="utf-8")
    for marked in UNDECIDABLE:
        assert marked in clean
        clean = clean.replace(marked, marked[2:])
    assert markdown == to_markdown(parse_article(clean, source=SMOOTH_RAW.name, doctrine=DOCTRINE))


def test_smooth_form_marks_punctuation_and_report(smooth):
    result, markdown = smooth
    lines = markdown.splitlines()
    ok_line = next(ln for ln in lines if "smooth sprinting appears when" in ln)
    assert "❌" not in ok_line and "✅" not in ok_line
    assert "good-looking positions do not guarantee smooth sprinting" in lines
    assert "❌ Not exactly." in lines
    clean = SMOOTH_CLEAN.read_text(encoding="utf-8")
    for dashed in ("tidy — upright", "feel — and be —", "improving — fewer", "itself — as a result", "rhythm” — the"):
        assert dashed in clean and dashed in markdown
    assert "Coaches love the word “form.”" in lines and "good form… or is" in markdown
    assert "elite sprinter’s form?" in markdown
    assert not MOJIBAKE_RESIDUE.search(markdown) and "\u00a0" not in markdown
    report = result.as_dict()
    assert report["ambiguous"] == 2 and report["residue"] == 0 and report["repairs"] > 50
    assert report["ambiguous_lines"] == [
        "good-looking positions do not guarantee smooth sprinting",
        "smooth sprinting appears when the pushing side and swing side keep organizing together from stride to stride",
    ]
    assert "What Smoothness May Actually Reflect" in [ln[3:] for ln in lines if ln.startswith("## ")]
    assert not list((ROOT / "corpus").glob("*smooth*")), "the test-only article must never ship in corpus/"


def test_seed_import_report(seed_raw, tmp_path):
    report = import_article(seed_raw, tmp_path / "corpus", DOCTRINE).as_dict()
    assert report["ambiguous"] == 0 and report["residue"] == 0 and report["ambiguous_lines"] == []
    markdown = Path(report["path"]).read_text(encoding="utf-8")
    assert markdown.count("\n❌ ") == 9 and "❓" not in markdown  # the ❓ marks a heading, dropped


# --- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary"),
        ("latin1.txt", "Caf\u00e9 coordination".encode("latin-1"), "not valid UTF-8"),
        ("empty.txt", b"", "empty"),
        ("blank.md", b"  \n\n\t\n", "empty"),
        ("article.pdf", b"%PDF-1.7 coordination", "unsupported file type .pdf"),
    ],
)
def test_bad_input_is_refused_clearly(tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    corpus = tmp_path / "corpus"
    with pytest.raises(ImportError_) as info:
        import_article(path, corpus, DOCTRINE)
    text = str(info.value)
    assert message in text and name in text
    assert "\n" not in text
    assert not corpus.exists() or not any(corpus.iterdir()), "nothing may be written for a refused file"


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(ImportError_, match="no such file"):
        import_article(tmp_path / "nope.txt", tmp_path / "corpus", DOCTRINE)


def test_cli_import_bad_file_is_one_error_line(tmp_path):
    bad = tmp_path / "binary.txt"
    bad.write_bytes(b"\x00\x01\x02coordination")
    result = CliRunner().invoke(app, ["import", str(bad), "--corpus", str(tmp_path / "corpus")])
    assert result.exit_code == 1
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "binary" in lines[0]
    assert "Traceback" not in result.output and "Traceback" not in result.stderr


def test_cli_import_json(tmp_path, seed_raw):
    bad = tmp_path / "notes.docx"
    bad.write_bytes(b"PK\x03\x04")
    corpus = tmp_path / "corpus"
    result = CliRunner().invoke(app, ["import", str(seed_raw), str(bad), "--corpus", str(corpus), "--json"])
    assert result.exit_code == 1  # one file failed
    data = json.loads(result.stdout)
    assert set(data) == {"imported", "errors"}
    assert len(data["imported"]) == 1 and len(data["errors"]) == 1
    done = data["imported"][0]
    assert done["title"] == "What Exactly Is Coordination in Running?"
    assert done["sections"] == 14 and done["faq"] == 6 and done["repairs"] > 0
    assert done["ambiguous"] == 0 and done["residue"] == 0 and done["ambiguous_lines"] == []
    assert Path(done["path"]).read_text(encoding="utf-8") == SHIPPED_ARTICLE.read_text(encoding="utf-8")
    assert "notes.docx" in data["errors"][0] and "unsupported" in data["errors"][0]


def test_cli_import_good_file_exits_0(tmp_path, seed_raw):
    corpus = tmp_path / "corpus"
    result = CliRunner().invoke(app, ["import", str(seed_raw), "--corpus", str(corpus), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["errors"] == []
    assert (corpus / "what-exactly-is-coordination-in-running.md").exists()


def test_html_import(tmp_path, seed_raw):
    """A few lines of the article as an HTML page, damaged like the seed, with a <title> and scripts."""
    raw = seed_raw.read_text(encoding="utf-8").splitlines()
    start = next(i for i, ln in enumerate(raw) if ln.endswith("Frequently Asked Questions"))
    lines = raw[:13] + raw[start:start + 4]
    body = "\n".join(
        f"<li>{html_escape(ln[2:])}</li>" if ln.startswith("π ") else f"<p>{html_escape(ln)}</p>" for ln in lines
    )
    page = tmp_path / "coordination.html"
    page.write_text(
        "<!doctype html><html><head><title>What Exactly Is Coordination? | AQ</title>"
        "<script>window.tracker = 'SCRIPT-SHOULD-BE-DROPPED';</script><style>p { color: red }</style></head>"
        f"<body><article>{body}</article><script>track('SCRIPT-SHOULD-BE-DROPPED')</script></body></html>",
        encoding="utf-8",
    )
    result = import_article(page, tmp_path / "corpus", DOCTRINE)
    markdown = Path(result.path).read_text(encoding="utf-8")
    front, text = _split_front(markdown)
    assert "SCRIPT-SHOULD-BE-DROPPED" not in markdown and "color: red" not in markdown
    assert front["title"] == "What Exactly Is Coordination in Running?"
    assert front["breadcrumb"][0] == "Home"
    assert front["source"] == "coordination.html"
    assert "## Introduction" in text and "## Frequently Asked Questions" in text
    assert text.count("## Introduction") == 1
    assert "And usually…" in text
    assert "- coordination" in text.splitlines()
    assert "### What does “coordination” actually mean in sprinting?" in text
    assert not RESIDUE.search(markdown)


def html_escape(text: str) -> str:
    import html

    return html.escape(text, quote=False)


def test_html_list_items_and_entities(tmp_path):
    page = tmp_path / "lists.htm"
    page.write_text(
        "<html><head><title>Site name</title></head><body>"
        "<p>Home &raquo; Running Mechanics Explained &raquo; A Test Article</p>"
        "<h2>🧠 Introduction</h2><p>Athletes hear words like:</p>"
        "<ul><li>👉 rhythm</li><li>smooth mechanics</li></ul>"
        "<p>And usually&hellip; the athlete&rsquo;s &ldquo;feel&rdquo; changes.</p></body></html>",
        encoding="utf-8",
    )
    result = import_article(page, tmp_path / "corpus", DOCTRINE)
    front, text = _split_front(Path(result.path).read_text(encoding="utf-8"))
    assert front["title"] == "A Test Article" and result.path.endswith("a-test-article.md")
    lines = text.splitlines()
    assert "Athletes hear words like:" in lines
    after_lead = [ln for ln in lines[lines.index("Athletes hear words like:") + 1:] if ln.strip()]
    assert after_lead[:2] == ["- rhythm", "- smooth mechanics"]
    assert "And usually… the athlete’s “feel” changes." in lines
    assert "Site name" not in text
