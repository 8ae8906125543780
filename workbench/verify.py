"""Independent verification of de-identified output.

This is a second code path, written apart from the engine: it re-parses the
output bytes and checks them against the identity read from the matching
input and against the profile's plan. It never trusts what the engine did.

Checks, per output file:

* the file parses, and PatientIdentityRemoved / DeidentificationMethod are present;
* no attribute the profile removes is present at any depth, no private
  attribute survives without a creator-aware keep rule, no overlay or curve
  survives unless Clean Graphics is on;
* no identifying value of the input (name components of three or more
  letters, IDs, accession number, birth date, address, phone numbers, and
  the institution and UIDs unless the profile keeps them) occurs in any
  element value or in the file's bytes outside the pixel data, matched as a
  whole token in the dataset's character set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO

from pydicom import dcmread
from pydicom.charset import convert_encodings
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import Tag

from .catalog import PIXEL_TAGS, decoded, elements, get_value, peek, raw_text, read_part10
from .profile import Profile

STRING_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST",
                        "TM", "UC", "UI", "UR", "UT"})
NAME_KEYWORDS = ("PatientName", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName")
ID_KEYWORDS = ("PatientID", "OtherPatientIDs", "AccessionNumber")
PERSONAL = ("PatientBirthDate", "PatientAddress", "PatientTelephoneNumbers")
INSTITUTION = ("InstitutionName", "InstitutionAddress")
DATE_KEYWORDS = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")
UID_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")
#: Placeholder words that identify nobody (and that de-identifiers write themselves).
PLACEHOLDERS = frozenset({"anonymous", "anonymized", "anonymised", "anon", "unknown", "patient",
                          "test", "none", "removed", "unspecified", "phantom"})
#: The pixel data tags as they are written (little endian), Pixel Data first.
PIXEL_TAG_BYTES = tuple((t >> 16 | (t & 0xFFFF) << 16).to_bytes(4, "little")
                        for t in sorted(PIXEL_TAGS, reverse=True))


@dataclass(frozen=True)
class Identity:
    """Identifying values read from an input file: value -> what it is.

    ``uids`` are kept apart from ``values``: they differ in every file, so they
    are matched as exact strings, while the per-patient ``values`` compile
    into a pattern that is reused across a patient's files.
    """

    values: tuple[tuple[str, str], ...]
    uids: tuple[tuple[str, str], ...] = ()


def identity_of(ds: Dataset, profile: Profile) -> Identity:
    """Collect the identifying values of an input dataset that must not reach the output."""
    found: dict[str, str] = {}

    def add(value, what: str, min_len: int = 3) -> None:
        for v in value if isinstance(value, (list, MultiValue)) else [value]:
            text = str(v).strip() if v is not None else ""
            if len(text) >= min_len:
                found.setdefault(text, what)

    values = lambda kw: [v for v in peek(ds, kw).split("\\") if v]  # noqa: E731
    for kw in NAME_KEYWORDS:
        for v in values(kw):
            for part in re.split(r"[\^=,\s]+", v):
                if sum(ch.isalpha() for ch in part) >= 3 and part.casefold() not in PLACEHOLDERS:
                    found.setdefault(part, f"{kw} component")
    for kw in ID_KEYWORDS + PERSONAL:
        add(values(kw), kw)
    for item in _as_list(get_value(ds, "OtherPatientIDsSequence")):
        add(get_value(item, "PatientID"), "OtherPatientIDsSequence/PatientID")
    if "retain_institution_identity" not in profile.options:
        for kw in INSTITUTION:
            add(values(kw), kw)
    uids = tuple((v, kw) for kw in UID_KEYWORDS if "retain_uids" not in profile.options
                 for v in values(kw) if len(v) >= 3)
    if "retain_long_full_dates" not in profile.options:
        for kw in DATE_KEYWORDS:
            action = profile.attributes.get(tag_for_keyword(kw))
            if action is None or action.code != "K":
                add([v[:8] for v in values(kw)], f"{kw} (real date)", 8)
    return Identity(tuple(sorted(found.items())), uids)


def _as_list(elem) -> list:
    value = getattr(elem, "value", elem)
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, (list, MultiValue, Sequence)) else [value]


@lru_cache(maxsize=256)
def _text_matcher(values: tuple[tuple[str, str], ...]):
    if not values:
        return None
    ordered = sorted((v for v, _ in values), key=len, reverse=True)
    words = "|".join(re.escape(v) for v in ordered if not _embedded(v))
    ids = "|".join(re.escape(v) for v in ordered if _embedded(v))
    parts = ([rf"(?<![^\W_])(?:{words})(?![^\W_])"] if words else []) + ([ids] if ids else [])
    return re.compile("|".join(parts), re.IGNORECASE)


def _embedded(value: str) -> bool:
    """Long IDs (six or more characters, with a digit) count even inside a longer word."""
    return len(value) >= 6 and any(ch.isdigit() for ch in value)


@lru_cache(maxsize=256)
def _byte_matcher(values: tuple[tuple[str, str], ...], encodings: tuple[str, ...]):
    """The identifying values in every encoding, lower-cased, for a scan of lower-cased bytes.

    A regex of plain alternatives finds candidates fast; each is then checked
    in Python (names as whole tokens, long IDs anywhere).
    """
    needles: dict[bytes, bool] = {}  # encoded value -> must be a whole token
    for value, _ in values:
        for enc in encodings:
            try:
                raw = value.encode(enc).lower()
            except (UnicodeEncodeError, LookupError):
                continue
            needles[raw] = needles.get(raw, True) and not _embedded(value)
    if not needles:
        return None
    ordered = sorted(needles, key=len, reverse=True)
    return re.compile(b"|".join(map(re.escape, ordered))), [(n, needles[n]) for n in ordered]


TOKEN_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789") | frozenset(range(0x80, 0x100))


def _byte_hit(data: bytes, matcher) -> bytes | None:
    """The first identifying value found in lower-cased ``data``, or None."""
    rx, needles = matcher
    pos = 0
    while (m := rx.search(data, pos)) is not None:
        start = m.start()
        for needle, whole in needles:
            end = start + len(needle)
            if data.startswith(needle, start) and not (whole and (
                    start and data[start - 1] in TOKEN_BYTES
                    or end < len(data) and data[end] in TOKEN_BYTES)):
                return needle
        pos = start + 1
    return None


def _header_bytes(data: bytes) -> bytes:
    """The file's bytes without a top-level pixel data element that ends the file."""
    for tag in PIXEL_TAG_BYTES:
        pos = data.rfind(tag)
        while pos >= 0:
            explicit = data[pos + 4:pos + 6].isalpha()
            start = pos + (12 if explicit else 8)
            length = int.from_bytes(data[start - 4:start], "little")
            if (length == 0xFFFFFFFF and data.endswith(b"\xfe\xff\xdd\xe0\0\0\0\0")) or \
                    start + length == len(data):
                return data[:pos]
            pos = data.rfind(tag, 0, pos)
    return data


