"""Redaction of credentials in messages (see ``cloudlease.net``)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from urllib.parse import quote

_SHAPES = (
    (re.compile(r"(?i)\b(basic|bearer|digest)\s+[A-Za-z0-9._~+/=-]{4,}"), r"\1 ***"),
    (re.compile(r"(?i)(://)[^/@\s]*@"), r"\1***@"),
    (re.compile(r"(?i)\b(authorization|proxy-authorization|cookie|set-cookie|"
                r"grpc-metadata-macaroon|x-api-key|api[_-]?key|token|password|secret)"
                r"(\"?\s*[:=]\s*\"?)[^\s\";,&]+"), r"\1\2***"),
)


class Redactor:
    """Removes every known form of the secrets it was given, and credential-shaped text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._forms: set[str] = set()
        for s in secrets:
            self.add(s)

    def add(self, secret: str | None, user: str | None = None) -> None:
        """Remember ``secret`` (and ``user:secret`` with its base64, when ``user`` given)."""
        if not secret:
            return
        forms = {secret, quote(secret, safe=""), quote(secret)}
        if user is not None:
            pair = f"{user}:{secret}"
            forms |= {pair, base64.b64encode(pair.encode()).decode()}
        forms |= {base64.b64encode(secret.encode()).decode()}
        self._forms |= {f for f in forms if len(f) >= 3}

    def __call__(self, text: str) -> str:
        for form in sorted(self._forms, key=len, reverse=True):
            text = text.replace(form, "***")
        for shape, replacement in _SHAPES:
            text = shape.sub(replacement, text)
        return text


def snippet(body: bytes | str, limit: int = 120) -> str:
    """A short, printable excerpt of a server's answer for a message."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text[:limit] + ("…" if len(text) > limit else "")
