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
  letters or two CJK characters, the name's first two parts together and
  their spellings without diacritics or transliterated, IDs, accession
  number, the birth date in its written forms, address, phone numbers, and
  the institution and UIDs unless the profile keeps them) occurs in any
  element value or in the file's bytes outside the pixel data, in the
  dataset's character set: names as whole tokens, IDs of five or more
  characters with a digit and CJK names anywhere, all-digit IDs between non-digits.
"""

from __future__ import annotations

import re
import unicodedata
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
            for group in v.split("="):
                parts = [p for p in re.split(r"[\^,\s]+", group) if p]
                forms = [p for p in parts if p.casefold() not in PLACEHOLDERS and (
                    sum(ch.isalpha() for ch in p) >= 3 or len(p) >= 2 and _cjk(p))]
                if len(parts) >= 2:  # short parts count beside another part of the name
                    first, second = parts[:2]
                    forms += [f"{first} {second}", f"{second} {first}", f"{first}, {second}",
                              f"{second}, {first}", first + second, second + first]
                for form in forms:
                    for spelling in _spellings(form):
                        found.setdefault(spelling, f"{kw} component")
    for v in values("PatientBirthDate"):
        for form in _written_dates(v.strip()):
            found.setdefault(form, "PatientBirthDate")
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


_GERMANIC = {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ø": "oe", "å": "aa", "æ": "ae",
             "œ": "oe"}
#: Letters with no decomposition, as they are written without the mark.
_UNMARKED = {"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ß": "ss", "æ": "ae",
             "Æ": "Ae", "œ": "oe", "Œ": "Oe", "ı": "i"}
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


def _cjk(text: str) -> bool:
    """Han, kana or hangul: scripts written without spaces between words."""
    return any(0x3040 <= ord(ch) <= 0x30FF or 0x3400 <= ord(ch) <= 0x9FFF
               or 0xAC00 <= ord(ch) <= 0xD7AF or 0xF900 <= ord(ch) <= 0xFAFF for ch in text)


def _spellings(text: str) -> set[str]:
    """``text``, without its diacritics, and with German and Nordic letters written out."""
    bare = "".join(_UNMARKED.get(ch, ch) for ch in unicodedata.normalize("NFD", text)
                   if unicodedata.category(ch) != "Mn")
    return {text, bare, "".join(map(_spelt, text))}


def _spelt(ch: str) -> str:
    out = _GERMANIC.get(ch.lower())
    return ch if out is None else out if ch.islower() else out.capitalize()


def _written_dates(da: str) -> list[str]:
    """YYYYMMDD as ISO, D/M/Y, M/D/Y, D.M.Y, and with the month's name."""
    m = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", da)
    if not m or not 1 <= int(m[2]) <= 12:
        return [da] if len(da) >= 8 else []
    y, mo, d = m.groups()
    name = _MONTHS[int(mo) - 1]
    out = [da, f"{y}-{mo}-{d}", f"{y}/{mo}/{d}", f"{d}/{mo}/{y}", f"{mo}/{d}/{y}",
           f"{d}.{mo}.{y}", f"{d}-{mo}-{y}", f"{mo}-{d}-{y}", f"{y}.{mo}.{d}"]
    for month in (name, name[:3]):
        for day in {d, d.lstrip("0")}:
            out += [f"{day} {month} {y}", f"{month} {day}, {y}", f"{month} {day} {y}",
                    f"{day}-{month}-{y}", f"{day}. {month} {y}"]
    return out


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
    by_mode: dict[str, list[str]] = {"word": [], "digits": [], "any": []}
    for v in ordered:
        by_mode[_mode(v)].append(re.escape(v))
    parts = []
    if by_mode["word"]:
        parts.append(rf"(?<![^\W_])(?:{'|'.join(by_mode['word'])})(?![^\W_])")
    if by_mode["digits"]:
        parts.append(rf"(?<!\d)(?:{'|'.join(by_mode['digits'])})(?!\d)")
    parts += by_mode["any"]
    return re.compile("|".join(parts), re.IGNORECASE)


def _mode(value: str) -> str:
    """How a value is matched: IDs of five or more characters with a letter and a digit,
    and names in scripts without spaces, anywhere ("any"); all-digit IDs of five or more
    digits between non-digits ("digits"); everything else as a whole token ("word")."""
    if _cjk(value):
        return "any"
    if len(value) >= 5 and value.isdigit():
        return "digits"
    if len(value) >= 5 and any(ch.isdigit() for ch in value):
        return "any"
    return "word"


@lru_cache(maxsize=256)
def _byte_matcher(values: tuple[tuple[str, str], ...], encodings: tuple[str, ...]):
    """The identifying values in every encoding, lower-cased, for a scan of lower-cased bytes.

    A regex of plain alternatives finds candidates fast; each is then checked
    in Python (names as whole tokens, long IDs anywhere).
    """
    needles: dict[bytes, str] = {}  # encoded value -> how it is matched (see _mode)
    for value, _ in values:
        for enc in encodings:
            try:
                raw = value.encode(enc).lower()
            except (UnicodeEncodeError, LookupError):
                continue
            mode = _mode(value)
            needles[raw] = mode if needles.get(raw, mode) == mode else "any"
    if not needles:
        return None
    ordered = sorted(needles, key=len, reverse=True)
    return re.compile(b"|".join(map(re.escape, ordered))), [(n, needles[n]) for n in ordered]


TOKEN_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789") | frozenset(range(0x80, 0x100))
DIGIT_BYTES = frozenset(b"0123456789")


def _byte_hit(data: bytes, matcher) -> bytes | None:
    """The first identifying value found in lower-cased ``data``, or None."""
    rx, needles = matcher
    pos = 0
    while (m := rx.search(data, pos)) is not None:
        start = m.start()
        for needle, mode in needles:
            end = start + len(needle)
            if not data.startswith(needle, start):
                continue
            if mode == "any":
                return needle
            beside = TOKEN_BYTES if mode == "word" else DIGIT_BYTES
            if not (start and data[start - 1] in beside or end < len(data) and data[end] in beside):
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
