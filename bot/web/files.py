"""Handing a customer's file to staff without letting it act on our origin: always a download
(`Content-Disposition: attachment`), always `application/octet-stream` whatever the sender
claimed, no sniffing, sandboxed. An HTML attachment is then a file, never a page of ours."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web


def download(name: str, data: bytes) -> web.Response:
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return web.Response(
        body=data,
        content_type="application/octet-stream",
        headers={
            "Content-Disposition": (
                f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
            ),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "Cache-Control": "private, no-store",
        },
    )
