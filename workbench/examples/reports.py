"""Reports: an encapsulated PDF and a Comprehensive SR naming the patient."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydicom.uid import ComprehensiveSRStorage, EncapsulatedPDFStorage

from .common import _RIS, _code, _da, _dt, _item
from .people import _Person, _Study
from .writer import _Writer, _base, _series


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


def _write_reports(
    w: _Writer, p: _Person, study: _Study
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Encapsulated PDF report and Comprehensive SR."""
    when = study.start + timedelta(hours=2)
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
    return doc, sr
