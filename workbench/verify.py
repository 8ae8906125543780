"""Independent verification of de-identified output.

This is a second code path, written apart from the engine: it re-parses the
output bytes and checks them against the identity read from the matching
input and against the profile's plan. It never trusts what the engine did.

It parses the whole output file with pydicom's reader (the engine reads its
inputs with its own fast reader, :mod:`workbench.catalog`), and has its own
helpers for values, so a flaw in the engine's reading cannot hide itself.

Checks, per output file:

* the file parses to its end without a warning, has a SOP Instance UID, and
  PatientIdentityRemoved / DeidentificationMethod are present;
* the pixel data is whole (native: Rows x Columns x frames x samples x bits;
  encapsulated: every fragment complete, at least one a frame, a JPEG frame
  ending in its end-of-image marker) and equal to the source's;
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

import hashlib
import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from io import BytesIO

from pydicom import dcmread
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels.utils import get_expected_length
from pydicom.sequence import Sequence
from pydicom.tag import Tag

from .profile import Profile
from .ps315 import Code

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
#: Pixel Data, Float Pixel Data, Double Float Pixel Data.
PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
#: Transfer syntaxes whose frames end in an end-of-image marker (JPEG, JPEG-LS, JPEG 2000).
JPEG_SYNTAX = re.compile(r"1\.2\.840\.10008\.1\.2\.4\.(5[0-9]|[67][0-9]|8[01]|9[0-3]|20[1-3])$")
RLE_SYNTAX = "1.2.840.10008.1.2.5"


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
    values = lambda kw: tuple(v for v in _text(ds, kw).split("\\") if v)  # noqa: E731
    others = ds.get_item(tag_for_keyword("OtherPatientIDsSequence"))
    other_ids = tuple(_text(item, "PatientID")
                      for item in _as_list(_value(ds, others) if others is not None else None))
    keywords = NAME_KEYWORDS + ("PatientBirthDate",) + ID_KEYWORDS + PERSONAL + (
        INSTITUTION if "retain_institution_identity" not in profile.options else ())
    found = dict(_patient_forms(tuple((kw, values(kw)) for kw in keywords), other_ids))
    uids = tuple((v, kw) for kw in UID_KEYWORDS if "retain_uids" not in profile.options
                 for v in values(kw) if len(v) >= 3)
    if "retain_long_full_dates" not in profile.options:
        for kw in DATE_KEYWORDS:
            if profile.plan.action(tag_for_keyword(kw), "DA").code != Code.KEEP:
                for v in values(kw):
                    if len(v) >= 8:
                        found.setdefault(v[:8], f"{kw} (real date)")
    return Identity(tuple(sorted(found.items())), uids)


@lru_cache(maxsize=256)
def _patient_forms(patient: tuple[tuple[str, tuple[str, ...]], ...],
                   other_ids: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The forms of a patient's identifying values (value -> what it is) from its
    ``(keyword, values)`` pairs, names first; the same for every file of the patient."""
    found: dict[str, str] = {}
    given = dict(patient)
    for kw in NAME_KEYWORDS:
        for v in given[kw]:
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
    for v in given["PatientBirthDate"]:
        for form in _written_dates(v.strip()):
            found.setdefault(form, "PatientBirthDate")
    rest = [(kw, v) for kw, vs in patient[len(NAME_KEYWORDS) + 1:] for v in vs]
    rest += [("OtherPatientIDsSequence/PatientID", v) for v in other_ids]
    for kw, v in rest:
        text = v.strip()
        if len(text) >= 3:
            found.setdefault(text, kw)
    return tuple(found.items())


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


@dataclass
class Verdict:
    """The verifier's finding on one output file: its problems (none means verified) and
    the SHA-256 of the bytes it checked, which a push compares before anything leaves."""

    problems: list[str] = field(default_factory=list)
    sha256: str = ""

    @property
    def verified(self) -> bool:
        return not self.problems


def check(data: bytes, identity: Identity, profile: Profile, pixels: bytes | None) -> list[str]:
    """Problems found in one whole output file (an empty list means verified).

    ``pixels`` is the source's pixel data value as stored, which the output
    must carry unchanged; None when the source has none.
    """
    return verdict(data, identity, profile, pixels).problems