def check(data: bytes, identity: Identity, profile: Profile) -> list[str]:
    """Problems found in one output file (an empty list means verified)."""
    try:
        parsed = read_part10(data, to_pixels=False)
        ds = parsed[0] if parsed is not None else dcmread(BytesIO(data))
    except Exception as exc:
        return [f"output does not parse: {type(exc).__name__}: {exc}"]
    problems: list[str] = []
    if not get_value(ds, "SOPInstanceUID"):
        problems.append("SOPInstanceUID is missing: the input is probably damaged or cut short; "
                        "copy the file again from the original media")
    if get_value(ds, "PatientIdentityRemoved") != "YES":
        problems.append("PatientIdentityRemoved is not YES")
    if "DeidentificationMethod" not in ds and "DeidentificationMethodCodeSequence" not in ds:
        problems.append("DeidentificationMethod is missing")
    removed, removed_in_kept, kept_sequences = _tag_rules(profile)
    matcher = _text_matcher(identity.values)
    _walk(ds, "", (removed, removed_in_kept), kept_sequences, profile, matcher, identity, problems,
          kept=False)
    encodings = tuple(convert_encodings(get_value(ds, "SpecificCharacterSet") or "ISO_IR 6"))
    header = _header_bytes(data)
    needles = _byte_matcher(identity.values, encodings + ("ascii",))
    hit = _byte_hit(header.lower(), needles) if needles is not None else None
    if hit is not None:
        what = _what(identity, hit, encodings)
        problems.append(f"{what} of the input found in the file bytes outside the pixel data")
    for uid, what in identity.uids:
        if _uid_in(uid.encode("ascii", "replace"), header):
            problems.append(f"{what} of the input found in the file bytes outside the pixel data")
    return problems


