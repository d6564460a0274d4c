"""The HTML view of explanations: each text's tokens coloured by attribution (``textclf explain --html``).

Green: the token pushed the target's logit up; red: down; the stronger the colour, the larger the attribution
relative to the largest one of that text. Every piece of text (the texts, tokens, labels) is user input and goes
through :func:`html.escape`; the page has no script.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from pathlib import Path
from typing import Any

STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:2em auto}"
    ".text{margin:1.2em 0;line-height:2}.meta{color:#555;font-size:90%}"
    ".tok{padding:2px 3px;margin:1px;border-radius:3px}.unk{text-decoration:underline dotted}"
    ".att{display:inline-block;height:4px;background:#36c;vertical-align:bottom}"
)


def token_colour(value: float, scale: float) -> str:
    """CSS background of a token: green (value > 0) or red (< 0), opacity ``|value| / scale`` (0 to 1)."""
    alpha = min(1.0, abs(value) / scale) if scale > 0 else 0.0
    rgb = "0,160,0" if value > 0 else "220,0,0"
    return f"rgba({rgb},{alpha:.3f})"


def render_record(record: dict[str, Any]) -> str:
    """One explained text (a record of :func:`textclf.explain.iter_explanations`) as an HTML ``div``."""
    e = html.escape
    tokens, values = record.get("tokens", []), record.get("attributions", [])
    unknown = set(record.get("unknown", []))
    scale = max((abs(v) for v in values), default=0.0)
    spans = []
    for i, (token, value) in enumerate(zip(tokens, values, strict=False)):
        title = f"{value:+.4f}" + (" (<unk>: not in the vocabulary)" if i in unknown else "")
        cls = "tok unk" if i in unknown else "tok"
        spans.append(
            f'<span class="{cls}" style="background:{token_colour(value, scale)}" title="{e(title)}">{e(token)}</span>'
        )
    label = record.get("label")
    label_text = ", ".join(map(str, label)) if isinstance(label, list) else str(label)
    meta = (
        f"label {e(label_text)}; explained: {e(str(record.get('target')))} "
        f"(p = {record.get('probability', 0.0):.3f}, delta = {record.get('delta', 0.0):.2g})"
    )
    parts = [f'<div class="text"><div class="meta">{meta}</div><div>{"".join(spans)}</div>']
    if "attention" in record:
        bars = "".join(
            f'<span class="tok" title="{e(token)}: {w:.3f}">'
            f'<span class="att" style="width:{w * 40:.1f}px"></span></span>'
            for token, w in zip(tokens, record["attention"], strict=False)
        )
        parts.append(f'<div class="meta">attention: {bars}</div>')
    parts.append(f'<div class="meta">{e(record.get("text", ""))}</div></div>')
    return "".join(parts)


def render_html(records: Iterable[dict[str, Any]], title: str = "textclf explain") -> str:
    """A standalone HTML page of explained texts (escaped, no script)."""
    legend = (
        '<p class="meta">Integrated Gradients on the word vectors; green: towards the explained label, red: away '
        "from it; dotted underline: not in the vocabulary (read as &lt;unk&gt;). Hover a token for its value.</p>"
    )
    body = "\n".join(render_record(record) for record in records if "attributions" in record)
    head = f"<meta charset='utf-8'><title>{html.escape(title)}</title><style>{STYLE}</style>"
    return f"<!DOCTYPE html>\n<html><head>{head}</head><body>{legend}\n{body}\n</body></html>\n"


def write_html(path: str | Path, records: Iterable[dict[str, Any]]) -> Path:
    """Write :func:`render_html` of ``records`` to ``path`` (UTF-8) and return the path."""
    path = Path(path)
    path.write_text(render_html(records), encoding="utf-8")
    return path
