"""Deterministic synthetic trial delivery with planted fake identifiers.

:func:`generate` writes a DICOM tree laid out as a hospital would send it
(PET-CT with RT objects, a screen capture, a PDF report and an SR, plus a
follow-up MR), the subject and imaging-event lookup tables a trial would
supply, and ``planted.json``: every fake identifier and where it was hidden,
so that de-identification can be checked against ground truth.

Layout under ``out``::

    delivery/<SURNAME>_<GIVEN>_<PatientID>/
        <YYYYMMDD>_PETCT/CT_2/IM000001.dcm ...   CT (overlay on IM000001)
                         PT_3/                   PET, Bq/ml, Philips SUV factors
                         RTSTRUCT_4/ RTPLAN_5/ RTDOSE_6/
                         SC_90/                  PET MIP screen capture, burned-in name
                         DOC_91/REPORT_<SURNAME>.dcm   encapsulated PDF
                         SR_92/                  Comprehensive SR
        <YYYYMMDD>_MR/MR_1/                      follow-up MR, 90 days later
    subjects.csv   PatientID,subject_id,site_id
    events.csv     AccessionNumber,image_event_id,PatientID
    planted.json   the :class:`Planted` record

All names, numbers and addresses are invented. The same arguments always
give byte-identical files.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.pixels import pack_bits
from pydicom.uid import (
    ComprehensiveSRStorage,
    CTImageStorage,
    EncapsulatedPDFStorage,
    ExplicitVRLittleEndian,
    MediaStorageDirectoryStorage,
    MRImageStorage,
    PositronEmissionTomographyImageStorage,
    RTDoseStorage,
    RTPlanStorage,
    RTStructureSetStorage,
    SecondaryCaptureImageStorage,
)

from workbench.pet import PHILIPS_PET_CREATOR, suv_bw_factor

SIEMENS_CREATOR = "SIEMENS MEDCOM HEADER"
GE_CREATOR = "GEMS_IDEN_01"
PHILIPS_CREATOR = "Philips Imaging DD 001"
SIEMENS_NAME_ELEMENT = 0x60
"""(0029,xx60) under SIEMENS MEDCOM HEADER holds the patient name (LO), on CT."""
GE_ID_ELEMENT = 0x10
"""(0009,xx10) under GEMS_IDEN_01 holds the patient ID (LO), on MR."""
PHILIPS_NAME_ELEMENT = 0x9C
"""(2001,xx9C) under Philips Imaging DD 001 holds the patient name (LO), on PET."""

PET_SLICES = 20
PET_SIZE = 128
MR_SLICES = 20
MR_SIZE = 256
SC_SIZE = 512
CT_FOV_MM = 500.0
CT_THICKNESS_MM = 3.0
MR_FOV_MM = 400.0
MR_THICKNESS_MM = 6.0
HALF_LIFE_F18_S = 6586.2

_UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "workbench.examples")
_DETACHED_PATIENT_SOP = "1.2.840.10008.3.1.2.1.1"
_DETACHED_STUDY_SOP = "1.2.840.10008.3.1.2.3.1"

# Tissue labels of the phantom: air, fat, soft tissue, lung, bone, spinal cord, tumour.
_CT_HU = np.array([-1000, -100, 40, -850, 700, 30, 45], dtype=np.float32)
_PET_SUV = np.array([0.0, 0.4, 1.0, 0.35, 1.6, 1.0, 9.0], dtype=np.float32)
_MR_SIGNAL = np.array([0, 900, 450, 40, 200, 1100, 700], dtype=np.float32)
_TUMOUR_CENTRE = (-80.0, -15.0)
_TUMOUR_RADIUS = 15.0

_SIEMENS = ("SIEMENS", "Biograph Vision 600", "VG80B")
_PHILIPS = ("Philips Medical Systems", "Vereos PET/CT", "3.5.1")
_GE = ("GE MEDICAL SYSTEMS", "SIGNA Premier", "RX29.1")
_VARIAN = ("Varian Medical Systems", "Eclipse", "16.1")
_RIS = ("Agfa", "Enterprise Imaging", "8.2")


@dataclass(frozen=True)
class _Site:
    """A fictional hospital and the name pools of its patients and staff."""

    site_id: str
    charset: str | None
    surnames: tuple[tuple[str, str], ...]
    given: tuple[tuple[str, str, str], ...]
    staff: tuple[str, ...]
    streets: tuple[str, ...]
    towns: tuple[str, ...]
    address_format: str
    phone_prefix: str
    institution: str
    institution_address: str
    station: str
    serial: str
    issuer: str
    accession_prefix: str


_SITES = (
    _Site(
        site_id="SITE01",
        charset=None,
        surnames=(
            ("Whitfield", "WHITFIELD"), ("Ashworth", "ASHWORTH"), ("Pemberton", "PEMBERTON"),
            ("Hargreaves", "HARGREAVES"), ("Thornbury", "THORNBURY"), ("Blackwood", "BLACKWOOD"),
        ),
        given=(
            ("Margaret", "MARGARET", "F"), ("Graham", "GRAHAM", "M"), ("Eleanor", "ELEANOR", "F"),
            ("Desmond", "DESMOND", "M"), ("Harriet", "HARRIET", "F"), ("Rupert", "RUPERT", "M"),
        ),
        staff=(
            "Okonkwo^Adaeze^^Dr", "Fenwick^Alistair^^Dr", "Lacey^Thomas", "Brampton^Fiona",
            "Castleford^Ian^^Dr", "Merriweather^Joan",
        ),
        streets=("Larch Close", "Mill Lane", "Ferncliffe Road", "Quarry Street"),
        towns=("Harrogate HG9 7QT", "Winchester SO99 4XE", "Skipton BD99 2LN"),
        address_format="{n} {street}, {town}",
        phone_prefix="+44 20 7946 0",
        institution="Royal Wessex Infirmary",
        institution_address="Infirmary Road, Winchester SO99 9ZZ, United Kingdom",
        station="RWI-PETCT1",
        serial="RWI0042917",
        issuer="NHS",
        accession_prefix="RWX",
    ),
    _Site(
        site_id="SITE02",
        charset="ISO_IR 100",
        surnames=(
            ("Müller", "MULLER"), ("Schröder", "SCHRODER"), ("Böhm", "BOHM"), ("Jäger", "JAGER"),
            ("Köhler", "KOHLER"), ("Lefèvre", "LEFEVRE"), ("Núñez", "NUNEZ"),
        ),
        given=(
            ("Jürgen", "JURGEN", "M"), ("Björn", "BJORN", "M"), ("Hélène", "HELENE", "F"),
            ("Zoë", "ZOE", "F"), ("Käthe", "KATHE", "F"), ("Jörg", "JORG", "M"),
        ),
        staff=(
            "Krüger^Mathilde^^Dr.", "Weiß^Günther^^Prof. Dr.", "Özdemir^Selin", "Brandt^Søren",
            "Hübner^Agnès^^Dr.", "Dörfler^Kai",
        ),
        streets=("Bäckerweg", "Lindenstraße", "Mühlgasse", "Am Gänsemarkt"),
        towns=("37085 Göttingen", "34117 Kassel", "99084 Erfurt"),
        address_format="{street} {n}, {town}",
        phone_prefix="+49 551 3990 ",
        institution="Universitätsklinikum Südstadt",
        institution_address="Klinikstraße 12, 37099 Göttingen, Deutschland",
        station="UKS-PETCT2",
        serial="UKS7781402",
        issuer="AOK",
        accession_prefix="UKS",
    ),
    _Site(
        site_id="SITE03",
        charset="ISO_IR 192",
        surnames=(
            ("Παπαδόπουλος", "PAPADOPOULOS"), ("Γεωργίου", "GEORGIOU"),
            ("Κωνσταντινίδης", "KONSTANTINIDIS"), ("Αλεξίου", "ALEXIOU"),
            ("Νικολαΐδης", "NIKOLAIDIS"),
        ),
        given=(
            ("Νίκος", "NIKOS", "M"), ("Ελένη", "ELENI", "F"), ("Δημήτρης", "DIMITRIS", "M"),
            ("Σοφία", "SOFIA", "F"), ("Γιώργος", "GIORGOS", "M"),
        ),
        staff=(
            "Οικονόμου^Μαρία^^Δρ", "Βλάχος^Ιωάννης^^Δρ", "Σταματίου^Άννα", "Καραγιάννης^Πέτρος",
            "Μιχαηλίδου^Χρυσάνθη^^Δρ", "Ζαχαρίου^Λευτέρης",
        ),
        streets=("Οδός Ερμού", "Οδός Αθηνάς", "Λεωφόρος Κηφισίας", "Οδός Πατησίων"),
        towns=("105 63 Αθήνα", "115 26 Αθήνα", "546 22 Θεσσαλονίκη"),
        address_format="{street} {n}, {town}",
        phone_prefix="+30 210 7654 ",
        institution="Νοσοκομείο Αγία Ελπίδα",
        institution_address="Λεωφόρος Βασιλίσσης Σοφίας 45, 106 76 Αθήνα, Ελλάδα",
        station="NAE-PETCT3",
        serial="NAE5520193",
        issuer="AMKA",
        accession_prefix="NAE",
    ),
)


@dataclass
class _Study:
    """One imaging event of a patient."""

    uid: str
    accession: str
    event_id: str
    day: date
    start: datetime
    label: str
    procedure: str
    description: str
    series: list[dict[str, Any]] = field(default_factory=list)

    @property
    def folder(self) -> str:
        """Study folder name: date and label."""
        return f"{_da(self.day)}_{self.label}"


@dataclass
class _Person:
    """Everything invented about one patient."""

    index: int
    site: _Site
    subject_id: str
    patient_id: str
    surname: str
    given: str
    ascii_surname: str
    ascii_given: str
    sex: str
    birth: date
    weight_kg: float
    height_m: float
    address: str
    phone: str
    other_id: str
    birth_surname: str
    mother_surname: str
    staff: list[str]
    dose_bq: float
    injection: datetime
    pet_start: datetime
    ref_patient_uid: str
    studies: list[_Study]

    @property
    def name(self) -> str:
        """The DICOM PN value."""
        return f"{self.surname}^{self.given}"

    @property
    def folder(self) -> str:
        """Patient folder name as written by the hospital's export tool."""
        return f"{self.ascii_surname}_{self.ascii_given}_{self.patient_id}"

    @property
    def burned_name(self) -> str:
        """The name as a scanner burns it into pixels (ASCII, upper case)."""
        return f"{self.ascii_surname}, {self.ascii_given}"

    def age_on(self, day: date) -> str:
        """PatientAge (AS) on a given day."""
        before_birthday = (day.month, day.day) < (self.birth.month, self.birth.day)
        return f"{day.year - self.birth.year - before_birthday:03d}Y"


