"""DICOMDIR: a Media Storage Directory describing one copied instance, with correct offsets."""

from __future__ import annotations

from io import BytesIO

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import ExplicitVRLittleEndian, MediaStorageDirectoryStorage

from .common import _item
from .people import _Person
from .writer import _Writer


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
