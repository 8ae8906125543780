"""Fictional sites and patients: the ``_SITES`` table and the person maker.

Each site has its own character repertoire, name pools and addresses;
:func:`_person` invents one patient, with two studies, from the seed and the
patient's index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from .common import _da, _uid


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


def _person(seed: int, index: int, subject_number: int, used: set[str]) -> _Person:
    """Invent patient ``index`` from a generator seeded by (seed, index)."""
    rng = np.random.default_rng([seed, index])
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
                uid=_uid(seed, index, label, "study"),
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
        ref_patient_uid=_uid(seed, index, "patient"),
        studies=studies,
    )
