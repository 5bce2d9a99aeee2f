"""Domain errors as HTTP answers: the exit code of docs/design.md decides the status.

2 → 422 (a value that does not fit; 400 when the body is not JSON at all), 3 → 404,
4 → 409, 5 and 6 → 503 (with Retry-After; the message for strangers does not name the
ledger's path or the backend's URL: the server's log does), 7 → 202, 8 → 410, anything
else → 500.
"""

from __future__ import annotations

from typing import Any

from cloudlease.core.errors import CloudleaseError, ExitCode

STATUS = {ExitCode.USAGE: 422, ExitCode.NOT_FOUND: 404, ExitCode.CONFLICT: 409,
          ExitCode.LEDGER: 503, ExitCode.BACKEND: 503, ExitCode.PENDING: 202,
          ExitCode.EXPIRED: 410}
PUBLIC_5XX = {
    ExitCode.LEDGER: ("unavailable", "the ledger is busy or unavailable; nothing was "
                      "stored, try again in a few seconds"),
    ExitCode.BACKEND: ("backend_unavailable", "the payment backend is unavailable; nothing "
                       "was stored, try again in a few seconds"),
}
RETRY_AFTER_5XX = "5"


class HttpError(Exception):
    """An answer decided by the web face itself (a body that is not JSON, too large...)."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def from_domain(exc: CloudleaseError) -> HttpError:
    status = STATUS.get(exc.exit_code, 500)
    if exc.exit_code in PUBLIC_5XX:
        code, message = PUBLIC_5XX[exc.exit_code]
        return HttpError(status, code, message, {"Retry-After": RETRY_AFTER_5XX})
    if status == 500:
        return HttpError(500, "internal", "internal error")
    return HttpError(status, exc.code, exc.message)


def body(err: HttpError) -> dict[str, Any]:
    return {"error": {"code": err.code, "message": err.message}}