def verdict(data: bytes, identity: Identity, profile: Profile, pixels: bytes | None) -> Verdict:
    """The verdict on one whole output file; see :func:`check`."""
    found = Verdict(sha256=hashlib.sha256(data).hexdigest())
    problems = found.problems
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = dcmread(BytesIO(data))
    except Exception as exc:
        problems.append(f"output does not parse: {type(exc).__name__}: {exc}")
        return found
    problems += [f"output does not parse cleanly: {w.message}" for w in caught]
    last = next(reversed(ds.values()), None)
    if type(last) is RawDataElement and last.length != 0xFFFFFFFF and \
            last.value_tell + last.length < len(data):
        problems.append("output does not parse: the file ends inside an element's header")
    if not _text(ds, "SOPInstanceUID"):
        problems.append("SOPInstanceUID is missing: the input is probably damaged or cut short; "
                        "copy the file again from the original media")
    if _text(ds, "PatientIdentityRemoved") != "YES":
        problems.append("PatientIdentityRemoved is not YES")
    if "DeidentificationMethod" not in ds and "DeidentificationMethodCodeSequence" not in ds:
        problems.append("DeidentificationMethod is missing")
    span = _pixel_span(ds, problems, pixels)
    scan = _Scan(profile, identity, _text_matcher(identity.values),
                 _byte_matcher(identity.values, ("ascii",)))
    _walk(ds, "", (), scan, problems)
    encodings = tuple(ds.original_character_set)
    header = data[:span[0]] + data[span[1]:] if span else data
    needles = _byte_matcher(identity.values, encodings + ("ascii",))
    hit = _byte_hit(header.lower(), needles) if needles is not None else None
    if hit is not None:
        what = _what(identity, hit, encodings)
        problems.append(f"{what} of the input found in the file bytes outside the pixel data")
    for uid, what in identity.uids:
        if _uid_in(uid.encode("ascii", "replace"), header):
            problems.append(f"{what} of the input found in the file bytes outside the pixel data")
    return found


def _pixel_span(ds: Dataset, problems: list[str], pixels: bytes | None) -> tuple[int, int] | None:
    """Check the top-level pixel data; returns where its value lies in the file, if present."""
    elem = next((e for e in map(ds.get_item, PIXEL_TAGS) if e is not None), None)
    if elem is None:
        if pixels is not None:
            problems.append("the pixel data of the input is missing from the output: the input "
                            "is probably damaged or cut short; copy it again from the original media")
        return None
    value = elem.value if isinstance(elem.value, bytes) else b""
    if elem.length != 0xFFFFFFFF and len(value) != elem.length:
        problems.insert(0, "output does not parse: the file ends inside its pixel data")
    elif pixels is not None and value != pixels:
        problems.append("the pixel data differs from the input's")
    elif pixels is None:
        problems.append("the output has pixel data the input does not have")
    start = getattr(elem, "value_tell", None)
    if elem.tag == 0x7FE00010 and ds.file_meta.TransferSyntaxUID.is_encapsulated:
        problems += _fragment_problems(ds, value)
    elif elem.tag == 0x7FE00010:
        try:
            expected = get_expected_length(ds)
        except (AttributeError, KeyError, TypeError, ValueError):
            expected = 0
        if len(value) < expected:
            problems.append(f"the pixel data lacks {expected - len(value)} bytes (Rows x Columns "
                            "x frames x samples x bits): the input is cut short")
    if start is None:
        return None
    return start, start + len(value) + (8 if elem.length == 0xFFFFFFFF else 0)


def _fragment_problems(ds: Dataset, value: bytes) -> list[str]:
    """What is wrong with encapsulated pixel data: items cut short, missing frames or ends."""
    items, pos = [], 0
    while pos < len(value):
        if value[pos:pos + 4] != b"\xfe\xff\x00\xe0" or pos + 8 > len(value):
            return [f"the compressed pixel data holds something other than an item at byte {pos}"]
        length = int.from_bytes(value[pos + 4:pos + 8], "little")
        if pos + 8 + length > len(value):
            return [f"the compressed pixel data ends inside fragment {len(items)}: the input is "
                    "cut short; copy it again from the original media"]
        items.append((pos, value[pos + 8:pos + 8 + length]))
        pos += 8 + length
    if not items:
        return ["the compressed pixel data has no Basic Offset Table item"]
    table, fragments = items[0][1], items[1:]
    frames = _text(ds, "NumberOfFrames")
    frames = int(frames) if frames.isdigit() and int(frames) > 0 else 1
    if len(fragments) < frames:
        return [f"the compressed pixel data holds {len(fragments)} fragment(s) for {frames} "
                "frame(s): frames are missing"]
    problems = []
    if table:
        starts = {p - items[1][0] for p, _ in fragments}
        offsets = [int.from_bytes(table[i:i + 4], "little") for i in range(0, len(table) - 3, 4)]
        if len(offsets) != frames or not starts.issuperset(offsets):
            problems.append("the Basic Offset Table does not match the fragments")
    syntax = str(ds.file_meta.TransferSyntaxUID)
    if JPEG_SYNTAX.match(syntax) and b"\xff\xd9" not in fragments[-1][1][-8:]:
        problems.append("the last frame has no end-of-image marker: the input is cut short")
    if syntax == RLE_SYNTAX:
        for n, (_, frag) in enumerate(fragments):
            count = int.from_bytes(frag[:4], "little") if len(frag) >= 64 else 0
            ends = [int.from_bytes(frag[4 + 4 * i:8 + 4 * i], "little") for i in range(count)]
            if not 1 <= count <= 15 or any(not 64 <= e < len(frag) for e in ends):
                problems.append(f"RLE frame {n} has a damaged header or segments past its end")
                break
    return problems


