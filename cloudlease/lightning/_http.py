"""The one HTTP exchange the Lightning clients make, with the limits they all need.

Connect and read timeouts, a total deadline, a bounded body (read in chunks, refused past
``max_bytes``), no redirects followed (a 3xx is an error), and every failure turned into
``BackendError`` (exit 6) with a one-line message that names the node by a URL without
its password. Each client calls this from exactly one private method, so the lot can
move to a shared hardened HTTP helper without touching the protocol code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from cloudlease.errors import BackendError

MAX_BYTES = 32 * 1024 * 1024  # 1,000 open Electrum requests list as ~0.8 MB, LND ~1.5 MB
CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    content_type: str
    body: bytes


def exchange(session: Any, method: str, url: str, *, shown: str, timeout: float,
             json_body: Any = None, headers: dict[str, str] | None = None,
             auth: tuple[str, str] | None = None, max_bytes: int | None = None,
             tls_problem: str | None = None) -> Answer:
    """One request; BackendError when no complete answer arrives in time.

    ``shown`` names the node in messages (a redacted URL); ``timeout`` is the connect and
    the read timeout, and twice it bounds the whole exchange; ``tls_problem`` is the
    message for a TLS verification failure (a certificate that is not the pinned one).
    """
    import requests

    if max_bytes is None:
        max_bytes = MAX_BYTES
    deadline = time.monotonic() + 2 * timeout
    try:
        resp = session.request(method, url, json=json_body, headers=headers, auth=auth,
                               timeout=(timeout, timeout), allow_redirects=False,
                               stream=True)
    except requests.exceptions.SSLError as exc:
        raise BackendError(tls_problem or f"{shown}: TLS failed ({_reason(exc)})",
                           code="ln_tls") from None
    except requests.exceptions.ConnectTimeout:
        raise BackendError(f"{shown} did not accept a connection within {timeout:g} s",
                           code="ln_timeout") from None
    except requests.exceptions.ReadTimeout:
        raise BackendError(f"{shown} did not answer within {timeout:g} s",
                           code="ln_timeout") from None
    except requests.exceptions.ConnectionError as exc:
        raise BackendError(f"{shown} is not answering ({_reason(exc)}): is the node running?",
                           code="ln_down") from None
    except requests.exceptions.RequestException as exc:
        raise BackendError(f"{shown}: request failed ({_reason(exc)})", code="ln_down") from None
    with resp:
        if 300 <= resp.status_code < 400:
            where = resp.headers.get("Location", "elsewhere")
            raise BackendError(f"{shown} answered with a redirect (HTTP {resp.status_code} to "
                               f"{where[:80]}); redirects are not followed: fix the URL",
                               code="ln_bad_answer")
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise BackendError(f"{shown} sent an answer of {int(declared)} bytes, more than "
                               f"the {max_bytes} allowed", code="ln_bad_answer")
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in resp.iter_content(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise BackendError(f"{shown} sent more than the {max_bytes} bytes "
                                       "allowed", code="ln_bad_answer")
                if time.monotonic() > deadline:
                    raise BackendError(f"{shown} did not finish its answer within "
                                       f"{2 * timeout:g} s", code="ln_timeout")
                chunks.append(chunk)
        except requests.exceptions.RequestException as exc:
            raise BackendError(f"{shown} broke off its answer ({_reason(exc)})",
                               code="ln_down") from None
        return Answer(resp.status_code, resp.headers.get("Content-Type", ""), b"".join(chunks))


def _reason(exc: BaseException) -> str:
    """A short reason without URLs (they may hold credentials) or nested reprs."""
    text = str(exc)
    for known in ("Connection refused", "Name or service not known", "timed out",
                  "Connection reset", "Remote end closed connection",
                  "certificate verify failed", "Fingerprints did not match",
                  "No route to host", "Network is unreachable", "IncompleteRead",
                  "Temporary failure in name resolution"):
        if known.lower() in text.lower():
            return known
    return type(exc).__name__


def looks_like_html(answer: Answer) -> bool:
    head = answer.body[:200].lstrip().lower()
    return "html" in answer.content_type.lower() or head.startswith((b"<!doctype", b"<html"))
