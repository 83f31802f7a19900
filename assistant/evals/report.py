"""Eval reports: `report.json` (the source of truth) and `report.html` (self-contained, no external assets)."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

from .runner import RunResult

_VERDICT_COLOUR = {"pass": "#1a7f37", "fail": "#cf222e", "uncertain": "#9a6700"}


def write_report(result: RunResult, report_dir: Path) -> tuple[Path, Path]:
    """Write report.json and report.html into `report_dir`; returns their paths."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    json_path = report_dir / "report.json"
    html_path = report_dir / "report.html"
    data = result.as_dict()
    _atomic_write(json_path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    _atomic_write(html_path, render_html(data))
    return json_path, html_path


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# --- HTML ---------------------------------------------------------------------------------------

def _e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _pct(value) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _bars(title: str, rows: list[tuple[str, float | None, float | None]]) -> str:
    """An inline SVG bar chart: one bar per row (label, pass rate, threshold)."""
    if not rows:
        return ""
    bar_h, gap, label_w, width = 18, 8, 190, 560
    plot_w = width - label_w - 60
    height = len(rows) * (bar_h + gap) + 24
    parts = [f'<svg role="img" aria-label="{_e(title)}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="12">']
    for i, (label, rate, threshold) in enumerate(rows):
        y = 8 + i * (bar_h + gap)
        r = rate or 0.0
        colour = "#1a7f37" if threshold is None or (rate is not None and rate >= threshold - 1e-9) else "#cf222e"
        parts.append(f'<text x="{label_w - 6}" y="{y + bar_h - 5}" text-anchor="end">{_e(label[:30])}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{plot_w}" height="{bar_h}" fill="#eaeef2"/>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{plot_w * r:.1f}" height="{bar_h}" fill="{colour}"/>')
        if threshold is not None:
            tx = label_w + plot_w * threshold
            parts.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{y - 2}" y2="{y + bar_h + 2}" stroke="#24292f" stroke-width="2"/>')
        parts.append(f'<text x="{label_w + plot_w + 6}" y="{y + bar_h - 5}">{_e(_pct(rate))}</text>')
    parts.append("</svg>")
    return f"<figure><figcaption>{_e(title)}</figcaption>{''.join(parts)}</figure>"


def _evidence(items: list) -> str:
    if not items:
        return ""
    lis = []
    for item in items[:20]:
        if isinstance(item, dict):
            fields = "; ".join(f"<b>{_e(k)}</b>: {_e(json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v)}"
                               for k, v in item.items() if v not in ("", None, [], {}))
            lis.append(f"<li>{fields}</li>")
        else:
            lis.append(f"<li>{_e(item)}</li>")
    more = f"<li>… {len(items) - 20} more</li>" if len(items) > 20 else ""
    return f"<ul class=ev>{''.join(lis)}{more}</ul>"


def _badge(verdict: str) -> str:
    colour = _VERDICT_COLOUR.get(verdict, "#57606a")
    return f'<span class=badge style="background:{colour}">{_e(verdict)}</span>'


def _helpfulness_html(s: dict) -> str:
    """Per-split pass rates, skipped cases and each helpfulness check that did not pass (case, split, why)."""
    out = []
    splits = s.get("splits") or {}
    if splits:
        names = list(dict.fromkeys(n for row in splits.values() for n in row["checks"]))
        out.append("<h2>Per split</h2><table><tr><th>split</th><th>cases</th><th>pass rate</th>"
                   + "".join(f"<th>{_e(n)}</th>" for n in names) + "</tr>")
        for split, row in splits.items():
            cells = "".join(f"<td>{_pct(row['checks'].get(n, {}).get('pass_rate'))}</td>" for n in names)
            out.append(f"<tr><td>{_e(split)}</td><td>{row['cases']}</td><td>{_pct(row['pass_rate'])}</td>{cells}</tr>")
        out.append("</table>")
    if s.get("skipped_cases"):
        out.append("<h2>Skipped cases</h2><ul>" + "".join(f"<li>{_e(k['line'])}</li>" if k.get("line") else
                                                           f"<li><b>{_e(k['id'])}</b>: {_e(k['reason'])}</li>"
                                                           for k in s["skipped_cases"]) + "</ul>")
    failures = s.get("helpfulness_failures") or []
    if failures:
        out.append("<h2>Helpfulness checks not passed</h2><table><tr><th>case</th><th>split</th><th>check</th>"
                   "<th>verdict</th><th>why</th></tr>")
        for f in failures:
            out.append(f"<tr><td>{_e(f['id'])}</td><td>{_e(f.get('split'))}</td><td>{_e(f['check'])}</td>"
                       f"<td>{_badge(f['verdict'])}</td><td>{_e(f['why'])}</td></tr>")
        out.append("</table>")
    return "\n".join(out)


def _helpfulness_self_test_html(row: dict) -> str:
    if "error" in row:
        return f"<h3>Helpfulness judges</h3><p class=failed>{_e(row['error'])}</p>"
    out = [f"<h3>Helpfulness judges</h3><p>{_e(row.get('file'))} · accuracy against pass/fail/na labels · "
           f"key_points cosine {_e(row.get('key_point_cosine'))} ± {_e(row.get('key_point_band'))}</p>",
           "<table><tr><th>judge</th><th>split</th><th>n</th><th>accuracy</th><th>uncertain</th><th>errors</th></tr>"]
    for judge, splits in (row.get("judges") or {}).items():
        for split, v in splits.items():
            errs = ", ".join(f"{e['id']} ({e['label']}→{e['predicted']})" for e in v.get("errors", []))
            out.append(f"<tr><td>{_e(judge)}</td><td>{_e(split)}</td><td>{v.get('n')}</td><td>{_pct(v.get('accuracy'))}</td>"
                       f"<td>{v.get('uncertain')}</td><td>{_e(errs)}</td></tr>")
    out.append("</table>")
    return "".join(out)


_HEAD = """<!doctype html><html lang=en><head><meta charset=utf-8>
<meta name=viewport content="width=device-width, initial-scale=1">
<title>AQ Coach eval: {title}</title>
<style>
body{{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#24292f}}
table{{border-collapse:collapse;margin:1rem 0;width:100%}}th,td{{border:1px solid #d0d7de;padding:.35rem .6rem;text-align:left;vertical-align:top}}
th{{background:#f6f8fa}}.badge{{color:#fff;border-radius:4px;padding:.05rem .4rem;font-size:.85em}}
details{{border:1px solid #d0d7de;border-radius:6px;margin:.5rem 0;padding:.4rem .8rem}}summary{{cursor:pointer}}
.answer{{white-space:pre-wrap;background:#f6f8fa;padding:.6rem;border-radius:4px}}.ev{{font-size:.9em}}
.ok{{color:#1a7f37}}.failed{{color:#cf222e}}figure{{margin:1rem 0}}figcaption{{font-weight:600;margin-bottom:.3rem}}
.charts{{display:flex;flex-wrap:wrap;gap:1rem}}
</style></head><body>"""


def render_html(data: dict) -> str:
    s = data.get("summary", {})
    status = "PASSED" if s.get("ok") else "FAILED"
    out = [_HEAD.format(title=_e(status)),
           f"<h1>AQ Coach eval — <span class={'ok' if s.get('ok') else 'failed'}>{_e(status)}</span></h1>"]
    out += _summary_html(s)
    out += _tags_html(s.get("tags", {}))
    out += _regressions_html(data.get("regressions") or [], s)
    out += _self_tests_html(data.get("judge_self_test") or {})
    out.append("<h2>Cases</h2>")
    order = {"fail": 0, "uncertain": 1, "pass": 2, "skipped": 3}
    for case in sorted(data.get("cases", []), key=lambda c: (order.get(c.get("verdict"), 3), c.get("id", ""))):
        out += _case_html(case)
    out.append("</body></html>\n")
    return "\n".join(out)


def _summary_html(s: dict) -> list[str]:
    """The run's line, the per-check table, the thresholds and the charts."""
    checks = s.get("checks", {})
    thresholds = s.get("thresholds", {})
    tags = s.get("tags", {})
    out: list[str] = []
    out.append(f"<p>Dataset <code>{_e(s.get('dataset'))}</code> · mode {_e(s.get('mode'))} · backend {_e(s.get('backend'))} · "
               f"{_e(s.get('cases'))} cases: {_e(s.get('passed'))} pass, {_e(s.get('failed'))} fail, "
               f"{_e(s.get('uncertain'))} uncertain (uncertain is never a pass) · {_e(s.get('seconds'))} s</p>")
    if s.get("description"):
        out.append(f"<p><i>{_e(s['description'])}</i></p>")

    out.append("<h2>Summary</h2><table><tr><th>check</th><th>applied</th><th>pass</th><th>fail</th><th>uncertain</th>"
               "<th>pass rate</th><th>threshold</th><th>status</th></tr>")
    for name, row in checks.items():
        st = row.get("status", "")
        out.append(f"<tr><td>{_e(name)}</td><td>{row['applied']}</td><td>{row['pass']}</td><td>{row['fail']}</td>"
                   f"<td>{row['uncertain']}</td><td>{_pct(row['pass_rate'])}</td><td>{_pct(row.get('threshold'))}</td>"
                   f"<td class={'failed' if st == 'failed' else 'ok'}>{_e(st)}</td></tr>")
    out.append("</table>")
    extra = {k: v for k, v in thresholds.items() if v.get("check") == "retrieval" or v.get("check") is None}
    r = s.get("retrieval")
    if r:
        out.append(f"<p>Retrieval (k={_e(r['k'])}, {_e(r['cases'])} cases): recall@k {_pct(r['recall_at_k'])} "
                   f"(a gold section in the top k), section recall@k {_pct(r['section_recall_at_k'])} "
                   f"(share of gold sections found), MRR {r['mrr']:.3f}</p>")
    if extra:
        out.append("<table><tr><th>threshold</th><th>value</th><th>required</th><th>status</th></tr>")
        for key, t in extra.items():
            out.append(f"<tr><td>{_e(key)}</td><td>{_pct(t['value'])}</td><td>{_pct(t['threshold'])}</td><td>{_e(t['status'])}</td></tr>")
        out.append("</table>")
    if s.get("failed_thresholds"):
        out.append(f"<p class=failed>Failed thresholds: {_e(', '.join(s['failed_thresholds']))}</p>")
    if s.get("framing_failures"):
        out.append(f"<p class=failed>Framing failures (doctrine): {_e(', '.join(s['framing_failures']))}</p>")

    out.append(_helpfulness_html(s))
    out.append("<div class=charts>")
    out.append(_bars("Pass rate per check (line = threshold)", [(n, row["pass_rate"], row.get("threshold")) for n, row in checks.items()]))
    out.append(_bars("Pass rate per tag", [(t, row["pass_rate"], None) for t, row in sorted(tags.items())]))
    out.append("</div>")
    return out


def _tags_html(tags: dict) -> list[str]:
    """The pass rate per tag."""
    out: list[str] = []
    out.append("<h2>Per tag</h2><table><tr><th>tag</th><th>cases</th><th>pass</th><th>fail</th><th>uncertain</th><th>pass rate</th></tr>")
    for tag, row in sorted(tags.items()):
        out.append(f"<tr><td>{_e(tag)}</td><td>{row['cases']}</td><td>{row['pass']}</td><td>{row['fail']}</td>"
                   f"<td>{row['uncertain']}</td><td>{_pct(row['pass_rate'])}</td></tr>")
    out.append("</table>")
    return out


def _regressions_html(regressions: list, s: dict) -> list[str]:
    """The cases that passed in the baseline and do not now."""
    out: list[str] = []
    if s.get("baseline"):
        out.append(f"<h2>Regressions against {_e(s['baseline'])}</h2>")
        if regressions:
            out.append("<table><tr><th>case</th><th>before</th><th>after</th><th>checks</th></tr>")
            for reg in regressions:
                out.append(f"<tr><td>{_e(reg['id'])}</td><td>{_badge(reg['before'])}</td><td>{_badge(reg['after'])}</td>"
                           f"<td>{_e(', '.join(reg.get('checks', [])))}</td></tr>")
            out.append("</table>")
        else:
            out.append("<p>None.</p>")
    return out


def _self_tests_html(st: dict) -> list[str]:
    """How far each judge agrees with its labelled data."""
    out: list[str] = []
    if st:
        out.append("<h2>Judge self-test</h2><table><tr><th>judge</th><th>labelled file</th><th>class</th><th>n</th>"
                   "<th>precision</th><th>recall</th><th>uncertain</th><th>errors</th></tr>")
        for name, row in st.items():
            if name == "helpfulness":
                continue
            if "heldout" in row and "tune" in row and "error" not in row:   # lead by kind: accuracy per split
                out.append(f"<tr><td>{_e(name)}</td><td>{_e(row.get('file'))}</td><td>accuracy</td>"
                           f"<td>{row['tune'].get('n')} / {row['heldout'].get('n')}</td>"
                           f"<td colspan=2>tune {_pct(row['tune'].get('accuracy'))} · heldout {_pct(row['heldout'].get('accuracy'))}</td>"
                           f"<td>{row['heldout'].get('uncertain')}</td><td>{_e(str(row['heldout'].get('per_kind')))}</td></tr>")
                continue
            if "error" in row:
                out.append(f"<tr><td>{_e(name)}</td><td colspan=7 class=failed>{_e(row['error'])}</td></tr>")
                continue
            errs = ", ".join(f"{e['id']} ({e['label']}→{e['predicted']})" for e in row.get("errors", []))
            out.append(f"<tr><td>{_e(name)}</td><td>{_e(row.get('file'))}</td><td>{_e(row.get('positive'))}</td><td>{row.get('n')}</td>"
                       f"<td>{_pct(row.get('precision'))}</td><td>{_pct(row.get('recall'))}</td><td>{row.get('uncertain')}</td>"
                       f"<td>{_e(errs)}</td></tr>")
        out.append("</table>")
        if "helpfulness" in st:
            out.append(_helpfulness_self_test_html(st["helpfulness"]))
    return out


def _case_html(case: dict) -> list[str]:
    """One case: its question, answer, checks with evidence, and sources."""
    out: list[str] = []
    open_attr = " open" if case.get("verdict") not in ("pass", "skipped") else ""
    out.append(f"<details{open_attr}><summary>{_badge(case.get('verdict', ''))} <b>{_e(case.get('id'))}</b> "
               f"— {_e(case.get('question'))} <small>[{_e(', '.join(case.get('tags', [])))}]</small></summary>")
    if case.get("turns"):
        out.append("<p>Turns: " + " → ".join(f"<q>{_e(t)}</q>" for t in case["turns"]) + "</p>")
    if case.get("answer"):
        out.append(f"<div class=answer>{_e(case['answer'])}</div>")
    if case.get("error"):
        out.append(f"<p class=failed>error: {_e(case['error'])}</p>")
    if case.get("skipped"):
        out.append(f"<p>skipped: {_e(case['skipped'])}</p>")
    if case.get("split"):
        out.append(f"<p><small>split {_e(case['split'])} · kind {_e(case.get('kind'))} · article {_e(case.get('article'))}</small></p>")
    out.append("<table><tr><th>check</th><th>verdict</th><th>score</th><th>evidence</th></tr>")
    for c in case.get("checks", []):
        score = "" if c.get("score") is None else f"{c['score']:.2f}"
        out.append(f"<tr><td>{_e(c.get('name'))}</td><td>{_badge(c.get('verdict', ''))}</td><td>{score}</td>"
                   f"<td>{_evidence(c.get('evidence') or [])}</td></tr>")
    out.append("</table>")
    if case.get("sources"):
        out.append("<p><small>Sources: " + "; ".join(
            f"{_e(src.get('section'))}{(' — ' + _e(src.get('question'))) if src.get('question') else ''} "
            f"<code>{_e(str(src.get('id'))[:12])}</code>"
            for src in case["sources"]) + f" · backend {_e(case.get('backend'))}</small></p>")
    out.append("</details>")
    return out
