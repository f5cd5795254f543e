"""The report (``Aggregate.summary()``) in each format: text, json, csv, markdown, html.

Every piece of text in the report came from a provider's message or a user's resource names, so
each format escapes it its own way: Markdown table cells lose their pipes and line breaks, HTML goes
through ``html.escape``, CSV through the csv module. The HTML page is one self-contained file: its
style is inline, its charts are inline SVG, and it references nothing outside itself.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

#: Bars of the cause chart (the rest are summed in the last bar).
BARS = 40
#: Days the trend chart shows: this many up to the last failure, the days without one as zero.
TREND_DAYS = 60


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def _jobs(count: int) -> str:
    return f"{count} failed job{'' if count == 1 else 's'}"


def _total_line(s: dict[str, Any]) -> str:
    return (f"{_jobs(s['failed'])}, {s['classified']} with a known cause ({_pct(s['explained'])} explained), "
            f"{s['unclassified']} unclassified")


def render_json(s: dict[str, Any]) -> str:
    return json.dumps(s, ensure_ascii=False, indent=1, default=str) + "\n"


def render_text(s: dict[str, Any]) -> str:
    lines = [f"Failed jobs by cause{' since ' + s['since'] if s['since'] else ''}", ""]
    for c in s["causes"]:
        lines.append(f"{c['count']:6d}  {c['cause']}: {c['title']}")
        lines.append(f"        {c['resources']} resources, {len(c['accounts'])} accounts "
                     f"({', '.join(c['accounts'][:5])}), {c['first_seen'] or '-'} .. {c['last_seen'] or '-'}")
        for r in c["repeated"][:3]:
            lines.append(f"        fails repeatedly: {r['resource']} ({r['count']} jobs)")
        if c["fix"] and c["fix"]["steps"]:
            lines.append(f"        fix: {c['fix']['steps'][0]}")
    for m in s["unclassified_messages"]:
        lines.append(f"{m['count']:6d}  unclassified: {m['message'][:160]}")
    lines += ["", _total_line(s)]
    return "\n".join(lines) + "\n"


#: A spreadsheet runs a cell that starts with one of these as a formula (CSV injection, OWASP):
#: such a cell from a message or a name is written with a leading apostrophe.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    return f"'{value}" if isinstance(value, str) and value.startswith(_FORMULA_START) else value


CSV_COLUMNS = ("cause", "count", "resources", "accounts", "first_seen", "last_seen", "codes", "title", "fix")


def render_csv(s: dict[str, Any]) -> str:
    """One row per cause, then one per unclassified message (cause ``unclassified``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)

    def write(row: list[Any]) -> None:
        writer.writerow([_csv_cell(cell) for cell in row])

    for c in s["causes"]:
        write([c["cause"], c["count"], c["resources"], " ".join(c["accounts"]), c["first_seen"],
                         c["last_seen"], " ".join(c["codes"]), c["title"],
                         " | ".join(c["fix"]["steps"]) if c["fix"] else ""])
    for m in s["unclassified_messages"]:
        write(["unclassified", m["count"], m["resources"], " ".join(m["accounts"]), m["first_seen"],
                         m["last_seen"], " ".join(m["codes"]), m["message"], ""])
    return buffer.getvalue()


def _cell(value: Any) -> str:
    """A Markdown table cell: no pipe or line break can end it early."""
    return " ".join(str(value if value is not None else "-").split()).replace("|", "\\|")


def render_markdown(s: dict[str, Any]) -> str:
    out = ["# Failed backup jobs by cause", "", f"**{_total_line(s)}**", "",
           "| cause | jobs | resources | accounts | last seen | title |", "|---|---:|---:|---:|---|---|"]
    out += [f"| `{_cell(c['cause'])}` | {c['count']} | {c['resources']} | {len(c['accounts'])} | "
            f"{_cell(c['last_seen'])} | {_cell(c['title'])} |" for c in s["causes"]]
    for c in s["causes"]:
        out += ["", f"## {_cell(c['cause'])}: {_cell(c['title'])}", ""]
        if c["fix"]:
            out += [f"{i}. {_cell(step)}" for i, step in enumerate(c["fix"]["steps"], 1)]
            out += [f"- `{_cell(name)}`: {_cell(', '.join(values))}" for name, values in c["fix"]["values"].items()]
        out += [f"- fails repeatedly: `{_cell(r['resource'])}` ({r['count']} jobs)" for r in c["repeated"]]
    if s["unclassified_messages"]:
        out += ["", "## Unclassified", "", "| jobs | message |", "|---:|---|"]
        out += [f"| {m['count']} | {_cell(m['message'][:300])} |" for m in s["unclassified_messages"]]
    return "\n".join(out) + "\n"


