"""What the web chat shows: athletes' messages, answers with their notices and folded sources, the
glossary and the index banner, as Chatbot Markdown with every HTML character escaped.

Pure functions of their arguments (no Gradio, no store): assistant.chat renders the conversation
with them and assistant.ui shows the glossary and the banner.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the answering stack is slow to import
    from .answering import Answer
    from .corpus import Glossary

INGEST_HINT = "aq-coach ingest"
_NOTICE_ACTIONS = ("replaced", "fallback")
_GUARD_DEFAULT = "This answer was composed directly from AQ's articles because the model's answer could not be used."
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def escape_html(text: str) -> str:
    """`<`, `>`, `&` and quotes as entities, so HTML in the text is shown, never interpreted."""
    return html.escape(str(text or ""), quote=True)


def escape_user_text(text: str) -> str:
    """An athlete's message as Chatbot Markdown that displays exactly the characters typed.

    Markdown punctuation gets a backslash and HTML characters become entities, so
    `<script>alert(1)</script>` shows literally and is never parsed as a tag (Gradio's sanitizer
    would otherwise silently drop it), and `*this*` does not turn into italics.
    """
    text = str(text or "").replace("\r\n", "\n")
    return escape_html(_MD_SPECIAL.sub(r"\\\1", text))


def _field(source: Any, name: str) -> str:
    value = source.get(name, "") if isinstance(source, dict) else getattr(source, name, "")
    return str(value or "").strip()


def sources_html(sources: Iterable[Any], open_: bool = False) -> str:
    """Sources (Source objects or their dicts) as a folded <details> list: section, article, excerpt."""
    sources = list(sources or [])
    if not sources:
        return ""
    items = []
    for src in sources:
        section, title = _field(src, "section"), _field(src, "title")
        question, excerpt = _field(src, "question"), _field(src, "excerpt")
        head = f"<strong>{escape_html(section or title or 'AQ article')}</strong>"
        if title and title != section:
            head += f" · <em>{escape_html(title)}</em>"
        lines = [head]
        if question:
            lines.append(f"<em>Q: {escape_html(question)}</em>")
        if excerpt:
            lines.append(escape_html(excerpt))
        items.append("<li>" + "<br>".join(lines) + "</li>")
    label = "source" if len(sources) == 1 else "sources"
    return (
        f'<details class="aq-sources"{" open" if open_ else ""}><summary>📚 {len(sources)} {label} from AQ\'s articles</summary>'
        f"<ol>{''.join(items)}</ol></details>"
    )


def format_sources(answer: Answer) -> str:
    """The answer's sources, each with its section title and excerpt, folded inside <details>."""
    return sources_html(getattr(answer, "sources", None) or [])


def guard_notice(answer: Answer) -> str | None:
    """A short notice when the doctrine guard replaced the answer (or the LLM was unreachable)."""
    guard = getattr(answer, "guard", None)
    if guard is None or getattr(guard, "action", "") not in _NOTICE_ACTIONS:
        return None
    return f"⚠️ {(getattr(guard, 'notice', '') or _GUARD_DEFAULT).strip()}"


def _notices_markdown(notices: Iterable[str]) -> str:
    return "\n\n".join(f'<span class="aq-notice">{escape_html(n)}</span>' for n in notices if n)


def render_message(text: str, sources: Iterable[Any] = (), notices: Iterable[str] = ()) -> str:
    """An assistant message for the Chatbot: the answer (Markdown, HTML escaped), notices, sources."""
    parts = [escape_html(text).strip()]
    notes = _notices_markdown(notices)
    if notes:
        parts.append(notes)
    folded = sources_html(sources)
    if folded:
        parts.append(folded)
    return "\n\n".join(p for p in parts if p)


def answer_notices(answer: Answer) -> list[str]:
    """The guard notice first, then the service's other notices (a shortened question …), deduplicated."""
    out: list[str] = []
    first = guard_notice(answer)
    guard_text = getattr(getattr(answer, "guard", None), "notice", "") or ""
    if first:
        out.append(first)
    for note in getattr(answer, "notices", None) or []:
        if note and note != guard_text and f"⚠️ {note}" not in out:
            out.append(f"ℹ️ {note}")
    return out


def render_answer(answer: Answer) -> str:
    return render_message(answer.text, answer.sources, answer_notices(answer))


def glossary_markdown(glossary: Glossary) -> str:
    """The AQ glossary as Markdown: each term, its definition, everyday words and related terms."""
    terms = sorted(glossary or [], key=lambda t: t.term.lower())
    if not terms:
        return "*The AQ glossary is not loaded.*"
    blocks = []
    for t in terms:
        block = f"**{escape_html(t.term)}**: {escape_html(t.definition)}"
        if t.everyday:
            block += f"  \n<small>Athletes say: {escape_html(', '.join(t.everyday))}</small>"
        if t.related:
            block += f"  \n<small>Related: {escape_html(', '.join(t.related))}</small>"
        blocks.append(block)
    return "\n\n".join(blocks)


def banner_markdown(problem: str | None) -> str:
    """The index banner: the problem, with the command that fixes it as code."""
    if not problem:
        return ""
    text = escape_html(problem.replace("`", ""))
    for command in ("aq-coach ingest --rebuild", INGEST_HINT):
        if command in text:
            text = text.replace(command, f"`{command}`", 1)
            break
    else:
        text += f" Build it with: `{INGEST_HINT}`"
    return f"⚠️ **AQ Coach can't answer yet.** {text}"


def _days(days: float) -> str:
    return f"{days:g} day" + ("" if days == 1 else "s")


def storage_notice(retention_days: float | None = None) -> str:
    """The page's one line on what is stored and how to forget it (with how long it is kept, when set)."""
    kept = f" for {_days(retention_days)} after your last message" if retention_days else ""
    return (f"🔒 Your chats are stored on this server{kept} so you can come back to them; "
            "**Forget this chat** deletes everything this browser has stored, at once.")


def forgotten_status(counts: dict[str, int]) -> str:
    """The one-line confirmation after "Forget this chat" (rows deleted per table)."""
    said, rated = counts.get("messages", 0), counts.get("feedback", 0)
    if not any(counts.values()):
        return "Nothing was stored for this chat, so there was nothing to delete."
    ratings = f" and {rated} rating{'' if rated == 1 else 's'}" if rated else ""
    return f"Chat forgotten: {said} message{'' if said == 1 else 's'}{ratings} deleted for good."
