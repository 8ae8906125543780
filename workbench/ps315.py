"""DICOM PS3.15 Annex E as the profiles use it: the action codes, the options (CID 7050),
and Table E.1-1 (vendored, edition :data:`TABLE_EDITION`) with how a row resolves."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Any

TABLE_EDITION = "2024b"

#: Option keyword -> (Table E.1-1 column, CID 7050 code, code meaning).
OPTIONS: dict[str, tuple[str, str, str]] = {
    "retain_safe_private": ("rtnSafePrivOpt", "113111", "Retain Safe Private Option"),
    "retain_uids": ("rtnUIDsOpt", "113110", "Retain UIDs Option"),
    "retain_device_identity": ("rtnDevIdOpt", "113109", "Retain Device Identity Option"),
    "retain_institution_identity": (
        "rtnInstIdOpt", "113112", "Retain Institution Identity Option"),
    "retain_patient_characteristics": (
        "rtnPatCharsOpt", "113108", "Retain Patient Characteristics Option"),
    "retain_long_full_dates": (
        "rtnLongFullDatesOpt", "113106",
        "Retain Longitudinal Temporal Information Full Dates Option"),
    "retain_long_modified_dates": (
        "rtnLongModifDatesOpt", "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option"),
    "clean_descriptors": ("cleanDescOpt", "113105", "Clean Descriptors Option"),
    "clean_structured_content": (
        "cleanStructContOpt", "113104", "Clean Structured Content Option"),
    "clean_graphics": ("cleanGraphOpt", "113103", "Clean Graphics Option"),
}
BASIC_CODE = ("113100", "Basic Application Confidentiality Profile")


class Code(StrEnum):
    """An action code, equal to the string that plans, tables and reports write.

    Each code also carries ``word``, what a profile's rules write for it (None when
    none does), and ``shown``, what review's plan table shows.
    """

    def __new__(cls, code: str, word: str | None, shown: str) -> Code:
        member = str.__new__(cls, code)
        member._value_, member.word, member.shown = code, word, shown
        return member

    KEEP = "K", "keep", "keep"
    REMOVE = "X", "remove", "remove"
    EMPTY = "Z", "empty", "empty"
    DUMMY = "D", "dummy", "dummy"
    CLEAN = "C", "clean", "clean"
    UID = "U", "hash_uid", "hash UID"
    SEQUENCE_UIDS = "U*", None, "keep sequence, hash UIDs inside"
    SHIFT = "S", "shift_date", "shift date"
    REPLACE = "R", None, "replace"  # a profile writes {replace: "template"}

    @classmethod
    def for_word(cls, word: Any) -> Code | None:
        """The code a profile's rule word stands for, None if it is no rule word."""
        return next((code for code in cls if code.word is not None and code.word == word), None)


#: How Table E.1-1's composite codes resolve (documented in workbench/profiles/README.md).
COMPOSITES = {"X/Z": Code.EMPTY, "X/D": Code.DUMMY, "Z/D": Code.DUMMY, "X/Z/D": Code.DUMMY,
              "X/Z/U*": Code.SEQUENCE_UIDS}


@dataclass(frozen=True)
class Action:
    """What happens to one attribute, and why.

    ``code`` is a :class:`Code`; ``value`` is the template of R (replace).
    """

    code: Code
    rule: str
    value: str | None = None


def _parse_table_tag(text: str) -> int | None:
    m = re.fullmatch(r"\(([0-9A-F]{4}),([0-9A-F]{4})\)", text.upper())
    return int(m[1] + m[2], 16) if m else None


_TABLE: list[dict[str, Any]] | None = None


def table_rows() -> list[dict[str, Any]]:
    """Rows of PS3.15 Table E.1-1 (vendored), each with ``tag_int`` (None for patterns)."""
    global _TABLE
    if _TABLE is None:
        text = resources.files("workbench").joinpath("data/ps3.15-table-e1-1.json").read_text()
        rows = json.loads(text)
        for row in rows:
            row["tag_int"] = _parse_table_tag(row["tag"])
        _TABLE = rows
    return _TABLE


def safe_private_rows() -> list[tuple[int, str, int, str]]:
    """PS3.15 Table E.3.10-1 as (group, creator, element byte, meaning)."""
    text = resources.files("workbench").joinpath(
        "data/ps3.15-table-e3.10-1-safe-private.csv").read_text()
    return [(int(r["group"], 16), r["private_creator"], int(r["element"][2:], 16), r["meaning"])
            for r in csv.DictReader(text.splitlines())]


def resolve_row(row: dict[str, Any], options: frozenset[str]) -> Action:
    """Resolve one table row under ``options``: K beats C beats the basic action."""
    found = [(opt, row[col]) for opt, (col, _, _) in OPTIONS.items()
             if opt in options and row.get(col)]
    for wanted in (Code.KEEP, Code.CLEAN):
        for opt, code in found:
            if code == wanted:
                return Action(wanted, f"{opt}: {code} (Table E.1-1)")
    basic = row["basicProfile"]
    code = COMPOSITES.get(basic) or Code(basic)
    why = f"basic profile: {basic}" + (f" -> {code}" if code != basic else "")
    return Action(code, why + " (Table E.1-1)")
