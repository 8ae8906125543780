"""Whole-day date shifting that keeps intervals and leaves times alone."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, timedelta


def offset_days(secret: bytes, patient_key: str, low: int, high: int) -> int:
    """A per-subject offset in whole days in ``[low, high]``, from a keyed hash."""
    digest = hmac.new(secret, b"date:" + patient_key.encode(), hashlib.sha256).digest()
    return low + int.from_bytes(digest[:8], "big") % (high - low + 1)


def shift_da(value: str, days: int) -> str | None:
    """Shift a DA value (YYYYMMDD); None when it is not a full, valid date."""
    v = value.strip()
    if len(v) != 8 or not v.isdigit():
        return None
    try:
        d = date(int(v[:4]), int(v[4:6]), int(v[6:]))
    except ValueError:
        return None
    return (d + timedelta(days=days)).strftime("%Y%m%d")


def shift_dt(value: str, days: int) -> str | None:
    """Shift the date part of a DT value, keeping time, fraction and offset."""
    v = value.strip()
    shifted = shift_da(v[:8], days) if len(v) >= 8 else None
    return None if shifted is None else shifted + v[8:]