@dataclass
class Planted:
    """Record of a generated delivery and of every identifier planted in it.

    Attributes
    ----------
    root : Path
        The ``out`` folder given to :func:`generate`.
    delivery : Path
        The DICOM tree (``root / "delivery"``).
    subjects_csv, events_csv : Path
        Lookup tables (PatientID -> subject_id, site_id; AccessionNumber ->
        image_event_id, PatientID).
    patients : list of dict
        Per patient: ``patient_id``, ``subject_id``, ``site_id``, ``name`` (PN),
        ``charset`` (SpecificCharacterSet, None for the default repertoire),
        ``ascii_name``, ``folder``, ``birth_date``, ``sex``, ``weight_kg``,
        ``height_m``, ``accession_numbers``, ``image_event_ids``,
        ``study_uids``, ``study_dates`` (PET-CT first, then MR),
        ``frame_of_reference_uid`` (shared by CT, PET and RT),
        ``suv_bw_factor`` and ``studies``: ``study_uid``,
        ``accession_number``, ``image_event_id``, ``study_date``,
        ``description``, ``folder`` and ``series`` (``uid``, ``number``,
        ``modality``, ``sop_class_uid``, ``description``, ``folder``,
        ``files`` and their ``sop_uids``).
    identifiers : list of dict
        ``patient_id``, ``value`` (text as it would be searched for), ``where``
        (attribute keyword, ``/``-separated sequence path whose value is
        searched in every item, ``(gggg,eeee)`` tag, ``(gggg,xxee) CREATOR``
        private element, ``EncapsulatedDocument`` (PDF bytes, ASCII text), or
        one of ``folder name``, ``file name``, ``overlay``, ``pixels``),
        ``kind`` (name, id, date, address, phone, accession, institution,
        uid), ``path`` (a file or folder holding it, relative to
        ``delivery``, POSIX) and ``in_pixels`` (True for burned-in text and
        overlay bits, which hold the ASCII upper-case form of the name).
    bad_files : list of dict
        ``path`` (relative to ``delivery``), ``problem`` (not_dicom, dicomdir,
        truncated, missing_patient_id, duplicate, conflicting_sop_instance_uid)
        and, for copies, ``of`` (the original's path).
    parameters : dict
        The arguments of :func:`generate` (without ``out``).
    """

    root: Path
    delivery: Path
    subjects_csv: Path
    events_csv: Path
    patients: list[dict[str, Any]]
    identifiers: list[dict[str, Any]]
    bad_files: list[dict[str, str]]
    parameters: dict[str, Any]

    def to_json(self) -> str:
        """Serialise with paths relative to :attr:`root` (no absolute paths)."""
        doc = {
            "parameters": self.parameters,
            "delivery": self.delivery.relative_to(self.root).as_posix(),
            "subjects_csv": self.subjects_csv.relative_to(self.root).as_posix(),
            "events_csv": self.events_csv.relative_to(self.root).as_posix(),
            "patients": self.patients,
            "identifiers": self.identifiers,
            "bad_files": self.bad_files,
        }
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, path: str | Path) -> Planted:
        """Load ``planted.json``; paths resolve against the file's folder."""
        path = Path(path)
        doc = json.loads(path.read_text(encoding="utf-8"))
        root = path.parent
        return cls(
            root=root,
            delivery=root / doc["delivery"],
            subjects_csv=root / doc["subjects_csv"],
            events_csv=root / doc["events_csv"],
            patients=doc["patients"],
            identifiers=doc["identifiers"],
            bad_files=doc["bad_files"],
            parameters=doc["parameters"],
        )


class _Writer:
    """Writes files under the delivery folder and records planted identifiers."""

    def __init__(self, delivery: Path, seed: int) -> None:
        self.delivery = delivery
        self.seed = seed
        self.identifiers: list[dict[str, Any]] = []

    def uid(self, *parts: object) -> str:
        """A UID derived from the seed and ``parts``: ``2.25.`` plus a name-based UUID."""
        name = "/".join(map(str, (self.seed, *parts)))
        return f"2.25.{uuid.uuid5(_UID_NAMESPACE, name).int}"

    def save(self, ds: Dataset, rel: str) -> str:
        """Write ``ds`` as a Part 10 file (Explicit VR Little Endian) at ``rel``."""
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta = meta
        path = self.delivery / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        return rel

    def add(self, series: dict[str, Any], ds: Dataset, name: str) -> None:
        """Save ``ds`` as file ``name`` of ``series`` and register it there."""
        series["files"].append(self.save(ds, f"{series['folder']}/{name}"))
        series["sop_uids"].append(ds.SOPInstanceUID)

    def plant(
        self, p: _Person, value: str, where: str, kind: str, path: str, in_pixels: bool = False
    ) -> None:
        """Record one planted identifier."""
        self.identifiers.append(
            {
                "patient_id": p.patient_id,
                "value": value,
                "where": where,
                "kind": kind,
                "path": path,
                "in_pixels": in_pixels,
            }
        )


def _ds(value: float) -> str:
    """Format a float as a DICOM DS string of at most 16 characters."""
    for digits in range(12, 0, -1):
        text = f"{value:.{digits}g}"
        if len(text) <= 16:
            return text
    raise ValueError(f"cannot format {value!r} as DS")


def _da(day: date) -> str:
    return day.strftime("%Y%m%d")


def _tm(moment: datetime) -> str:
    return moment.strftime("%H%M%S")


def _dt(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S")


def _item(**attributes: Any) -> Dataset:
    """A dataset (sequence item) with the given keyword attributes."""
    ds = Dataset()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    return _item(CodeValue=value, CodingSchemeDesignator=scheme, CodeMeaning=meaning)


def _components(pn: str) -> list[str]:
    """Name components of 3+ characters, as they would be searched for in text."""
    return [c for c in pn.split("^") if len(c) >= 3]


def _text_mask(text: str, shape: tuple[int, int], size: int) -> np.ndarray:
    """Render one line of ASCII text at the top left with Pillow's default font.

    Parameters
    ----------
    text : str
        The text.
    shape : tuple of int
        (rows, columns) of the mask.
    size : int
        Font size in pixels.

    Returns
    -------
    numpy.ndarray
        Boolean array of ``shape``, True on glyph pixels.
    """
    image = Image.new("1", (shape[1], shape[0]), 0)
    margin = max(2, size // 2)
    ImageDraw.Draw(image).text(
        (margin, margin), text, font=ImageFont.load_default(size=size), fill=1
    )
    return np.array(image, dtype=bool)


def _overlay_size(rows: int) -> int:
    """Font size of the overlay text on a CT slice with ``rows`` rows."""
    return max(8, rows // 24)


def _grid(size: int, fov: float) -> tuple[np.ndarray, float]:
    """Pixel-centre coordinates (mm) along one axis, and the pixel spacing."""
    spacing = fov / size
    return -fov / 2.0 + (np.arange(size, dtype=np.float32) + 0.5) * spacing, spacing


def _lung_scale(z: float, extent: float) -> float:
    """Lungs narrow to half their size along the scanned range."""
    return 1.0 - 0.5 * min(max(-z / extent, 0.0), 1.0)


def _labels(x: np.ndarray, y: np.ndarray, z: float, extent: float, tumour_z: float) -> np.ndarray:
    """Tissue labels of the body phantom on one axial plane.

    Parameters
    ----------
    x : numpy.ndarray
        Patient x (mm, LPS) of the columns, shape (1, W).
    y : numpy.ndarray
        Patient y (mm, LPS) of the rows, shape (H, 1).
    z : float
        Slice position (mm); scans run from 0 downwards.
    extent : float
        Length of the scanned range (mm).
    tumour_z : float
        z of the centre of the spherical tumour in the right lung.

    Returns
    -------
    numpy.ndarray
        uint8 labels indexing ``_CT_HU``, ``_PET_SUV`` and ``_MR_SIGNAL``, shape (H, W).
    """
    labels = np.zeros((y.shape[0], x.shape[1]), dtype=np.uint8)
    labels[(x / 170.0) ** 2 + ((y - 10.0) / 115.0) ** 2 <= 1.0] = 1
    labels[(x / 160.0) ** 2 + ((y - 10.0) / 105.0) ** 2 <= 1.0] = 2
    scale = _lung_scale(z, extent)
    for cx in (-75.0, 75.0):
        labels[((x - cx) / (55.0 * scale)) ** 2 + ((y + 5.0) / (75.0 * scale)) ** 2 <= 1.0] = 3
    spine = x**2 + (y - 80.0) ** 2
    labels[spine <= 18.0**2] = 4
    labels[spine <= 7.0**2] = 5
    tx, ty = _TUMOUR_CENTRE
    labels[(x - tx) ** 2 + (y - ty) ** 2 + (z - tumour_z) ** 2 <= _TUMOUR_RADIUS**2] = 6
    return labels


def _ellipse(cx: float, cy: float, ax: float, ay: float, z: float, n: int = 24) -> list[str]:
    """ContourData (DS strings) of an axial ellipse."""
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    points = np.stack([cx + ax * np.cos(t), cy + ay * np.sin(t), np.full(n, z)], axis=1)
    return [f"{v:.2f}" for v in points.ravel()]


def _pdf(lines: list[str]) -> bytes:
    """A one-page PDF showing ASCII text lines in Helvetica."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    ops = ["BT", "/F1 12 Tf", "72 770 Td"]
    ops += [f"{'0 -18 Td ' if i else ''}({escape(line)}) Tj" for i, line in enumerate(lines)]
    ops.append("ET")
    stream = "\n".join(ops).encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _draw_unique(
    rng: np.random.Generator, used: set[str], make: Callable[[np.random.Generator], str]
) -> str:
    """Draw ``make(rng)`` until the value is not in ``used``, then add it there."""
    value = make(rng)
    while value in used:
        value = make(rng)
    used.add(value)
    return value


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())


def _person(w: _Writer, index: int, subject_number: int, used: set[str]) -> _Person:
    """Invent patient ``index`` from a generator seeded by (seed, index)."""
    rng = np.random.default_rng([w.seed, index])
    site = _SITES[index % len(_SITES)]
    surnames = rng.permutation(len(site.surnames))
    surname, ascii_surname = site.surnames[surnames[0]]
    given, ascii_given, sex = site.given[rng.integers(len(site.given))]
    staff = [site.staff[i] for i in rng.permutation(len(site.staff))[:5]]
    birth = date(1940, 1, 1) + timedelta(days=int(rng.integers(0, 35 * 365)))
    day_a = date(2023, 1, 9) + timedelta(days=int(rng.integers(0, 300)))
    injection = _midnight(day_a) + timedelta(
        minutes=int(450 + rng.integers(0, 240)), seconds=int(rng.integers(0, 60))
    )
    pet_start = injection + timedelta(minutes=int(rng.integers(55, 71)))
    mr_start = _midnight(day_a + timedelta(days=90)) + timedelta(
        hours=10, minutes=int(rng.integers(0, 120))
    )
    patient_id = _draw_unique(rng, used, lambda r: str(r.integers(10_000_000, 100_000_000)))
    other_id = _draw_unique(rng, used, lambda r: str(r.integers(1_000_000_000, 10_000_000_000)))
    address = site.address_format.format(
        n=int(rng.integers(1, 200)),
        street=site.streets[rng.integers(len(site.streets))],
        town=site.towns[rng.integers(len(site.towns))],
    )
    phone = f"{site.phone_prefix}{int(rng.integers(0, 1000)):03d}"
    weight = round(float(rng.uniform(52.0, 105.0)), 1)
    height = round(float(rng.uniform(1.52, 1.92)), 2)
    dose = round(float(rng.uniform(250e6, 420e6)), -5)
    studies = []
    for label, start, procedure, description in (
        ("PETCT", pet_start - timedelta(minutes=4), "PET-CT whole body", f"PET-CT WB {surname}"),
        ("MR", mr_start, "MR thorax", "MR THORAX"),
    ):
        accession = _draw_unique(
            rng, used, lambda r: f"{site.accession_prefix}{int(r.integers(0, 10_000_000)):07d}"
        )
        event_id = _draw_unique(rng, used, lambda r: f"EV{int(r.integers(0, 1_000_000)):06d}")
        studies.append(
            _Study(
                uid=w.uid(index, label, "study"),
                accession=accession,
                event_id=event_id,
                day=start.date(),
                start=start,
                label=label,
                procedure=procedure,
                description=description,
            )
        )
    return _Person(
        index=index,
        site=site,
        subject_id=f"{site.site_id}-{subject_number:04d}",
        patient_id=patient_id,
        surname=surname,
        given=given,
        ascii_surname=ascii_surname,
        ascii_given=ascii_given,
        sex=sex,
        birth=birth,
        weight_kg=weight,
        height_m=height,
        address=address,
        phone=phone,
        other_id=other_id,
        birth_surname=site.surnames[surnames[1]][0],
        mother_surname=site.surnames[surnames[2]][0],
        staff=staff,
        dose_bq=dose,
        injection=injection,
        pet_start=pet_start,
        ref_patient_uid=w.uid(index, "patient"),
        studies=studies,
    )


def _series(
    w: _Writer,
    p: _Person,
    study: _Study,
    label: str,
    number: int,
    sop_class: str,
    description: str,
    start: datetime,
    vendor: tuple[str, str, str],
    modality: str | None = None,
) -> dict[str, Any]:
    """Register a series of ``study`` in folder ``<label>_<number>``; modality defaults to label."""
    series = {
        "uid": w.uid(p.index, study.label, label, "series"),
        "number": number,
        "modality": modality or label,
        "sop_class_uid": sop_class,
        "description": description,
        "folder": f"{p.folder}/{study.folder}/{label}_{number}",
        "start": start,
        "vendor": vendor,
        "files": [],
        "sop_uids": [],
    }
    study.series.append(series)
    return series


def _base(
    p: _Person, study: _Study, series: dict[str, Any], sop_uid: str, number: int, when: datetime
) -> Dataset:
    """Patient, study, series, equipment and request attributes shared by every object."""
    site = p.site
    ds = Dataset()
    if site.charset:
        ds.SpecificCharacterSet = site.charset
    ds.SOPClassUID = series["sop_class_uid"]
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = _da(study.day)
    ds.StudyTime = _tm(study.start)
    ds.SeriesDate = _da(series["start"])
    ds.SeriesTime = _tm(series["start"])
    ds.ContentDate = _da(when)
    ds.ContentTime = _tm(when)
    ds.AccessionNumber = study.accession
    ds.Modality = series["modality"]
    ds.Manufacturer, ds.ManufacturerModelName, ds.SoftwareVersions = series["vendor"]
    ds.InstitutionName = site.institution
    ds.InstitutionAddress = site.institution_address
    ds.ReferringPhysicianName = p.staff[0]
    ds.StationName = site.station
    ds.DeviceSerialNumber = site.serial
    ds.StudyDescription = study.description
    ds.ProcedureCodeSequence = [_code(study.label, "99RIS", study.procedure)]
    ds.SeriesDescription = series["description"]
    ds.PerformingPhysicianName = p.staff[1]
    ds.OperatorsName = p.staff[2]
    ds.ReferencedPatientSequence = [
        _item(
            ReferencedSOPClassUID=_DETACHED_PATIENT_SOP, ReferencedSOPInstanceUID=p.ref_patient_uid
        )
    ]
    ds.PatientName = p.name
    ds.PatientID = p.patient_id
    ds.IssuerOfPatientID = site.institution
    ds.PatientBirthDate = _da(p.birth)
    ds.PatientSex = p.sex
    ds.OtherPatientIDs = p.other_id
    ds.OtherPatientIDsSequence = [
        _item(PatientID=p.other_id, IssuerOfPatientID=site.issuer, TypeOfPatientID="TEXT")
    ]
    ds.OtherPatientNames = f"{p.birth_surname}^{p.given}"
    ds.PatientAge = p.age_on(study.day)
    ds.PatientSize = _ds(p.height_m)
    ds.PatientWeight = _ds(p.weight_kg)
    ds.PatientAddress = p.address
    ds.PatientMotherBirthName = p.mother_surname
    ds.PatientTelephoneNumbers = p.phone
    ds.StudyInstanceUID = study.uid
    ds.SeriesInstanceUID = series["uid"]
    ds.StudyID = study.accession
    ds.SeriesNumber = series["number"]
    ds.InstanceNumber = number
    ds.RequestAttributesSequence = [
        _item(
            RequestedProcedureID=study.accession,
            ScheduledProcedureStepID=f"S{study.accession}",
            RequestedProcedureDescription=study.procedure,
        )
    ]
    return ds


def _image(
    ds: Dataset,
    pixels: np.ndarray,
    spacing: float,
    thickness: float,
    z: float,
    frame_of_reference: str,
) -> None:
    """Add acquisition, plane and pixel attributes of an axial slice centred on the isocentre."""
    origin = -spacing * pixels.shape[1] / 2.0 + spacing / 2.0
    ds.AcquisitionDate = ds.SeriesDate
    ds.AcquisitionTime = ds.SeriesTime
    ds.PatientPosition = "HFS"
    ds.FrameOfReferenceUID = frame_of_reference
    ds.PositionReferenceIndicator = ""
    ds.ImagePositionPatient = [_ds(origin), _ds(origin), _ds(z)]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.SliceLocation = _ds(z)
    ds.SliceThickness = _ds(thickness)
    ds.PixelSpacing = [_ds(spacing), _ds(spacing)]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = int(pixels.dtype == np.int16)
    ds.PixelData = pixels.tobytes()


def _write_ct(
    w: _Writer, p: _Person, study: _Study, slices: int, size: int, rng: np.random.Generator
) -> dict[str, Any]:
    """CT series of the body phantom; IM000001 carries the name as an overlay."""
    series = _series(w, p, study, "CT", 2, CTImageStorage, "CT WB 3.0 Br38", study.start, _SIEMENS)
    series["frame"] = w.uid(p.index, "PETCT", "frame-of-reference")
    series["extent"] = max((slices - 1) * CT_THICKNESS_MM, 1.0)
    series["tumour_z"] = -round(0.4 * (slices - 1)) * CT_THICKNESS_MM
    series["z"] = [-i * CT_THICKNESS_MM for i in range(slices)]
    coords, spacing = _grid(size, CT_FOV_MM)
    for i, z in enumerate(series["z"]):
        labels = _labels(coords[None, :], coords[:, None], z, series["extent"], series["tumour_z"])
        hu = _CT_HU[labels] + np.where(labels > 0, rng.normal(0.0, 10.0, labels.shape), 0.0)
        stored = np.clip(np.rint(hu + 1024.0), 0, 4095).astype(np.int16)
        ds = _base(p, study, series, w.uid(p.index, "ct", i), i + 1, study.start)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.KVP = "120"
        ds.ConvolutionKernel = "Br38"
        ds.ImageComments = f"{p.given} {p.surname} WB staging"
        _image(ds, stored, spacing, CT_THICKNESS_MM, z, series["frame"])
        ds.RescaleIntercept = "-1024"
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.WindowCenter = "40"
        ds.WindowWidth = "400"
        siemens = ds.private_block(0x0029, SIEMENS_CREATOR, create=True)
        siemens.add_new(0x08, "CS", "IMAGE NUM 4")
        siemens.add_new(SIEMENS_NAME_ELEMENT, "LO", p.name)
        if i == 0:
            mask = _text_mask(p.burned_name, (size, size), _overlay_size(size))
            ds.add_new(0x60000010, "US", size)
            ds.add_new(0x60000011, "US", size)
            ds.add_new(0x60000022, "LO", f"{p.given} {p.surname}")
            ds.add_new(0x60000040, "CS", "G")
            ds.add_new(0x60000050, "SS", [1, 1])
            ds.add_new(0x60000100, "US", 1)
            ds.add_new(0x60000102, "US", 0)
            ds.add_new(0x60003000, "OW", pack_bits(mask.astype(np.uint8).ravel()))
        w.add(series, ds, f"IM{i + 1:06d}.dcm")
    return series


def _pet_module(ds: Dataset, p: _Person) -> Dataset:
    """Add the PET series, isotope and patient-weight attributes SUV needs; return ``ds``."""
    ds.PatientWeight = _ds(p.weight_kg)
    ds.SeriesType = ["WHOLE BODY", "IMAGE"]
    ds.Units = "BQML"
    ds.CountsSource = "EMISSION"
    ds.DecayCorrection = "START"
    ds.CorrectedImage = ["DECY", "ATTN", "SCAT", "DTIM", "RAN", "NORM"]
    ds.RadiopharmaceuticalInformationSequence = [
        _item(
            Radiopharmaceutical="Fluorodeoxyglucose",
            RadiopharmaceuticalStartTime=_tm(p.injection),
            RadiopharmaceuticalStartDateTime=_dt(p.injection),
            RadionuclideTotalDose=_ds(p.dose_bq),
            RadionuclideHalfLife=_ds(HALF_LIFE_F18_S),
            RadionuclidePositronFraction="0.9673",
            RadionuclideCodeSequence=[_code("C-111A1", "SRT", "^18^Fluorine")],
            RadiopharmaceuticalCodeSequence=[
                _code("C-B1031", "SRT", "Fluorodeoxyglucose F^18^")
            ],
        )
    ]
    return ds


def _write_pet(
    w: _Writer, p: _Person, study: _Study, ct: dict[str, Any], rng: np.random.Generator
) -> tuple[dict[str, Any], np.ndarray]:
    """PET series in Bq/ml with per-slice slopes and Philips SUV factors; also returns SUV."""
    series = _series(
        w, p, study, "PT", 3, PositronEmissionTomographyImageStorage, "PET WB AC", p.pet_start,
        _PHILIPS,
    )
    header = _item(SeriesDate=_da(p.pet_start), SeriesTime=_tm(p.pet_start))
    factor = suv_bw_factor(_pet_module(header, p))
    series["suv_bw_factor"] = factor
    series["thickness"] = len(ct["z"]) * CT_THICKNESS_MM / PET_SLICES
    coords, spacing = _grid(PET_SIZE, CT_FOV_MM)
    suv = np.zeros((PET_SLICES, PET_SIZE, PET_SIZE), dtype=np.float32)
    for j in range(PET_SLICES):
        z = -j * series["thickness"]
        labels = _labels(coords[None, :], coords[:, None], z, ct["extent"], ct["tumour_z"])
        suv[j] = _PET_SUV[labels] * np.clip(rng.normal(1.0, 0.08, labels.shape), 0.0, None)
        activity = suv[j] / factor
        peak = float(activity.max())
        slope = _ds(peak / 32767.0) if peak > 0 else "1"
        stored = np.clip(np.rint(activity / float(slope)), 0, 65535).astype(np.uint16)
        ds = _pet_module(_base(p, study, series, w.uid(p.index, "pt", j), j + 1, p.pet_start), p)
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        ds.ReconstructionMethod = "OSEM 3i15s"
        ds.NumberOfSlices = PET_SLICES
        ds.ImageIndex = j + 1
        ds.FrameReferenceTime = "0"
        ds.ActualFrameDuration = 120000
        _image(ds, stored, spacing, series["thickness"], z, ct["frame"])
        ds.RescaleIntercept = "0"
        ds.RescaleSlope = slope
        philips = ds.private_block(0x2001, PHILIPS_CREATOR, create=True)
        philips.add_new(PHILIPS_NAME_ELEMENT, "LO", p.name)
        pet = ds.private_block(0x7053, PHILIPS_PET_CREATOR, create=True)
        pet.add_new(0x00, "DS", _ds(factor))
        pet.add_new(0x09, "DS", "1")
        w.add(series, ds, f"IM{j + 1:06d}.dcm")
    return series, suv


def _write_rt(
    w: _Writer, p: _Person, study: _Study, ct: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """RTSTRUCT on the CT, RTPLAN on the RTSTRUCT, RTDOSE on the RTPLAN."""
    when = study.start + timedelta(hours=5)
    tx, ty = _TUMOUR_CENTRE
    tumour_z = ct["tumour_z"]

    def image_ref(i: int) -> Dataset:
        uid = ct["sop_uids"][i]
        return _item(ReferencedSOPClassUID=CTImageStorage, ReferencedSOPInstanceUID=uid)

    rois = {
        "GTV": ("GTV", [255, 0, 0]),
        "PTV": ("PTV", [255, 128, 0]),
        "Lung_L": ("ORGAN", [0, 128, 255]),
        "Lung_R": ("ORGAN", [0, 200, 255]),
        "SpinalCord": ("ORGAN", [255, 255, 0]),
    }
    contours: dict[str, list[tuple[int, list[str]]]] = {name: [] for name in rois}
    for i, z in enumerate(ct["z"]):
        scale = _lung_scale(z, ct["extent"])
        shapes = {
            "Lung_L": (75.0, -5.0, 55.0 * scale, 75.0 * scale),
            "Lung_R": (-75.0, -5.0, 55.0 * scale, 75.0 * scale),
            "SpinalCord": (0.0, 80.0, 7.0, 7.0),
        }
        for name, radius in (("GTV", _TUMOUR_RADIUS), ("PTV", _TUMOUR_RADIUS + 5.0)):
            if abs(z - tumour_z) < radius:
                r = float(np.sqrt(radius**2 - (z - tumour_z) ** 2))
                shapes[name] = (tx, ty, r, r)
        for name, (cx, cy, ax, ay) in shapes.items():
            contours[name].append((i, _ellipse(cx, cy, ax, ay, z)))

    struct = _series(
        w, p, study, "RTSTRUCT", 4, RTStructureSetStorage, "RT structures", when, _VARIAN
    )
    ds = _base(p, study, struct, w.uid(p.index, "rtstruct"), 1, when)
    ds.StructureSetLabel = "PETCT_RT"
    ds.StructureSetDate = _da(when)
    ds.StructureSetTime = _tm(when)
    ds.FrameOfReferenceUID = ct["frame"]
    ds.ReferencedFrameOfReferenceSequence = [
        _item(
            FrameOfReferenceUID=ct["frame"],
            RTReferencedStudySequence=[
                _item(
                    ReferencedSOPClassUID=_DETACHED_STUDY_SOP,
                    ReferencedSOPInstanceUID=study.uid,
                    RTReferencedSeriesSequence=[
                        _item(
                            SeriesInstanceUID=ct["uid"],
                            ContourImageSequence=[image_ref(i) for i in range(len(ct["z"]))],
                        )
                    ],
                )
            ],
        )
    ]
    ds.StructureSetROISequence = [
        _item(
            ROINumber=n,
            ReferencedFrameOfReferenceUID=ct["frame"],
            ROIName=name,
            ROIGenerationAlgorithm="MANUAL",
        )
        for n, name in enumerate(rois, start=1)
    ]
    ds.ROIContourSequence = [
        _item(
            ReferencedROINumber=n,
            ROIDisplayColor=color,
            ContourSequence=[
                _item(
                    ContourImageSequence=[image_ref(i)],
                    ContourGeometricType="CLOSED_PLANAR",
                    NumberOfContourPoints=len(points) // 3,
                    ContourNumber=k,
                    ContourData=points,
                )
                for k, (i, points) in enumerate(contours[name], start=1)
            ],
        )
        for n, (name, (_, color)) in enumerate(rois.items(), start=1)
    ]
    ds.RTROIObservationsSequence = [
        _item(
            ObservationNumber=n,
            ReferencedROINumber=n,
            RTROIInterpretedType=kind,
            ROIInterpreter="",
        )
        for n, (kind, _) in enumerate(rois.values(), start=1)
    ]
    ds.ApprovalStatus = "UNAPPROVED"
    w.add(struct, ds, "IM000001.dcm")

    plan = _series(w, p, study, "RTPLAN", 5, RTPlanStorage, "RT plan", when, _VARIAN)
    ds = _base(p, study, plan, w.uid(p.index, "rtplan"), 1, when)
    ds.FrameOfReferenceUID = ct["frame"]
    ds.RTPlanLabel = "LUNG_R 60Gy"
    ds.RTPlanName = "Lung R radical"
    ds.RTPlanDate = _da(when)
    ds.RTPlanTime = _tm(when)
    ds.RTPlanGeometry = "PATIENT"
    ds.ApprovalStatus = "APPROVED"
    ds.ReviewDate = _da(when)
    ds.ReviewTime = _tm(when)
    ds.ReviewerName = p.staff[3]
    ds.ReferencedStructureSetSequence = [
        _item(
            ReferencedSOPClassUID=RTStructureSetStorage,
            ReferencedSOPInstanceUID=struct["sop_uids"][0],
        )
    ]
    ds.FractionGroupSequence = [
        _item(
            FractionGroupNumber=1,
            NumberOfFractionsPlanned=30,
            NumberOfBeams=0,
            NumberOfBrachyApplicationSetups=0,
        )
    ]
    w.add(plan, ds, "IM000001.dcm")

    dose = _series(w, p, study, "RTDOSE", 6, RTDoseStorage, "RT dose", when, _VARIAN)
    ds = _base(p, study, dose, w.uid(p.index, "rtdose"), 1, when)
    n, frames, step = 32, 8, 5.0
    axis = (np.arange(n, dtype=np.float32) - (n - 1) / 2.0) * step
    offsets = -np.arange(frames, dtype=np.float32) * step
    z0 = tumour_z + (frames - 1) * step / 2.0
    dz = (z0 + offsets - tumour_z)[:, None, None]
    r2 = axis[None, None, :] ** 2 + axis[None, :, None] ** 2 + dz**2
    scaling = _ds(60.0 / 65535.0)
    stored = np.rint(60.0 * np.exp(-r2 / (2 * 20.0**2)) / float(scaling))
    ds.FrameOfReferenceUID = ct["frame"]
    ds.ImagePositionPatient = [_ds(tx + float(axis[0])), _ds(ty + float(axis[0])), _ds(z0)]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.PixelSpacing = [_ds(step), _ds(step)]
    ds.SliceThickness = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.NumberOfFrames = frames
    ds.FrameIncrementPointer = 0x3004000C
    ds.Rows = ds.Columns = n
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.DoseUnits = "GY"
    ds.DoseType = "PHYSICAL"
    ds.DoseSummationType = "PLAN"
    ds.GridFrameOffsetVector = [_ds(float(v)) for v in offsets]
    ds.DoseGridScaling = scaling
    ds.ReferencedRTPlanSequence = [
        _item(ReferencedSOPClassUID=RTPlanStorage, ReferencedSOPInstanceUID=plan["sop_uids"][0])
    ]
    ds.PixelData = np.clip(stored, 0, 65535).astype(np.uint16).tobytes()
    w.add(dose, ds, "IM000001.dcm")
    return struct, plan, dose


def _write_reports(
    w: _Writer, p: _Person, study: _Study, pet: dict[str, Any], suv: np.ndarray
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Screen capture with burned-in name, encapsulated PDF report and Comprehensive SR."""
    when = study.start + timedelta(hours=2)
    sc = _series(
        w, p, study, "SC", 90, SecondaryCaptureImageStorage, "PET MIP screen capture", when,
        _PHILIPS, modality="PT",
    )
    image = Image.new("RGB", (SC_SIZE, SC_SIZE), (0, 0, 0))
    mip = np.clip(suv.max(axis=1) / 6.0, 0.0, 1.0)
    height = max(32, round(SC_SIZE * suv.shape[0] * pet["thickness"] / CT_FOV_MM))
    picture = Image.fromarray((255 * (1.0 - mip)).astype(np.uint8), "L").resize(
        (SC_SIZE, height), Image.Resampling.BILINEAR
    )
    image.paste(picture.convert("RGB"), (0, 160))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=28)
    draw.text((14, 14), p.burned_name, font=font, fill=(255, 255, 0))
    draw.text((14, 56), f"ID {p.patient_id}  DOB {_da(p.birth)}", font=font, fill=(255, 255, 0))
    draw.text((14, 98), "FDG PET MIP", font=font, fill=(255, 255, 255))
    ds = _base(p, study, sc, w.uid(p.index, "sc"), 1, when)
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.ConversionType = "WSD"
    ds.BurnedInAnnotation = "YES"
    ds.PatientOrientation = ""
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows = ds.Columns = SC_SIZE
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = np.asarray(image, dtype=np.uint8).tobytes()
    w.add(sc, ds, "IM000001.dcm")

    doc = _series(w, p, study, "DOC", 91, EncapsulatedPDFStorage, "Report", when, _RIS)
    pdf = _pdf(
        [
            "FDG PET-CT whole body report",
            f"Patient: {p.burned_name}   ID: {p.patient_id}   DOB: {_da(p.birth)}",
            f"Accession: {study.accession}   Date: {_da(study.day)}",
            "Findings: FDG-avid nodule in the right lower lobe, SUVmax 9.0.",
        ]
    )
    ds = _base(p, study, doc, w.uid(p.index, "pdf"), 1, when)
    ds.ConversionType = "WSD"
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = "PET-CT report"
    ds.ConceptNameCodeSequence = [_code("18748-4", "LN", "Diagnostic imaging report")]
    ds.AcquisitionDateTime = _dt(when)
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.EncapsulatedDocument = pdf + b"\0" * (len(pdf) % 2)
    w.add(doc, ds, f"REPORT_{p.ascii_surname}.dcm")

    sr = _series(
        w, p, study, "SR", 92, ComprehensiveSRStorage, "PET-CT structured report", when, _RIS
    )
    ds = _base(p, study, sr, w.uid(p.index, "sr"), 1, when)
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [_code("18748-4", "LN", "Diagnostic imaging report")]
    ds.ContinuityOfContent = "SEPARATE"
    ds.ContentTemplateSequence = [_item(MappingResource="DCMR", TemplateIdentifier="2000")]
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "VERIFIED"
    ds.VerifyingObserverSequence = [
        _item(
            VerifyingObserverName=p.staff[4],
            VerifyingOrganization=p.site.institution,
            VerificationDateTime=_dt(when),
            VerifyingObserverIdentificationCodeSequence=[],
        )
    ]
    ds.PerformedProcedureCodeSequence = [_code(study.label, "99RIS", study.procedure)]
    ds.ContentSequence = [
        _item(
            RelationshipType="HAS OBS CONTEXT",
            ValueType="PNAME",
            ConceptNameCodeSequence=[_code("121029", "DCM", "Subject Name")],
            PersonName=p.name,
        ),
        _item(
            RelationshipType="CONTAINS",
            ValueType="TEXT",
            ConceptNameCodeSequence=[_code("121071", "DCM", "Finding")],
            TextValue=(
                f"{p.given} {p.surname} (ID {p.patient_id}): FDG-avid nodule in the right "
                "lower lobe, SUVmax 9.0."
            ),
        ),
    ]
    w.add(sr, ds, "IM000001.dcm")
    return sc, doc, sr


def _write_mr(
    w: _Writer, p: _Person, study: _Study, ct: dict[str, Any], rng: np.random.Generator
) -> dict[str, Any]:
    """Follow-up MR series; its SeriesDescription carries the patient ID."""
    description = f"AX T2 {p.patient_id}"
    series = _series(w, p, study, "MR", 1, MRImageStorage, description, study.start, _GE)
    frame = w.uid(p.index, "MR", "frame-of-reference")
    coords, spacing = _grid(MR_SIZE, MR_FOV_MM)
    for j in range(MR_SLICES):
        z = -j * MR_THICKNESS_MM
        labels = _labels(coords[None, :], coords[:, None], z, ct["extent"], ct["tumour_z"])
        signal = _MR_SIGNAL[labels] + np.abs(rng.normal(0.0, 15.0, labels.shape))
        stored = np.clip(np.rint(signal), 0, 4095).astype(np.uint16)
        ds = _base(p, study, series, w.uid(p.index, "mr", j), j + 1, study.start)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
        ds.ScanningSequence = "SE"
        ds.SequenceVariant = "SK"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "2D"
        ds.RepetitionTime = "4000"
        ds.EchoTime = "90"
        ds.EchoTrainLength = 16
        ds.MagneticFieldStrength = "3"
        _image(ds, stored, spacing, MR_THICKNESS_MM, z, frame)
        ge = ds.private_block(0x0009, GE_CREATOR, create=True)
        ge.add_new(0x01, "LO", "GE_GENESIS_FF")
        ge.add_new(GE_ID_ELEMENT, "LO", p.patient_id)
        w.add(series, ds, f"IM{j + 1:06d}.dcm")
    return series


def _record_identifiers(w: _Writer, p: _Person, s: dict[str, dict[str, Any]]) -> None:
    """Record each identifier planted for ``p`` with one file (or folder) that holds it."""
    ct, pet, mr = s["ct"]["files"][0], s["pet"]["files"][0], s["mr"]["files"][0]
    sc, pdf, sr = s["sc"]["files"][0], s["doc"]["files"][0], s["sr"]["files"][0]
    rtstruct, rtplan, rtdose = (s[k]["files"][0] for k in ("rtstruct", "rtplan", "rtdose"))
    siemens = f"(0029,xx{SIEMENS_NAME_ELEMENT:02X}) {SIEMENS_CREATOR}"
    philips = f"(2001,xx{PHILIPS_NAME_ELEMENT:02X}) {PHILIPS_CREATOR}"
    ge = f"(0009,xx{GE_ID_ELEMENT:02X}) {GE_CREATOR}"
    for value in _components(p.name):
        for where in ("PatientName", "ImageComments", "(6000,0022)", siemens):
            w.plant(p, value, where, "name", ct)
        w.plant(p, value, philips, "name", pet)
        w.plant(p, value, "ContentSequence/PersonName", "name", sr)
        w.plant(p, value, "ContentSequence/TextValue", "name", sr)
    w.plant(p, p.surname, "StudyDescription", "name", ct)
    w.plant(p, p.birth_surname, "OtherPatientNames", "name", ct)
    w.plant(p, p.mother_surname, "PatientMotherBirthName", "name", ct)
    for where, pn, path in (
        ("ReferringPhysicianName", p.staff[0], ct),
        ("PerformingPhysicianName", p.staff[1], ct),
        ("OperatorsName", p.staff[2], ct),
        ("ReviewerName", p.staff[3], rtplan),
        ("VerifyingObserverSequence/VerifyingObserverName", p.staff[4], sr),
    ):
        w.plant(p, pn.split("^")[0], where, "name", path)
    w.plant(p, p.patient_id, "PatientID", "id", ct)
    w.plant(p, p.patient_id, ge, "id", mr)
    w.plant(p, p.patient_id, "SeriesDescription", "id", mr)
    w.plant(p, p.patient_id, "ContentSequence/TextValue", "id", sr)
    w.plant(p, p.other_id, "OtherPatientIDs", "id", ct)
    w.plant(p, p.other_id, "OtherPatientIDsSequence/PatientID", "id", ct)
    w.plant(p, p.site.serial, "DeviceSerialNumber", "id", ct)
    w.plant(p, _da(p.birth), "PatientBirthDate", "date", ct)
    w.plant(p, p.address, "PatientAddress", "address", ct)
    w.plant(p, p.site.institution_address, "InstitutionAddress", "address", ct)
    w.plant(p, p.phone, "PatientTelephoneNumbers", "phone", ct)
    w.plant(p, p.site.institution, "InstitutionName", "institution", ct)
    w.plant(p, p.site.station, "StationName", "institution", ct)
    for study, path in zip(p.studies, (ct, mr), strict=True):
        for where in (
            "AccessionNumber",
            "StudyID",
            "RequestAttributesSequence/RequestedProcedureID",
            "RequestAttributesSequence/ScheduledProcedureStepID",
        ):
            w.plant(p, study.accession, where, "accession", path)
        w.plant(p, _da(study.day), "StudyDate", "date", path)
        w.plant(p, _da(study.day), "folder name", "date", f"{p.folder}/{study.folder}")
        w.plant(p, study.uid, "StudyInstanceUID", "uid", path)
    w.plant(
        p,
        _da(p.injection),
        "RadiopharmaceuticalInformationSequence/RadiopharmaceuticalStartDateTime",
        "date",
        pet,
    )
    w.plant(p, p.ref_patient_uid, "ReferencedPatientSequence/ReferencedSOPInstanceUID", "uid", ct)
    w.plant(p, s["ct"]["frame"], "FrameOfReferenceUID", "uid", ct)
    w.plant(
        p,
        s["ct"]["sop_uids"][0],
        "ReferencedFrameOfReferenceSequence/RTReferencedStudySequence/RTReferencedSeriesSequence"
        "/ContourImageSequence/ReferencedSOPInstanceUID",
        "uid",
        rtstruct,
    )
    w.plant(
        p,
        s["rtstruct"]["sop_uids"][0],
        "ReferencedStructureSetSequence/ReferencedSOPInstanceUID",
        "uid",
        rtplan,
    )
    w.plant(
        p,
        s["rtplan"]["sop_uids"][0],
        "ReferencedRTPlanSequence/ReferencedSOPInstanceUID",
        "uid",
        rtdose,
    )
    for value in (p.ascii_surname, p.ascii_given):
        w.plant(p, value, "overlay", "name", ct, in_pixels=True)
        w.plant(p, value, "pixels", "name", sc, in_pixels=True)
        w.plant(p, value, "EncapsulatedDocument", "name", pdf)
        w.plant(p, value, "folder name", "name", p.folder)
    w.plant(p, p.patient_id, "pixels", "id", sc, in_pixels=True)
    w.plant(p, _da(p.birth), "pixels", "date", sc, in_pixels=True)
    w.plant(p, p.patient_id, "EncapsulatedDocument", "id", pdf)
    w.plant(p, _da(p.birth), "EncapsulatedDocument", "date", pdf)
    w.plant(p, _da(p.studies[0].day), "EncapsulatedDocument", "date", pdf)
    w.plant(p, p.studies[0].accession, "EncapsulatedDocument", "accession", pdf)
    w.plant(p, p.patient_id, "folder name", "id", p.folder)
    w.plant(p, p.ascii_surname, "file name", "name", pdf)


def _patient_record(p: _Person, ct: dict[str, Any], pet: dict[str, Any]) -> dict[str, Any]:
    """The JSON-ready description of a written patient."""
    series_keys = (
        "uid", "number", "modality", "sop_class_uid", "description", "folder", "files", "sop_uids"
    )
    return {
        "patient_id": p.patient_id,
        "subject_id": p.subject_id,
        "site_id": p.site.site_id,
        "name": p.name,
        "charset": p.site.charset,
        "ascii_name": f"{p.ascii_surname}^{p.ascii_given}",
        "folder": p.folder,
        "birth_date": _da(p.birth),
        "sex": p.sex,
        "weight_kg": p.weight_kg,
        "height_m": p.height_m,
        "accession_numbers": [s.accession for s in p.studies],
        "image_event_ids": [s.event_id for s in p.studies],
        "study_uids": [s.uid for s in p.studies],
        "study_dates": [_da(s.day) for s in p.studies],
        "frame_of_reference_uid": ct["frame"],
        "suv_bw_factor": pet["suv_bw_factor"],
        "studies": [
            {
                "study_uid": s.uid,
                "accession_number": s.accession,
                "image_event_id": s.event_id,
                "study_date": _da(s.day),
                "description": s.description,
                "folder": f"{p.folder}/{s.folder}",
                "series": [{key: se[key] for key in series_keys} for se in s.series],
            }
            for s in p.studies
        ],
    }


def _write_patient(w: _Writer, p: _Person, ct_slices: int, ct_size: int) -> dict[str, Any]:
    """Write both studies of ``p``, record the plants and return the patient record."""
    rng = np.random.default_rng([w.seed, p.index, 1])
    petct, follow_up = p.studies
    ct = _write_ct(w, p, petct, ct_slices, ct_size, rng)
    pet, suv = _write_pet(w, p, petct, ct, rng)
    rtstruct, rtplan, rtdose = _write_rt(w, p, petct, ct)
    sc, doc, sr = _write_reports(w, p, petct, pet, suv)
    mr = _write_mr(w, p, follow_up, ct, rng)
    _record_identifiers(
        w,
        p,
        {
            "ct": ct, "pet": pet, "rtstruct": rtstruct, "rtplan": rtplan, "rtdose": rtdose,
            "sc": sc, "doc": doc, "sr": sr, "mr": mr,
        },
    )
    return _patient_record(p, ct, pet)


def _dicomdir(w: _Writer, p: _Person, copy_rel: str, file_id: list[str]) -> bytes:
    """A Media Storage Directory (DICOMDIR) file describing one copied instance."""
    source = dcmread(w.delivery / copy_rel)
    records = [
        _item(DirectoryRecordType="PATIENT", PatientName=p.name, PatientID=p.patient_id),
        _item(
            DirectoryRecordType="STUDY",
            StudyDate=source.StudyDate,
            StudyTime=source.StudyTime,
            StudyDescription=source.StudyDescription,
            StudyInstanceUID=source.StudyInstanceUID,
            StudyID=source.StudyID,
            AccessionNumber=source.AccessionNumber,
        ),
        _item(
            DirectoryRecordType="SERIES",
            Modality=source.Modality,
            SeriesInstanceUID=source.SeriesInstanceUID,
            SeriesNumber=source.SeriesNumber,
        ),
        _item(
            DirectoryRecordType="IMAGE",
            ReferencedFileID=file_id,
            ReferencedSOPClassUIDInFile=source.SOPClassUID,
            ReferencedSOPInstanceUIDInFile=source.SOPInstanceUID,
            ReferencedTransferSyntaxUIDInFile=source.file_meta.TransferSyntaxUID,
            InstanceNumber=source.InstanceNumber,
        ),
    ]
    for record in records:
        record.OffsetOfTheNextDirectoryRecord = 0
        record.RecordInUseFlag = 0xFFFF
        record.OffsetOfReferencedLowerLevelDirectoryEntity = 0
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MediaStorageDirectoryStorage
    ds.file_meta.MediaStorageSOPInstanceUID = w.uid("DICOMDIR")
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if p.site.charset:
        ds.SpecificCharacterSet = p.site.charset
    ds.FileSetID = "CD2"
    ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.FileSetConsistencyFlag = 0
    ds.DirectoryRecordSequence = records

    def encode() -> bytes:
        buffer = BytesIO()
        dcmwrite(buffer, ds, enforce_file_format=True)
        return buffer.getvalue()

    # Offsets count from the first byte of the file. The records hold no nested
    # sequences, so the item tags after (0004,1220) start the records in order;
    # filling in the UL offsets does not change any length.
    draft = encode()
    cursor = draft.index(b"\x04\x00\x20\x12SQ")
    positions = []
    for _ in records:
        cursor = draft.index(b"\xfe\xff\x00\xe0", cursor + 1)
        positions.append(cursor)
    ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = positions[0]
    ds.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = positions[0]
    for record, child in zip(records[:-1], positions[1:], strict=True):
        record.OffsetOfReferencedLowerLevelDirectoryEntity = child
    return encode()


def _write_bad_inputs(w: _Writer, p: _Person, record: dict[str, Any]) -> list[dict[str, str]]:
    """Add the problem files real deliveries contain, using patient ``p``'s CT."""
    delivery = w.delivery
    ct_files = record["studies"][0]["series"][0]["files"]
    ct_folder = ct_files[0].rsplit("/", 1)[0]
    study_folder = ct_folder.rsplit("/", 1)[0]
    bad: list[dict[str, str]] = []

    (delivery / "notes.txt").write_text(
        "Transfer notes\nTwo CDs burned from PACS; the second is a partial re-send.\n",
        encoding="utf-8",
    )
    bad.append({"path": "notes.txt", "problem": "not_dicom"})

    copy_rel, dicomdir_rel = "CD2/DICOM/IM000001", "CD2/DICOMDIR"
    (delivery / copy_rel).parent.mkdir(parents=True)
    (delivery / copy_rel).write_bytes((delivery / ct_files[0]).read_bytes())
    (delivery / dicomdir_rel).write_bytes(_dicomdir(w, p, copy_rel, ["DICOM", "IM000001"]))
    bad.append({"path": dicomdir_rel, "problem": "dicomdir"})
    bad.append({"path": copy_rel, "problem": "duplicate", "of": ct_files[0]})
    for value in _components(p.name):
        w.plant(p, value, "DirectoryRecordSequence/PatientName", "name", dicomdir_rel)
    w.plant(p, p.patient_id, "DirectoryRecordSequence/PatientID", "id", dicomdir_rel)

    source = ct_files[1 % len(ct_files)]
    data = (delivery / source).read_bytes()
    truncated = f"{ct_folder}/IM{len(ct_files) + 1:06d}.dcm"
    (delivery / truncated).write_bytes(data[: len(data) // 2])
    bad.append({"path": truncated, "problem": "truncated", "of": source})

    ds = dcmread(delivery / source)
    del ds.PatientID
    ds.SeriesInstanceUID = w.uid(p.index, "CT without PatientID", "series")
    ds.SOPInstanceUID = w.uid(p.index, "CT without PatientID")
    ds.SeriesNumber = 99
    ds.InstanceNumber = 1
    ds.SeriesDescription = "CT export"
    missing = w.save(ds, f"{study_folder}/CT_99/IM000001.dcm")
    bad.append({"path": missing, "problem": "missing_patient_id"})

    original = ct_files[2 % len(ct_files)]
    ds = dcmread(delivery / original)
    ds.PixelData = np.clip(ds.pixel_array + 25, 0, 4095).astype(np.int16).tobytes()
    ds.WindowCenter = "-600"
    ds.WindowWidth = "1500"
    conflict = w.save(ds, f"{study_folder}/CT_2_RESENT/{original.rsplit('/', 1)[1]}")
    bad.append({"path": conflict, "problem": "conflicting_sop_instance_uid", "of": original})
    return bad


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def generate(
    out: str | Path,
    patients: int = 3,
    seed: int = 0,
    *,
    ct_slices: int = 40,
    ct_size: int = 512,
    bad_inputs: bool = False,
) -> Planted:
    """Write a synthetic hospital delivery with planted fake identifiers.

    Parameters
    ----------
    out : str or Path
        Output folder; receives ``delivery/``, ``subjects.csv``,
        ``events.csv`` and ``planted.json``. Nothing is written elsewhere.
    patients : int
        Number of patients. Patient ``i`` belongs to SITE01, SITE02 or
        SITE03 for ``i % 3`` = 0, 1, 2, whose files use the default character
        repertoire, ISO_IR 100 (Latin-1) and ISO_IR 192 (UTF-8, Greek).
    seed : int
        Seed of every random draw and UID; a patient's data depend only on
        the seed and the patient's index.
    ct_slices : int
        Slices of each CT series, 3 mm apart.
    ct_size : int
        Rows and columns of each CT slice (500 mm field of view).
    bad_inputs : bool
        Also write a non-DICOM file, a DICOMDIR with an identical copy of a
        CT file (a second CD), a truncated file, a CT file without
        PatientID and a file reusing a CT SOP Instance UID with other pixels.

    Returns
    -------
    Planted
        The record also written to ``out/planted.json``.

    Raises
    ------
    FileExistsError
        If ``out/delivery`` exists and is not empty.
    ValueError
        If an argument is out of range.
    """
    if patients < 1 or seed < 0 or ct_slices < 1 or ct_size < 32:
        raise ValueError(
            "need patients >= 1, seed >= 0, ct_slices >= 1 and ct_size >= 32; got "
            f"patients={patients}, seed={seed}, ct_slices={ct_slices}, ct_size={ct_size}"
        )
    root = Path(out)
    delivery = root / "delivery"
    if delivery.exists() and any(delivery.iterdir()):
        raise FileExistsError(
            f"{delivery} already exists and is not empty; "
            "generate into a new folder or remove the old delivery first"
        )
    delivery.mkdir(parents=True, exist_ok=True)
    w = _Writer(delivery, seed)
    used: set[str] = set()
    per_site: dict[str, int] = {}
    people: list[_Person] = []
    records: list[dict[str, Any]] = []
    for index in range(patients):
        site_id = _SITES[index % len(_SITES)].site_id
        per_site[site_id] = per_site.get(site_id, 0) + 1
        people.append(_person(w, index, per_site[site_id], used))
        records.append(_write_patient(w, people[-1], ct_slices, ct_size))
    bad = _write_bad_inputs(w, people[0], records[0]) if bad_inputs else []

    subjects_csv = root / "subjects.csv"
    events_csv = root / "events.csv"
    _write_csv(
        subjects_csv,
        ["PatientID", "subject_id", "site_id"],
        [[p.patient_id, p.subject_id, p.site.site_id] for p in people],
    )
    _write_csv(
        events_csv,
        ["AccessionNumber", "image_event_id", "PatientID"],
        [[s.accession, s.event_id, p.patient_id] for p in people for s in p.studies],
    )
    planted = Planted(
        root=root,
        delivery=delivery,
        subjects_csv=subjects_csv,
        events_csv=events_csv,
        patients=records,
        identifiers=w.identifiers,
        bad_files=bad,
        parameters={
            "patients": patients,
            "seed": seed,
            "ct_slices": ct_slices,
            "ct_size": ct_size,
            "bad_inputs": bad_inputs,
        },
    )
    (root / "planted.json").write_text(planted.to_json(), encoding="utf-8")
    return planted
