"""The one source of "now". Tests and drills pin it with CLOUDLEASE_NOW (ISO 8601, UTC)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from cloudlease.errors import BadValue


def parse_utc(text: str) -> datetime:
    """Parse an ISO 8601 timestamp; naive values are taken as UTC. Result is whole seconds."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadValue(f"not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0)


def now() -> datetime:
    """Current UTC time, whole seconds; CLOUDLEASE_NOW overrides it."""
    pinned = os.environ.get("CLOUDLEASE_NOW")
    if pinned:
        return parse_utc(pinned)
    return datetime.now(UTC).replace(microsecond=0)
