"""The insights page: topics (Topic.as_dict() dicts) as one self-contained HTML page.

Inline CSS and an inline SVG bar chart (no script, no font, no network), every stored text HTML-escaped:
athletes' questions and comments are shown as text, never as markup. `aq-coach insights --report DIR`
writes it with the JSON beside it; the maintainers' page can serve the same `render_page`.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

COLOURS = {"content_gap": "#c0392b", "answer_failure": "#d68910", "ok": "#2e86c1"}
LABELS = {"content_gap": "content gap", "answer_failure": "answer failure", "ok": "ok"}
_CHART_TOPICS = 30
_CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:70rem;color:#222;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem} .sub{color:#666;margin-top:0}
table{border-collapse:collapse;width:100%;margin:1rem 0} th,td{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;
vertical-align:top} th{background:#f5f5f5} td.n{text-align:right;white-space:nowrap}
.v{display:inline-block;padding:.05rem .45rem;border-radius:.6rem;color:#fff;font-size:.8rem;white-space:nowrap}
.content_gap{background:#c0392b}.answer_failure{background:#d68910}.ok{background:#2e86c1}
ul{margin:.2rem 0 .2rem 1.1rem;padding:0} .terms{color:#555;font-size:.85rem} .why{color:#555;font-size:.85rem}
details{margin:.2rem 0} summary{cursor:pointer;color:#2e4053} .legend span{margin-right:1rem}
.sw{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}
"""


def _pct(share) -> str:
    return "" if share is None else f"{100 * float(share):.0f}%"


def bar_chart(topics: list[dict]) -> str:
    """An inline SVG: one bar per topic (the first 30), its length the topic's count, coloured by verdict,
    the share of honest gaps and of thumbs down marked inside it."""
    shown = topics[:_CHART_TOPICS]
    if not shown:
        return ""
    most = max(int(t.get("count") or 0) for t in shown) or 1
    row, label_w, bar_w = 22, 330, 420
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="questions per topic" '
             f'width="{label_w + bar_w + 60}" height="{row * len(shown) + 10}" font-size="12" '
             'font-family="system-ui,sans-serif">']
    for n, t in enumerate(shown):
        y, count = 5 + n * row, int(t.get("count") or 0)
        width = max(2, round(bar_w * count / most))
        name = str(t.get("name") or "")
        short = name if len(name) <= 44 else name[:43] + "…"
        colour = COLOURS.get(str(t.get("verdict")), "#888")
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end"><title>{escape(name)}</title>'
                     f'{n + 1}. {escape(short)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{width}" height="{row - 6}" fill="{colour}" opacity="0.35"/>')
        for share, key in ((t.get("gap_share"), "content_gap"), (t.get("down_share"), "answer_failure")):
            inner = round(width * float(share or 0))
            if inner:
                parts.append(f'<rect x="{label_w}" y="{y + 2 + (0 if key == "content_gap" else (row - 6) // 2)}" '
                             f'width="{inner}" height="{(row - 6) // 2}" fill="{COLOURS[key]}"/>')
        parts.append(f'<text x="{label_w + width + 6}" y="{y + 14}">{count}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _topic_row(n: int, t: dict) -> str:
    verdict = str(t.get("verdict") or "ok")
    examples = "".join(f"<li>{escape(str(e))}</li>" for e in t.get("examples") or [])
    terms = ", ".join(escape(str(x)) for x in t.get("terms") or [])
    extra = []
    if t.get("suggested_articles"):
        extra.append("<div><b>Suggested articles:</b> " + "; ".join(escape(str(a)) for a in t["suggested_articles"]) + "</div>")
    comments = "".join(f"<li>{'👎' if c.get('rating') == -1 else '👍'} {escape(str(c.get('comment') or ''))}</li>"
                       for c in t.get("comments") or [])
    if comments:
        extra.append(f"<details><summary>comments ({len(t['comments'])})</summary><ul>{comments}</ul></details>")
    down = "".join(f"<li><b>{escape(str(d.get('question') or ''))}</b><br>{escape(str(d.get('answer') or ''))}"
                   + (f"<br><i>{escape(str(d['comment']))}</i>" if d.get("comment") else "") + "</li>"
                   for d in t.get("rated_down") or [])
    if down:
        extra.append(f"<details><summary>answers rated down</summary><ul>{down}</ul></details>")
    support = "" if t.get("support") is None else f"{float(t['support']):.2f}"
    return (f'<tr><td class="n">{n}</td><td><span class="v {escape(verdict)}">{escape(LABELS.get(verdict, verdict))}</span>'
            f'<div class="why">{escape(str(t.get("reason") or ""))}</div></td>'
            f'<td><b>{escape(str(t.get("name") or ""))}</b><div class="terms">{terms}</div><ul>{examples}</ul>{"".join(extra)}</td>'
            f'<td class="n">{int(t.get("count") or 0)}</td><td class="n">{_pct(t.get("gap_share"))}</td>'
            f'<td class="n">{_pct(t.get("down_share"))}</td><td class="n">{_pct(t.get("guard_share"))}</td>'
            f'<td class="n">{support}</td></tr>')


def render_page(topics: list[dict], title: str = "AQ Coach insights: what athletes ask", subtitle: str = "") -> str:
    """The whole page for these topics (as Topic.as_dict() gives them), most in need of attention first."""
    counts = {v: sum(t.get("verdict") == v for t in topics) for v in COLOURS}
    questions = sum(int(t.get("count") or 0) for t in topics)
    legend = "".join(f'<span><i class="sw" style="background:{c}"></i>{LABELS[v]} ({counts[v]})</span>' for v, c in COLOURS.items())
    rows = "".join(_topic_row(n, t) for n, t in enumerate(topics, 1))
    body = (f"<p>{questions} questions in {len(topics)} topics.</p><div class=\"legend\">{legend}</div>"
            "<p class=\"why\">Each bar is a topic's questions; inside it, the share answered with an honest gap (top) "
            "and the share rated down (bottom).</p>" + bar_chart(topics)
            + "<table><tr><th>#</th><th>verdict</th><th>topic</th><th>questions</th><th>gap</th><th>👎</th><th>guard</th>"
            f"<th>support</th></tr>{rows}</table>") if topics else "<p>No questions stored yet.</p>"
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head><body>'
            f'<h1>{escape(title)}</h1><p class="sub">{escape(subtitle)}</p>{body}</body></html>')


def write_report(folder: Path, topics: list[dict], subtitle: str = "") -> list[Path]:
    """insights.html and insights.json in folder (made if missing); returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    page, data = folder / "insights.html", folder / "insights.json"
    page.write_text(render_page(topics, subtitle=subtitle), encoding="utf-8")
    data.write_text(json.dumps({"topics": topics}, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return [page, data]