_RULES: dict[str, tuple[frozenset[int], frozenset[int], frozenset[int]]] = {}


def _tag_rules(profile: Profile) -> tuple[frozenset[int], frozenset[int], frozenset[int]]:
    """Tags the profile removes, removes inside kept sequences, and keeps (per profile hash)."""
    if profile.hash not in _RULES:
        actions, own = profile.plan.actions, profile.attributes
        _RULES[profile.hash] = (frozenset(t for t, a in actions.items() if a.code == "X"),
                                frozenset(t for t, a in own.items() if a.code == "X"),
                                frozenset(t for t, a in actions.items() if a.code == "K"))
    return _RULES[profile.hash]


def _uid_in(uid: bytes, data: bytes) -> bool:
    """True when ``uid`` occurs whole (not as the start of a longer UID)."""
    pos = data.find(uid)
    while pos >= 0:
        after = data[pos + len(uid):pos + len(uid) + 2]
        before = data[pos - 1:pos] if pos else b""
        if not (after[:1].isdigit() or after[:2].startswith(b".") and after[1:2].isdigit()
                or before.isdigit() or before == b"."):
            return True
        pos = data.find(uid, pos + 1)
    return False


def _what(identity: Identity, raw: bytes, encodings: tuple[str, ...]) -> str:
    for value, what in identity.values:
        for enc in encodings + ("ascii",):
            try:
                if value.encode(enc).lower() == raw.lower():
                    return what
            except (UnicodeEncodeError, LookupError):
                continue
    return "an identifying value"


def _walk(ds: Dataset, path: str, removed: tuple[set[int], set[int]], kept_sequences: set[int],
          profile: Profile, matcher, identity: Identity, problems: list[str], kept: bool) -> None:
    """Structure checks on tags; decoded-text checks where the byte scan cannot see case.

    ASCII values are covered by the case-insensitive byte scan of the whole
    header; values with other bytes are decoded and matched here.
    """
    creators = {}
    for tag, raw in elements(ds):
        group, element = tag >> 16, tag & 0xFFFF
        vr = raw.VR or _dictionary_vr(tag)
        here = lambda: f"{path}{keyword_for_tag(tag) or Tag(tag)}"  # noqa: E731
        if group & 1 and 0x10 <= element <= 0xFF:
            creators[(group, element)] = raw_text(raw) or str(ds[tag].value or "")
            continue
        if group & 1:
            creator = creators.get((group, element >> 8)) if element >= 0x1000 else None
            rule = profile.plan.private_action(group, creator, element & 0xFF) if creator else None
            if rule is None or rule.action != "K":
                problems.append(f"private attribute {Tag(tag)} ({creator or 'no creator'}) "
                                "present without a keep rule")
        elif (group & 0xFF01) in (0x5000, 0x6000) and "clean_graphics" not in profile.options:
            problems.append(f"overlay/curve attribute {Tag(tag)} present")
        elif tag in removed[1 if kept else 0]:
            problems.append(f"{here()} is present but the profile removes it")
        if vr == "SQ":
            inner_kept = kept or tag in kept_sequences
            for i, item in enumerate(decoded(ds, tag, raw) or []):
                _walk(item, f"{here()}[{i}]/", removed, kept_sequences, profile, matcher, identity,
                      problems, inner_kept)
        elif matcher is not None and vr in STRING_VRS:
            value = getattr(raw, "value", None)
            if isinstance(value, bytes) and value.isascii():
                continue
            for v in _as_list(decoded(ds, tag, raw)):
                hit = matcher.search(str(v))
                if hit:
                    what = {k.casefold(): w for k, w in identity.values}.get(
                        hit[0].casefold(), "an identifying value")
                    problems.append(f"{what} of the input found in {here()}")
                    break


def _dictionary_vr(tag: int) -> str:
    try:
        return dictionary_VR(tag).split(" or ")[0]
    except KeyError:
        return "UN"
