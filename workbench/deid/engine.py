"""Apply a resolved profile to one dataset.

The engine walks every element once, at every depth, and applies the
profile's action; then scrubs the subject's identifiers from kept text,
and writes the de-identification markers and Clinical Trial attributes.
It holds no mutable state across files, so workers can share nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.charset import convert_encodings
from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import (PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian,
                         ImplicitVRLittleEndian)

from .. import __version__
from ..dicomio import (ASCII_VRS, decoded, dictionary_vr, elements, encode, get_value, peek,
                       raw_element, raw_text, raw_vr)
from ..errors import ProfileError
from ..profile import Profile, is_class_keyword
from ..ps315 import BASIC_CODE, OPTIONS, TABLE_EDITION, Action, Code
from .dates import shift_da, shift_dt
from . import scrub
from .uids import remap_uid

TEXT_VRS = frozenset({"LO", "SH", "LT", "ST", "UT", "UC", "PN"})
CLEANED_VRS = frozenset({"DA", "DT", "PN", "SQ", "UI"})
RAW_TEXT_VRS = ASCII_VRS | {"DS", "IS"}  # text a replacement can be written as directly
MAX_LEN = {"LO": 64, "SH": 16, "PN": 64, "CS": 16, "AE": 16, "ST": 1024, "LT": 10240}
DUMMY = {
    "PN": "ANONYMOUS", "LO": "ANONYMIZED", "SH": "ANONYMIZED", "LT": "ANONYMIZED",
    "ST": "ANONYMIZED", "UT": "ANONYMIZED", "UC": "ANONYMIZED", "CS": "ANONYMIZED",
    "AE": "ANONYMIZED", "AS": "000D", "DA": "19000101", "DT": "19000101000000",
    "TM": "000000", "DS": "0", "IS": "0", "UR": "urn:uuid:00000000-0000-0000-0000-000000000000",
}
#: A one-page PDF that replaces an encapsulated document under the D action.
PLACEHOLDER_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 100]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
ENCAPSULATED_DOCUMENT = 0x00420011
ANY_BYTES = re.compile(b"")  # a byte pre-check that sends every value to the scrub
TRIAL_TAGS = {
    "sponsor": "ClinicalTrialSponsorName", "protocol_id": "ClinicalTrialProtocolID",
    "protocol_name": "ClinicalTrialProtocolName", "site_id": "ClinicalTrialSiteID",
    "site_name": "ClinicalTrialSiteName", "subject_id": "ClinicalTrialSubjectID",
    "timepoint": "ClinicalTrialTimePointID",
    "coordinating_center": "ClinicalTrialCoordinatingCenterName",
}
_TAGS = {keyword: tag_for_keyword(keyword) for keyword in TRIAL_TAGS.values()}
_REPLACED = frozenset({Code.EMPTY, Code.DUMMY, Code.REPLACE})  # written without the old value
_REMAPPED = frozenset({Code.UID, Code.SEQUENCE_UIDS, Code.CLEAN})  # UIDs always remapped
#: The codes under which an element may be written back as read (see Engine._untouched).
_KEPT = frozenset({Code.KEEP, Code.UID, Code.SEQUENCE_UIDS, Code.SHIFT, Code.CLEAN})


@dataclass(frozen=True)
class Subject:
    """What the engine needs to know about the subject a file belongs to.

    ``values`` feeds templates (subject_id, site_id, lookup columns, trial
    fields, timepoint); ``replacements`` maps identifying strings found
    elsewhere (lookup keys, other accession numbers) to their replacement.
    """

    subject_id: str
    date_offset: int
    values: dict[str, str] = field(default_factory=dict)
    replacements: tuple[tuple[str, str], ...] = ()


def identifying_strings(ds: Dataset) -> list[str]:
    """Strings in ``ds`` that identify the patient, in the forms the scrub looks for."""
    out: list[str] = []
    values = lambda kw: [v.strip() for v in peek(ds, kw).split("\\") if v.strip()]  # noqa: E731
    for kw in ("PatientName", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName"):
        for v in values(kw):
            out += scrub.name_forms(v)
    for v in values("PatientBirthDate"):
        out += scrub.date_forms(v)
    for kw in ("PatientID", "OtherPatientIDs", "AccessionNumber", "StudyID", "PatientAddress",
               "PatientTelephoneNumbers", "MilitaryRank"):
        out += [v for v in values(kw) if len(v) >= 3]
    for item in get_value(ds, "OtherPatientIDsSequence") or []:
        pid = str(get_value(item, "PatientID", "")).strip()
        if len(pid) >= 3:
            out.append(pid)
    return out


def _values(elem) -> list:
    if elem is None:
        return []
    value = elem.value if isinstance(elem, DataElement) else elem
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, (MultiValue, list, Sequence)) else [value]


@lru_cache(maxsize=256)
def _scrubber(pairs: tuple[tuple[str, str], ...]):
    """A compiled whole-token, case-insensitive matcher for identifying strings."""
    table, needles = {}, []
    for needle, repl in pairs:
        if needle.casefold() not in table:
            table[needle.casefold()] = repl
            needles.append(needle)  # the original spelling: casefold turns a final sigma medial
    if not table:
        return None, table
    return re.compile(scrub.pattern(needles), re.IGNORECASE), table


@lru_cache(maxsize=256)
def _byte_scrubber(needles: tuple[str, ...], encodings: tuple[str, ...]):
    """A fast pre-check on undecoded values: could any identifier be in these bytes?"""
    if any(enc.startswith("iso2022") for enc in encodings):
        return ANY_BYTES  # escape sequences may fall anywhere in a name: decode every value
    found = set()
    for needle in needles:
        for variant in {needle, needle.upper(), needle.lower(), needle.casefold(), needle.title()}:
            for enc in encodings:
                try:
                    found.add(variant.encode(enc))
                except (UnicodeEncodeError, LookupError):
                    continue
    if not found:
        return None
    return re.compile(b"|".join(re.escape(n) for n in sorted(found, key=len, reverse=True)),
                      re.IGNORECASE)


def _encodings(ds: Dataset) -> tuple[str, ...]:
    return tuple(dict.fromkeys(
        [*convert_encodings(get_value(ds, "SpecificCharacterSet") or "ISO_IR 6"), "ascii",
         "utf-8"]))


class Engine:
    """De-identify datasets with one profile and one trial secret."""

    def __init__(self, profile: Profile, secret: bytes):
        self.profile = profile
        self.plan = profile.plan
        self.secret = secret
        self.root = profile.uid_root
        opts = profile.options
        self.graphics = "clean_graphics" in opts
        self.retain_uids = "retain_uids" in opts
        if "retain_long_full_dates" in opts:
            self.long_flag = "UNMODIFIED"
        elif "retain_long_modified_dates" in opts:
            self.long_flag = "MODIFIED"
        else:
            self.long_flag = "REMOVED"
        self.method = _method_values(profile)
        self.codes = [BASIC_CODE] + [(OPTIONS[o][1], OPTIONS[o][2]) for o in sorted(opts)]
        self._meta_values = ((0x00020000, "UL", b"\0\0\0\0"),  # recomputed when written
                             (0x00020001, "OB", b"\x00\x01"),
                             (0x00020012, "UI", PYDICOM_IMPLEMENTATION_UID),
                             (0x00020013, "SH", f"WORKBENCH_{__version__}"[:16]))
        self._marker_values = {flag: _marker_values(self, flag) for flag in (False, True)}

    # -- public -------------------------------------------------------------------
    def deidentify(self, ds: Dataset, subject: Subject) -> Dataset:
        """De-identify ``ds`` in place for ``subject`` and return it."""
        pairs = [(s, subject.subject_id) for s in identifying_strings(ds)]
        if "retain_institution_identity" not in self.profile.options:
            pairs += [(v, "") for v in peek(ds, "InstitutionName").split("\\") if len(v) >= 3]
        pairs += list(subject.replacements)
        self._scrub, self._table = _scrubber(tuple(pairs))
        self._scrub_bytes = _byte_scrubber(tuple(p[0] for p in pairs), _encodings(ds))
        self._subject = subject
        ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        self._implicit = ts.is_implicit_VR if ts is not None and ts.is_transfer_syntax else None
        self._walk(ds, ())
        self._meta(ds)
        self._markers(ds, subject)
        return ds

    def to_bytes(self, ds: Dataset) -> bytes:
        """Serialise a de-identified dataset as a DICOM Part 10 file."""
        return encode(ds)  # preamble and complete file meta are set by deidentify()

    def remap(self, uid: str) -> str:
        """The output UID for ``uid`` under this profile."""
        return uid if self.retain_uids else remap_uid(uid, self.secret, self.root)

    # -- walk ---------------------------------------------------------------------
    def _walk(self, ds: Dataset, context: tuple[int, ...]) -> None:
        """Apply the plan to every element of ``ds``, inside the sequences ``context``."""
        creators: dict[tuple[int, int], str] = {}
        private: list[int] = []
        action_for = self.plan.action
        for tag, raw in elements(ds):
            key = int(tag)  # plain int: dict lookups on pydicom's tag type are slow
            group, element = key >> 16, key & 0xFFFF
            if element == 0:  # group lengths are retired; never copy them
                del ds[tag]
                continue
            if group & 1:
                if 0x10 <= element <= 0xFF:
                    creators[(group, element)] = raw_text(raw) or str(ds[tag].value or "")
                else:
                    private.append(tag)
                continue
            if (group & 0xFF01) in (0x5000, 0x6000):  # curves and overlays
                if self.graphics:
                    self._keep(ds[tag], (*context, key))
                else:
                    del ds[tag]
                continue
            vr = raw.VR or dictionary_vr(key)
            if vr == "UN" and dictionary_vr(key) != "UN":  # a known attribute written as UN
                raw = ds[tag]  # pydicom decodes it with the dictionary's VR
                vr = raw.VR
            action = action_for(key, vr, context)
            if action.code == Code.REMOVE:
                del ds[tag]
            elif action.code in _REPLACED and vr not in ("SQ", "UI") \
                    and key != ENCAPSULATED_DOCUMENT:
                ds[tag] = self._replacement(key, vr, action)  # the old value is never decoded
            elif vr == "UI" and (remapped := self._raw_uid(key, raw, action)) is not None:
                ds[tag] = remapped
            elif self._untouched(action, vr, raw):
                continue
            else:
                self._apply(ds, _element(ds, tag, raw), action, (*context, key))
        if creators or private:
            self._private(ds, creators, private, context)

    def _replacement(self, tag: int, vr: str, action: Action) -> DataElement | RawDataElement:
        if action.code == Code.REPLACE:
            text = self._fill(action.value or "", vr)
            if vr in RAW_TEXT_VRS and text.isascii():
                return raw_element(tag, vr, text, self._implicit)
            return DataElement(tag, vr, text)
        elem = _blank(tag, vr, action.code, self._implicit)
        if elem is None:
            elem = DataElement(tag, vr, None)
            if action.code == Code.DUMMY:
                self._dummy(elem)
        return elem

    def _raw_uid(self, tag: int, raw, action: Action) -> RawDataElement | None:
        """A single UID that ``action`` remaps, remapped from its undecoded bytes (as
        :meth:`_uids` does); None for anything else, which :meth:`_uids` handles."""
        listed = action.code in _REMAPPED
        if not listed or not self._remaps(tag, listed):
            return None
        text = raw_text(raw)
        if not text or self._implicit is None:
            return None
        return raw_element(tag, "UI", remap_uid(text, self.secret, self.root), self._implicit)

    def _untouched(self, action: Action, vr: str, raw) -> bool:
        """True when an element can be written back as read, without decoding it."""
        code = action.code
        if vr == "UI":  # a kept UID stays
            return code == Code.KEEP
        if vr == "SQ" or code not in _KEPT:
            return False
        if code == Code.SHIFT and vr in ("DA", "DT") or code == Code.CLEAN and vr in CLEANED_VRS:
            return False
        if vr in TEXT_VRS:  # kept text needs the scrub only if an identifier may be in it
            value = getattr(raw, "value", None)
            return isinstance(value, bytes) and (
                self._scrub_bytes is None or not self._scrub_bytes.search(value))
        return True

    def _apply(self, ds: Dataset, elem: DataElement, action: Action,
               place: tuple[int, ...]) -> None:
        """Apply ``action`` to ``elem``, at ``place`` (the sequences around it, then its tag)."""
        code, vr = action.code, elem.VR
        if vr == "SQ":
            if code == Code.EMPTY:
                elem.value = Sequence()
            elif code == Code.REPLACE:
                raise ProfileError(f"{action.rule}: a sequence cannot be replaced by text")
            else:  # kept, cleaned, remapped or dummied: the plan says what happens inside
                self._items(elem, place)
        elif code == Code.EMPTY:
            elem.value = None
        elif code == Code.DUMMY:
            self._dummy(elem)
        elif code in _REMAPPED and vr == "UI":
            self._uids(elem, listed=True)
        elif code == Code.CLEAN:
            self._clean(elem)
        elif code == Code.SHIFT and vr in ("DA", "DT"):
            self._shift(elem)
        elif code == Code.REPLACE:
            elem.value = self._fill(action.value or "", vr)
        elif vr != "UI":  # K, and U or S on something else; a kept UID stays as it is
            self._keep(elem, place)

    def _keep(self, elem: DataElement, place: tuple[int, ...]) -> None:
        vr = elem.VR
        if vr == "SQ":
            self._items(elem, place)
        elif vr == "UI":
            self._uids(elem)
        elif vr in TEXT_VRS:
            self._scrub_text(elem)

    def _clean(self, elem: DataElement) -> None:
        vr = elem.VR
        if vr in ("DA", "DT"):
            self._shift(elem)
        elif vr == "PN":
            self._dummy(elem)
        elif vr in TEXT_VRS:
            self._scrub_text(elem)

    def _items(self, elem: DataElement, place: tuple[int, ...]) -> None:
        for item in elem.value or []:
            self._walk(item, place)

    def _dummy(self, elem: DataElement) -> None:
        vr = elem.VR
        if vr == "UI":
            self._uids(elem, listed=True)
        elif elem.tag == ENCAPSULATED_DOCUMENT:
            elem.value = PLACEHOLDER_PDF + (b"\0" if len(PLACEHOLDER_PDF) % 2 else b"")
        elif vr in DUMMY:
            elem.value = DUMMY[vr][: MAX_LEN.get(vr, 64)]
        elif vr in ("OB", "OW", "UN", "OD", "OF", "OL", "OV"):
            elem.value = b"\0\0" if vr in ("OB", "OW", "UN") else b"\0" * 8
        else:  # binary numbers
            elem.value = 0

    def _uids(self, elem: DataElement, listed: bool = False) -> None:
        """Remap UIDs (see :meth:`_remaps`)."""
        if not elem.value or not self._remaps(elem.tag, listed):
            return
        new = [remap_uid(str(v).rstrip("\0 "), self.secret, self.root) for v in _values(elem)]
        elem.value = new if len(new) > 1 else new[0]

    def _remaps(self, tag: int, listed: bool) -> bool:
        """Whether UIDs are remapped: always in an attribute the profile lists for U;
        otherwise not under Retain UIDs, and never a class UID."""
        return listed or not (self.retain_uids or is_class_keyword(keyword_for_tag(tag) or ""))

    def _shift(self, elem: DataElement) -> None:
        if not elem.value:
            return
        fn = shift_da if elem.VR == "DA" else shift_dt
        days = self._subject.date_offset
        values = [fn(str(v), days) for v in _values(elem)]
        elem.value = None if None in values else (values if len(values) > 1 else values[0])

    def _scrub_text(self, elem: DataElement) -> None:
        if self._scrub is None or elem.value is None:
            return
        table, rx = self._table, self._scrub
        raw = elem.value
        multi = isinstance(raw, (MultiValue, list))
        values = [str(v) for v in (raw if multi else [raw])]
        new = [rx.sub(lambda m: table.get(m[0].casefold(), ""), v) for v in values]
        if new != values:
            elem.value = new if multi else new[0]

    def _fill(self, template: str, vr: str) -> str:
        text = render(template, {"subject_id": self._subject.subject_id, **self._subject.values})
        return text[: MAX_LEN[vr]] if vr in MAX_LEN else text

    def _private(self, ds: Dataset, creators: dict[tuple[int, int], str], tags: list[int],
                 context: tuple[int, ...]) -> None:
        used: set[tuple[int, int]] = set()
        for tag in tags:
            group, element = tag >> 16, tag & 0xFFFF
            block = (group, element >> 8)
            creator = creators.get(block) if element >= 0x1000 else None
            rule = self.plan.private_action(group, creator, element & 0xFF) if creator else None
            if rule is not None and rule.action == Code.KEEP:
                used.add(block)
                self._keep(ds[tag], (*context, tag))
            else:
                del ds[tag]
        for (group, block) in creators:
            if (group, block) not in used:
                del ds[(group << 16) | block]

    # -- file meta and markers ----------------------------------------------------
    def _meta(self, ds: Dataset) -> None:
        meta = getattr(ds, "file_meta", None) or FileMetaDataset()
        for tag in list(meta.keys()):
            if int(tag) not in (0x00020002, 0x00020003, 0x00020010):
                del meta[tag]  # source AE title, private information, the writer's identity
        if "TransferSyntaxUID" not in meta:
            implicit = (getattr(ds, "original_encoding", (False, True)) or (False, True))[0]
            meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
        for tag, keyword in ((0x00020002, "SOPClassUID"), (0x00020003, "SOPInstanceUID")):
            if keyword in ds:
                _set(meta, tag, "UI", peek(ds, keyword), implicit=False)
        for tag, vr, value in self._meta_values:
            _set(meta, tag, vr, value, implicit=False)
        ds.file_meta = meta
        ds.preamble = b"\x00" * 128

    def _markers(self, ds: Dataset, subject: Subject) -> None:
        implicit = bool(self._implicit)
        for tag, vr, value in self._marker_values[implicit]:
            _set(ds, tag, vr, value, implicit)
        for key, keyword in TRIAL_TAGS.items():
            value = subject.values.get(key, "")
            if value:
                _set(ds, _TAGS[keyword], "LO", str(value)[:64], implicit)


@lru_cache(maxsize=None)
def _blank(tag: int, vr: str, code: Code, implicit: bool | None) -> RawDataElement | None:
    """The element the Z or D action writes, when it is plain text (the same in every file)."""
    text = "" if code == Code.EMPTY else DUMMY[vr][: MAX_LEN.get(vr, 64)] if vr in DUMMY else None
    if text is not None and vr in RAW_TEXT_VRS and text.isascii():
        return raw_element(tag, vr, text, implicit)
    return None


def _element(ds: Dataset, tag: int, raw) -> DataElement:
    """``ds[tag]``: a raw UID or sequence is made into the element pydicom's conversion
    makes from its decoded value alone (converting the whole element costs more)."""
    value = None
    vr = raw_vr(raw) if type(raw) is RawDataElement else raw.VR
    if type(raw) is RawDataElement and vr == "SQ":
        value = decoded(ds, tag, raw)
    elif vr == "UI" and (text := raw_text(raw)) is not None:
        value = UID(text)
    if value is None:
        return ds[tag]
    ds[tag] = elem = DataElement(tag, vr, value, already_converted=True)
    return elem


def _set(ds: Dataset, tag: int, vr: str, value: str | bytes, implicit: bool) -> None:
    """Set an element, directly when its value is encoded already or ASCII text."""
    if isinstance(value, bytes) or value.isascii():
        ds[tag] = raw_element(tag, vr, value, implicit)
    else:
        ds[tag] = DataElement(tag, vr, value)


def _marker_values(engine: Engine, implicit: bool) -> tuple[tuple[int, str, str | bytes], ...]:
    """The identity-removed markers of ``engine``'s profile, the code sequence encoded."""
    seq = Sequence()
    for value, meaning in engine.codes:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        seq.append(item)
    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, implicit
    write_data_element(buf, DataElement(0x00120064, "SQ", seq))
    return ((0x00120062, "CS", "YES"), (0x00120063, "LO", "\\".join(engine.method)),
            (0x00120064, "SQ", buf.getvalue()[8 if implicit else 12:]),
            (0x00280303, "CS", engine.long_flag))


def _method_values(profile: Profile) -> list[str]:
    text = [f"workbench {__version__}", f"profile {profile.name}"[:64],
            f"sha256 {profile.hash[:16]}", f"PS3.15 E.1-1 {TABLE_EDITION}"]
    return text


class _Values(dict):
    def __missing__(self, key: str) -> str:
        raise ProfileError(
            f"template field {{{key}}} has no value: add a {key!r} column to the lookup table, "
            f"pass it on the command line (e.g. --site for site_id), or fix the profile. "
            f"Known fields: {', '.join(sorted(self))}.")


def render(template: str, values: dict[str, str]) -> str:
    """Fill a profile template such as ``"{subject_id}_{timepoint}"``."""
    return template.format_map(_Values(values))