_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1f24;margin:2rem auto;
max-width:1100px;padding:0 1rem}h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-top:1px solid #d0d7de;
padding-top:1rem}code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}pre{background:#f6f8fa;
padding:.6rem;overflow-x:auto;white-space:pre-wrap}table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border-bottom:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
td.n{text-align:right}.summary{display:flex;gap:2rem;flex-wrap:wrap}.summary div{font-size:1.1rem}
.summary b{display:block;font-size:1.8rem}svg text{font:12px system-ui,sans-serif}.muted{color:#57606a}
@media print{body{margin:0;max-width:none}section{break-inside:avoid-page}a{color:inherit}}
"""


def _e(value: Any) -> str:
    return html.escape(str(value if value is not None else "-"), quote=True)


def _bar_chart(causes: list[dict[str, Any]], unclassified: int) -> str:
    rows = [(c["cause"], c["count"]) for c in causes[:BARS]]
    if len(causes) > BARS:
        rows.append((f"{len(causes) - BARS} other causes", sum(c["count"] for c in causes[BARS:])))
    if unclassified:
        rows.append(("unclassified", unclassified))
    if not rows:
        return ""
    top, bar_h, label_w, width = max(n for _, n in rows), 22, 320, 760
    parts = [f'<svg role="img" aria-label="failed jobs by cause" width="{width}" height="{bar_h * len(rows) + 8}" '
             f'viewBox="0 0 {width} {bar_h * len(rows) + 8}" xmlns="http://www.w3.org/2000/svg">']
    for i, (name, count) in enumerate(rows):
        y, w = i * bar_h + 4, max(1, round((width - label_w - 60) * count / top))
        fill = "#afb8c1" if name == "unclassified" else "#0969da"
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{_e(name)}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h - 6}" fill="{fill}"/>'
                     f'<text x="{label_w + w + 4}" y="{y + 15}">{count}</text>')
    return "".join(parts) + "</svg>"


def _days(trend: dict[str, int]) -> list[tuple[str, int]]:
    """Every day of the chart's period (at most ``TREND_DAYS``), in order, with its count."""
    last = date.fromisoformat(max(trend))
    first = max(date.fromisoformat(min(trend)), last - timedelta(days=TREND_DAYS - 1))
    span = (last - first).days + 1
    return [((first + timedelta(days=i)).isoformat(), trend.get((first + timedelta(days=i)).isoformat(), 0))
            for i in range(span)]


def _when(moment: str | None) -> str:
    """An ISO time as a person reads it: ``2026-11-22 05:15 UTC``."""
    if not moment:
        return "-"
    parsed = datetime.fromisoformat(moment).astimezone(UTC)
    return parsed.strftime("%Y-%m-%d %H:%M UTC")


def _trend_chart(trend: dict[str, int]) -> str:
    if not trend:
        return ""
    days, height, width = _days(trend), 140, 760
    top, step = max(1, max(n for _, n in days)), width / len(days)
    parts = [f'<svg role="img" aria-label="failed jobs per day" width="{width}" height="{height + 24}" '
             f'viewBox="0 0 {width} {height + 24}" xmlns="http://www.w3.org/2000/svg">']
    for i, (day, count) in enumerate(days):
        h = round(height * count / top)
        parts.append(f'<rect x="{i * step + 1:.1f}" y="{height - h}" width="{max(1.0, step - 2):.1f}" height="{h}" '
                     f'fill="#cf222e"><title>{_e(day)}: {count}</title></rect>')
    for i in sorted({0, len(days) - 1}):
        anchor = "start" if i == 0 else "end"
        parts.append(f'<text x="{0 if i == 0 else width}" y="{height + 16}" text-anchor="{anchor}">'
                     f'{_e(days[i][0])}</text>')
    parts.append(f'<text x="0" y="12">{len(days)} days, at most {top} failed jobs a day</text>')
    return "".join(parts) + "</svg>"


def _link(url: str | None, text: Any) -> str:
    """A link only to the providers' consoles and documentation (https), never anything else."""
    if url and url.startswith("https://"):
        return f'<a href="{_e(url)}">{_e(text)}</a>'
    return _e(text)


def _jobs_table(jobs: list[dict[str, Any]]) -> str:
    rows = "".join(f"<tr><td>{_e(_when(j['time']))}</td><td>{_link(j['link'], j['job_id'])}</td>"
                   f"<td>{_e(j['account'])}</td><td>{_e(j['resource'])}</td>"
                   f"<td>{_e((j['message'] or '')[:300])}</td></tr>" for j in jobs)
    return ("<table><thead><tr><th>time</th><th>job</th><th>account</th><th>resource</th><th>message</th></tr>"
            f"</thead><tbody>{rows}</tbody></table>")


def _cause_section(c: dict[str, Any]) -> str:
    fix = c["fix"]
    out = [f'<section id="{_e(c["cause"])}"><h2><code>{_e(c["cause"])}</code>: {_e(c["title"])}</h2>',
           f'<p>{c["count"]} failed jobs, {c["resources"]} resources, {len(c["accounts"])} accounts or '
           f'subscriptions ({_e(", ".join(c["accounts"][:10]))}); first seen {_e(_when(c["first_seen"]))}, '
           f'last seen {_e(_when(c["last_seen"]))}; codes {_e(", ".join(c["codes"]) or "-")}</p>']
    if fix:
        out.append(f'<h3>Fix</h3><p>{_e(fix["explanation"])}</p><ol>'
                   + "".join(f"<li>{_e(step)}</li>" for step in fix["steps"]) + "</ol>")
        out += [f"<p><b>{_e(s['title'])}</b></p><pre>{_e(s['body'])}</pre>" for s in fix["snippets"]]
        if fix["values"]:
            out.append("<p>Values that differ between the jobs:</p><ul>" + "".join(
                f"<li><code>{_e(name)}</code>: {_e(', '.join(values))}</li>" for name, values in fix["values"].items())
                       + "</ul>")
        if fix["docs"]:
            out.append("<p>Documentation: " + ", ".join(_link(d, d) for d in fix["docs"]) + "</p>")
    if c["repeated"]:
        out.append("<h3>Resources failing repeatedly</h3><ul>" + "".join(
            f"<li><code>{_e(r['resource'])}</code>: {r['count']} jobs</li>" for r in c["repeated"]) + "</ul>")
    out.append(f"<h3>Recent jobs</h3>{_jobs_table(c['jobs'])}</section>")
    return "".join(out)


def render_html(s: dict[str, Any]) -> str:
    period = f"{_e(_when(s['first_seen']))} .. {_e(_when(s['last_seen']))}"
    body = [f"<h1>Failed backup jobs by cause</h1><p class=\"muted\">{period}"
            f"{' (since ' + _e(s['since']) + ')' if s['since'] else ''}</p>",
            f'<div class="summary"><div><b>{s["failed"]}</b>failed jobs</div><div><b>{len(s["causes"])}</b>causes'
            f'</div><div><b>{_pct(s["explained"])}</b>explained</div><div><b>{s["unclassified"]}</b>unclassified'
            f'</div></div><p>{_e(_total_line(s))}</p>',
            "<h2>Causes</h2>", _bar_chart(s["causes"], s["unclassified"]),
            "<h2>Failed jobs per day</h2>", _trend_chart(s["trend"]),
            *(_cause_section(c) for c in s["causes"])]
    if s["unclassified_messages"]:
        body.append("<section><h2>Unclassified failures</h2><table><thead><tr><th>jobs</th><th>message</th>"
                    "<th>resources</th></tr></thead><tbody>" + "".join(
                        f'<tr><td class="n">{m["count"]}</td><td>{_e(m["message"][:500])}</td>'
                        f'<td>{m["resources"]}</td></tr>' for m in s["unclassified_messages"])
                    + "</tbody></table></section>")
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Failed backup jobs by cause</title><style>{_STYLE}</style></head><body>"
            + "".join(body) + "</body></html>\n")


RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "text": render_text, "json": render_json, "csv": render_csv, "markdown": render_markdown, "html": render_html,
}
