"""Charts, drawn on the server with matplotlib: SVG for the console (inline, no script, so the
CSP stays ``script-src 'self'``; heatmap cells and bars carry links for drill-down) and PNG for
the weekly e-mail (mail clients do not show SVG). One library, one drawing code for both.

matplotlib is imported lazily (it takes a moment) and used through its object API with the Agg
backend, which is thread-safe per figure.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

COLORS = ("#2563eb", "#16a34a", "#dc2626", "#d97706", "#7c3aed", "#0891b2")
TEXT = "#334155"
GRID = "#e2e8f0"


_STYLE_ELEMENT = re.compile(r"<style[^>]*>.*?</style>|<metadata>.*?</metadata>", re.S)
_STYLE_ATTR = re.compile(r' style="([^"]*)"')


def _presentation(match: re.Match[str]) -> str:
    out = []
    for part in match.group(1).split(";"):
        name, _, value = part.partition(":")
        name, value = name.strip(), value.strip()
        if name and value:
            out.append(f' {name}="{value}"')
    return "".join(out)


def _figure(width: float, height: float) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    ax = fig.add_subplot()
    ax.tick_params(colors=TEXT, labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(GRID)
    ax.grid(True, color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)
    return fig, ax


def _render(fig: Any, fmt: str) -> bytes | str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    data = buffer.getvalue()
    if fmt == "png":
        return data
    text = data.decode("utf-8")
    text = text[text.index("<svg") :]  # no XML prolog / doctype: inlined in HTML
    # The console's CSP allows no inline styles: matplotlib's style="a: b; c: d" become the
    # equivalent SVG presentation attributes, and its <style> element goes.
    text = _STYLE_ELEMENT.sub("", text)
    text = _STYLE_ATTR.sub(_presentation, text)
    # matplotlib's links open a new window: a drill-down stays in the tab, as other links do
    text = text.replace(' target="_blank"', "")
    # scale with the container
    text = re.sub(
        r'<svg([^>]*?) width="[^"]+" height="[^"]+"', r'<svg\1 width="100%"', text, count=1
    )
    return text


def trend(
    periods: Sequence[datetime],
    series: dict[str, Sequence[float | None]],
    *,
    labels: Sequence[str],
    percent: bool = False,
    fmt: str = "svg",
    title: str = "",
) -> bytes | str:
    """Trend lines, one a series, over the report's periods."""
    fig, ax = _figure(7.5, 2.6)
    xs = list(range(len(periods)))
    for i, (name, values) in enumerate(series.items()):
        # periods without a value (no conversations) are skipped: the line joins its neighbours
        points = [
            (x, v * 100 if percent else v) for x, v in zip(xs, values, strict=True) if v is not None
        ]
        ax.plot(
            [x for x, _ in points],
            [y for _, y in points],
            marker="o",
            markersize=2.5,
            linewidth=1.6,
            color=COLORS[i % 6],
            label=name,
        )
    step = max(1, len(xs) // 10)
    ax.set_xticks(xs[::step], [labels[i] for i in xs[::step]])
    if percent:
        ax.set_ylim(0, 100)
    if len(series) > 1:
        ax.legend(fontsize=8, frameon=False, loc="upper left")
    if title:
        ax.set_title(title, fontsize=10, color=TEXT, loc="left")
    return _render(fig, fmt)


def heatmap(
    grid: Sequence[Sequence[int]],
    *,
    days: Sequence[str],
    links: Sequence[Sequence[str | None]] | None = None,
    fmt: str = "svg",
    title: str = "",
) -> bytes | str:
    """Volume by hour of week: 7 rows (Monday first) x 24 hours; each cell links to its
    conversations when ``links`` is given (SVG only)."""
    from matplotlib.patches import Rectangle

    fig, ax = _figure(11, 3.2)
    ax.grid(False)
    peak = max((max(row) for row in grid), default=0) or 1
    from matplotlib import colormaps

    cmap = colormaps["Blues"]
    for d, row in enumerate(grid):
        for h, value in enumerate(row):
            cell = Rectangle(
                (h, 6 - d),
                0.95,
                0.9,
                color=cmap(0.08 + 0.92 * value / peak) if value else "#f1f5f9",
            )
            if links is not None and links[d][h] and value:
                cell.set_url(links[d][h])
            ax.add_patch(cell)
            if value and fmt == "svg":
                label = ax.text(
                    h + 0.47,
                    6 - d + 0.45,
                    str(value),
                    ha="center",
                    va="center",
                    fontsize=5.5,
                    color="white" if value > peak * 0.55 else TEXT,
                )
                if links is not None and links[d][h]:
                    label.set_url(links[d][h])  # the number drawn on the cell: the same link
    ax.set_xlim(0, 24)
    ax.set_ylim(0, 7)
    ax.set_xticks([h + 0.47 for h in range(0, 24, 2)], [f"{h:02d}" for h in range(0, 24, 2)])
    ax.set_yticks([6 - d + 0.45 for d in range(7)], list(days))
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, fontsize=10, color=TEXT, loc="left")
    return _render(fig, fmt)


def bars(
    labels: Sequence[str],
    values: Sequence[int],
    *,
    color: str = COLORS[0],
    fmt: str = "svg",
    title: str = "",
) -> bytes | str:
    """A score distribution (count by score)."""
    fig, ax = _figure(3.6, 2.2)
    ax.bar(list(range(len(values))), list(values), color=color, width=0.7)
    ax.set_xticks(list(range(len(labels))), list(labels))
    if title:
        ax.set_title(title, fontsize=10, color=TEXT, loc="left")
    return _render(fig, fmt)
