"""Trend charts as PNG, drawn with Pillow (no plotting stack to install)."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 800, 400
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 60, 20, 40, 50
LINE = (43, 108, 176)
GRID = (226, 232, 240)
TEXT = (26, 32, 44)
LOW = (197, 48, 48)
MARGIN = (150, 180, 214)

VALUE_KEY = {"nps": "nps", "csat": "csat_percent", "ces": "mean"}
RANGES = {"nps": (-100.0, 100.0), "csat": (0.0, 100.0), "ces": (1.0, 7.0)}


def trend_png(metric: str, rows: list[dict[str, Any]], title: str) -> bytes:
    """One point per period; low-confidence NPS points are drawn in red."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    low, high = RANGES[metric]
    key = VALUE_KEY[metric]
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def y_of(value: float) -> float:
        return MARGIN_TOP + plot_h * (1 - (value - low) / (high - low))

    draw.text((MARGIN_LEFT, 12), title, fill=TEXT, font=font)
    for step in range(5):
        value = low + (high - low) * step / 4
        y = y_of(value)
        draw.line([(MARGIN_LEFT, y), (WIDTH - MARGIN_RIGHT, y)], fill=GRID)
        draw.text((8, y - 6), f"{value:g}", fill=TEXT, font=font)
    points = [(row["period"], row[key], row.get("low_confidence", False)) for row in rows]
    points = [p for p in points if p[1] is not None]
    if not points:
        draw.text((MARGIN_LEFT + 10, MARGIN_TOP + plot_h / 2), "no answers", fill=TEXT, font=font)
    else:
        step_x = plot_w / max(len(points) - 1, 1)
        xy = [(MARGIN_LEFT + i * step_x, y_of(float(v))) for i, (_, v, _) in enumerate(points)]
        if len(xy) > 1:
            draw.line(xy, fill=LINE, width=3)
        # The 95 % margin of error as a bar around each NPS point: a move inside it is noise.
        for row, (x, _) in zip([r for r in rows if r[key] is not None], xy, strict=True):
            margin = row.get("margin_95")
            if margin:
                value = float(row[key])
                top, bottom = y_of(min(value + margin, high)), y_of(max(value - margin, low))
                draw.line([(x, top), (x, bottom)], fill=MARGIN, width=2)
                draw.line([(x - 5, top), (x + 5, top)], fill=MARGIN, width=2)
                draw.line([(x - 5, bottom), (x + 5, bottom)], fill=MARGIN, width=2)
        label_every = max(1, len(points) // 8)
        for i, ((period, _, weak), (x, y)) in enumerate(zip(points, xy, strict=True)):
            draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=LOW if weak else LINE)
            if i % label_every == 0 or i == len(points) - 1:
                left = min(max(x - 25, 0), WIDTH - 65)  # keep the label inside the image
                draw.text(
                    (left, HEIGHT - MARGIN_BOTTOM + 8), str(period)[:10], fill=TEXT, font=font
                )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
