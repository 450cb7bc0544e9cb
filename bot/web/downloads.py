"""A CSV as a download: the API's and the console's lists and figures answer with one."""

from __future__ import annotations

from aiohttp import web


def csv_download(text: str, name: str) -> web.Response:
    """`text` as text/csv saved as `name`.csv."""
    return web.Response(
        text=text,
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )
