"""Domain errors. Each carries the exit code the CLI turns it into; only the CLI exits.

Exit codes (docs/design.md, "Command line contract"):
0 ok · 1 internal · 2 usage/bad value · 3 not found · 4 conflict/wrong state ·
5 ledger missing/invalid/locked/newer schema/failed verification · 6 chain or rate backend
unavailable · 7 payment not complete yet · 8 payment request expired or invalid ·
9 a hook or webhook failed (``tick``, ``watch``, ``hooks redeliver``; the ledger change
stands and the delivery is retried).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    NOT_FOUND = 3
    CONFLICT = 4
    LEDGER = 5
    BACKEND = 6
    PENDING = 7
    EXPIRED = 8
    HOOK_FAILED = 9


class CloudleaseError(Exception):
    """Base error: a one-line message, a machine-readable code and an exit code.

    One error may stand for several problems found at once (a config.toml checked whole,
    as beancount's ``validate()`` reports every error): ``problems`` holds them, one line
    each, and ``headline`` says what they are about. ``message`` is then the headline
    followed by every problem, so that whoever shows only the message still shows all.
    """

    exit_code: ExitCode = ExitCode.INTERNAL
    code: str = "internal"

    def __init__(self, message: str, *, code: str | None = None,
                 problems: Sequence[str] = ()) -> None:
        self.headline = message
        self.problems = tuple(problems)
        if self.problems:
            message = f"{message}: {'; '.join(self.problems)}"
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class BadValue(CloudleaseError):
    """A value given by the user is malformed or out of range (exit 2)."""

    exit_code = ExitCode.USAGE
    code = "bad_value"


class NotFound(CloudleaseError):
    """A named tenant, plan, pool, lease or request does not exist (exit 3)."""

    exit_code = ExitCode.NOT_FOUND
    code = "not_found"


class Conflict(CloudleaseError):
    """Duplicate, pool full or throttled, or a record not in a state for that (exit 4)."""

    exit_code = ExitCode.CONFLICT
    code = "conflict"


class LedgerError(CloudleaseError):
    """Ledger or keystore missing, invalid, locked, too new, or failing verification (exit 5)."""

    exit_code = ExitCode.LEDGER
    code = "ledger"


class BackendError(CloudleaseError):
    """A chain or rate backend could not give a trustworthy answer (exit 6)."""

    exit_code = ExitCode.BACKEND
    code = "backend_unavailable"


class PaymentPending(CloudleaseError):
    """A payment request is not settled yet (exit 7)."""

    exit_code = ExitCode.PENDING
    code = "payment_pending"


class PaymentExpired(CloudleaseError):
    """A payment request expired or became invalid (exit 8)."""

    exit_code = ExitCode.EXPIRED
    code = "payment_expired"