def _text(ds: Dataset, keyword: str) -> str:
    """An attribute's value as text (values joined by a backslash), leaving ``ds`` as it is."""
    elem = ds.get_item(tag_for_keyword(keyword))
    if elem is None:
        return ""
    if type(elem) is RawDataElement:
        raw = elem.value
        if isinstance(raw, bytes) and raw.isascii() and b"\x1b" not in raw and elem.VR != "SQ":
            return raw.decode("ascii").strip(" \0")
        elem = convert_raw_data_element(elem, encoding=ds.original_character_set, ds=ds)
    value = elem.value
    if value is None:
        return ""
    if isinstance(value, (list, MultiValue)):
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _value(ds: Dataset, elem):
    """An element's value, converted by pydicom (in the character set it was read in)
    without storing the conversion in ``ds``."""
    if type(elem) is RawDataElement:
        return convert_raw_data_element(elem, encoding=ds.original_character_set, ds=ds).value
    return elem.value


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


@dataclass(frozen=True)
class _Scan:
    """What a walk of one output checks against."""

    profile: Profile
    identity: Identity
    matcher: re.Pattern | None  # decoded text
    needles: tuple | None  # ASCII bytes, see _byte_matcher

    def what(self, found: str) -> str:
        return {k.casefold(): w for k, w in self.identity.values}.get(
            found.casefold(), "an identifying value")


def _walk(ds: Dataset, path: str, context: tuple[int, ...], scan: _Scan,
          problems: list[str]) -> None:
    """Structure checks on tags (nothing the plan removes at this place), and every text
    value matched on its own: ASCII values as bytes, others decoded in the dataset's
    character set."""
    creators = {}
    profile = scan.profile
    for tag, raw in ds.items():
        group, element = tag >> 16, tag & 0xFFFF
        vr = raw.VR or _dictionary_vr(tag)
        here = lambda: f"{path}{keyword_for_tag(tag) or Tag(tag)}"  # noqa: E731
        if type(raw) is RawDataElement and raw.length not in (len(raw.value or b""), 0xFFFFFFFF):
            problems.insert(0, f"output does not parse: the file ends inside {here()}")
        if group & 1 and 0x10 <= element <= 0xFF:
            creators[(group, element)] = str(_value(ds, raw) or "").strip()
            continue
        if group & 1:
            creator = creators.get((group, element >> 8)) if element >= 0x1000 else None
            rule = profile.plan.private_action(group, creator, element & 0xFF) if creator else None
            if rule is None or rule.action != Code.KEEP:
                problems.append(f"private attribute {Tag(tag)} ({creator or 'no creator'}) "
                                "present without a keep rule")
        elif (group & 0xFF01) in (0x5000, 0x6000) and "clean_graphics" not in profile.options:
            problems.append(f"overlay/curve attribute {Tag(tag)} present")
        elif profile.plan.action(tag, vr, context).code == Code.REMOVE:
            problems.append(f"{here()} is present but the profile removes it")
        if vr == "SQ":
            for i, item in enumerate(_value(ds, raw) or []):
                _walk(item, f"{here()}[{i}]/", (*context, tag), scan, problems)
        elif scan.matcher is not None and vr in STRING_VRS:
            value = getattr(raw, "value", None)
            if isinstance(value, bytes) and value.isascii():
                hit = _byte_hit(value.lower(), scan.needles) if scan.needles else None
                if hit is not None:
                    problems.append(f"{scan.what(hit.decode())} of the input found in {here()}")
                continue
            for v in _as_list(_value(ds, raw)):
                hit = scan.matcher.search(str(v))
                if hit:
                    problems.append(f"{scan.what(hit[0])} of the input found in {here()}")
                    break


def _dictionary_vr(tag: int) -> str:
    try:
        return dictionary_VR(tag).split(" or ")[0]
    except KeyError:
        return "UN"
