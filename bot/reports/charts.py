"""Charts as PNG, drawn with Pillow (no plotting stack to install): a metric's trend, a report's
bars, and the monthly report's one image of headlines.

Text is drawn in DejaVu Sans where the system has it (the Docker image installs it): Pillow's
own font has no Cyrillic, and a Russian title came out as boxes."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 800, 400
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 60, 20, 40, 50
LINE = (43, 108, 176)
GRID = (226, 232, 240)
TEXT = (26, 32, 44)
MUTED = (100, 110, 125)
LOW = (197, 48, 48)
MARGIN = (150, 180, 214)
TILE = (241, 245, 249)

VALUE_KEY = {"nps": "nps", "csat": "csat_percent", "ces": "mean"}
RANGES = {"nps": (-100.0, 100.0), "csat": (0.0, 100.0), "ces": (1.0, 7.0)}
FONT_FILES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",  # Debian, Ubuntu: fonts-dejavu-core
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",  # Fedora, Alpine
    "/usr/share/fonts/TTF/DejaVuSans.ttf",  # Arch
)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@cache
def font(size: int = 13) -> Font:
    """DejaVu Sans (Latin and Cyrillic) where installed, else Pillow's own (Latin only)."""
    for path in FONT_FILES:
        if Path(path).is_file():
            return ImageFont.truetype(path, size)
    log.warning("no DejaVu Sans font: chart text other than Latin shows as boxes")
    return ImageFont.load_default(size)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


@dataclass(frozen=True)
class Box:
    """Where a chart is drawn in an image: its plot area."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top


def _trend(
    draw: ImageDraw.ImageDraw,
    box: Box,
    metric: str,
    rows: list[dict[str, Any]],
    empty: str,
    text_size: int = 13,
) -> None:
    low, high = RANGES[metric]
    key = VALUE_KEY[metric]

    def y_of(value: float) -> float:
        return box.top + box.height * (1 - (value - low) / (high - low))

    for step in range(5):
        value = low + (high - low) * step / 4
        y = y_of(value)
        draw.line([(box.left, y), (box.right, y)], fill=GRID)
        draw.text((box.left - 50, y - 7), f"{value:g}", fill=TEXT, font=font(text_size))
    shown = [r for r in rows if r[key] is not None]
    if not shown:
        draw.text((box.left + 10, box.top + box.height / 2), empty, fill=TEXT, font=font(text_size))
        return
    step_x = box.width / max(len(shown) - 1, 1)
    xy = [(box.left + i * step_x, y_of(float(r[key]))) for i, r in enumerate(shown)]
    if len(xy) > 1:
        draw.line(xy, fill=LINE, width=3)
    # The 95 % margin of error as a bar around each NPS point: a move inside it is noise.
    for row, (x, _) in zip(shown, xy, strict=True):
        margin = row.get("margin_95")
        if margin:
            value = float(row[key])
            top, bottom = y_of(min(value + margin, high)), y_of(max(value - margin, low))
            draw.line([(x, top), (x, bottom)], fill=MARGIN, width=2)
            draw.line([(x - 5, top), (x + 5, top)], fill=MARGIN, width=2)
            draw.line([(x - 5, bottom), (x + 5, bottom)], fill=MARGIN, width=2)
    label_every = max(1, len(shown) // (8 if box.width > 500 else 4))
    for i, (row, (x, y)) in enumerate(zip(shown, xy, strict=True)):
        weak = row.get("low_confidence", False)
        draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=LOW if weak else LINE)
        if i % label_every == 0 or i == len(shown) - 1:
            left = min(max(x - 25, 0), box.right - 45)  # keep the label inside the image
            label = str(row["period"])[:10]
            draw.text((left, box.bottom + 8), label, fill=TEXT, font=font(text_size - 2))


PHONE_WIDTH, PHONE_HEIGHT = 480, 360  # shown about 350 px wide: text stays ~11 px and more


def trend_png(
    metric: str,
    rows: list[dict[str, Any]],
    title: str,
    empty: str = "no answers",
    phone: bool = False,
) -> bytes:
    """One point per period; low-confidence NPS points are drawn in red. `phone`: a narrower
    image with larger text, for a screen that shows it at half its width."""
    width, height = (PHONE_WIDTH, PHONE_HEIGHT) if phone else (WIDTH, HEIGHT)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text(
        (MARGIN_LEFT, 12),
        _fit(title, 44) if phone else title,
        fill=TEXT,
        font=font(17 if phone else 15),
    )
    box = Box(
        MARGIN_LEFT, MARGIN_TOP + (6 if phone else 0), width - MARGIN_RIGHT, height - MARGIN_BOTTOM
    )
    _trend(draw, box, metric, rows, empty, text_size=16 if phone else 13)
    return _png(image)


def _bars(
    draw: ImageDraw.ImageDraw, box: Box, bars: Sequence[tuple[str, float]], empty: str
) -> None:
    """Horizontal bars, one a row, labelled on the left, the value at the bar's end."""
    if not bars:
        draw.text((box.left + 10, box.top + box.height / 2), empty, fill=MUTED, font=font())
        return
    top = max((value for _, value in bars), default=0) or 1
    row = min(box.height / len(bars), 30)
    label_width = min(box.width * 0.35, 220)
    plot = box.width - label_width - 60
    for index, (label, value) in enumerate(bars):
        y = box.top + index * row
        middle = y + row / 2
        draw.text((box.left, middle - 8), _fit(label, 28), fill=TEXT, font=font())
        left = box.left + label_width
        length = plot * value / top
        draw.rectangle([left, y + row * 0.15, left + max(length, 1), y + row * 0.85], fill=LINE)
        draw.text((left + length + 6, middle - 8), f"{value:g}", fill=TEXT, font=font())


