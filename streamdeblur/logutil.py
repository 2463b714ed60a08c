"""Logging helpers shared by every stage."""

from __future__ import annotations

import re

_CREDENTIALS = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)([^/@\s]+)@")


def mask_url(url: str) -> str:
    """``rtsp://user:secret@host/x`` -> ``rtsp://***@host/x``: never log credentials."""
    return _CREDENTIALS.sub(r"\1***@", url)