def _fit(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


MAX_BARS = 24


def bars_png(title: str, bars: Sequence[tuple[str, float]], empty: str = "—") -> bytes:
    """A bar chart of labelled values (periods, themes): the newest MAX_BARS when longer."""
    shown = list(bars)[-MAX_BARS:]
    height = max(160, MARGIN_TOP + 30 * len(shown) + 24)  # as tall as its bars
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((20, 12), title, fill=TEXT, font=font(15))
    _bars(draw, Box(20, MARGIN_TOP + 4, WIDTH - MARGIN_RIGHT, height - 16), shown, empty)
    return _png(image)


@dataclass(frozen=True)
class Tile:
    """One headline: what it is, its value, and the line under it (the change, the margin)."""

    label: str
    value: str
    note: str = ""


def headline_png(
    title: str,
    tiles: Sequence[Tile],
    nps_trend: list[dict[str, Any]],
    trend_title: str,
    bars: Sequence[tuple[str, float]],
    bars_title: str,
) -> bytes:
    """The monthly report's one image: a row of headline tiles, the NPS trend with its
    margins, and a bar chart (complaints per week)."""
    height = 760
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((20, 12), title, fill=TEXT, font=font(17))
    tile_width = (WIDTH - 40 - 10 * (len(tiles) - 1)) / max(len(tiles), 1)
    for index, tile in enumerate(tiles):
        left = 20 + index * (tile_width + 10)
        draw.rounded_rectangle([left, 44, left + tile_width, 134], radius=8, fill=TILE)
        draw.text((left + 10, 52), _fit(tile.label, 20), fill=MUTED, font=font(12))
        draw.text((left + 10, 72), _fit(tile.value, 12), fill=TEXT, font=font(22))
        draw.text((left + 10, 108), _fit(tile.note, 22), fill=MUTED, font=font(11))
    draw.text((20, 150), trend_title, fill=TEXT, font=font(14))
    _trend(draw, Box(70, 178, WIDTH - 20, 440), "nps", nps_trend, "—")
    draw.text((20, 486), bars_title, fill=TEXT, font=font(14))
    _bars(draw, Box(20, 512, WIDTH - 20, height - 12), list(bars)[-8:], "—")
    return _png(image)
