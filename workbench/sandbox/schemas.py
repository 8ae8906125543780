"""Minimal XNAT data-model schemas served by the sandbox at ``/xapi/schemas/{name}``.

These are small hand-written XSDs, not XNAT's own ``xnat.xsd``. They declare only
the types, fields and listing elements that xnatpy needs to build its classes
(project, subject, experiment and image-session types, scans, resources, sharing)
and that pyxnat needs to look up field paths.
"""

from __future__ import annotations

#: Session types served by the sandbox, keyed by DICOM modality.
SESSION_TYPES: dict[str, str] = {
    "MR": "xnat:mrSessionData",
    "CT": "xnat:ctSessionData",
    "PT": "xnat:petSessionData",
    "CR": "xnat:crSessionData",
    "DX": "xnat:dxSessionData",
    "MG": "xnat:mgSessionData",
    "US": "xnat:usSessionData",
    "NM": "xnat:nmSessionData",
    "XA": "xnat:xaSessionData",
}
OTHER_SESSION_TYPE = "xnat:otherDicomSessionData"

#: Scan types served by the sandbox, keyed by DICOM modality.
SCAN_TYPES: dict[str, str] = {
    "MR": "xnat:mrScanData",
    "CT": "xnat:ctScanData",
    "PT": "xnat:petScanData",
    "CR": "xnat:crScanData",
    "DX": "xnat:dxScanData",
    "MG": "xnat:mgScanData",
    "US": "xnat:usScanData",
    "NM": "xnat:nmScanData",
    "XA": "xnat:xaScanData",
    "SC": "xnat:scScanData",
}
OTHER_SCAN_TYPE = "xnat:otherDicomScanData"

_HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<!-- Minimal data model of the workbench sandbox XNAT stand-in (not XNAT's xnat.xsd). -->
<xs:schema targetNamespace="http://nrg.wustl.edu/{ns}" xmlns:xnat="http://nrg.wustl.edu/xnat" \
xmlns:xdat="http://nrg.wustl.edu/xdat" xmlns:xs="http://www.w3.org/2001/XMLSchema" \
elementFormDefault="qualified" attributeFormDefault="unqualified">
"""

_RESOURCES = """      <xs:element name="resources" minOccurs="0">
        <xs:complexType>
          <xs:sequence>
            <xs:element name="resource" type="xnat:abstractResource"
                        minOccurs="0" maxOccurs="unbounded"/>
          </xs:sequence>
        </xs:complexType>
      </xs:element>
"""

_SHARING = """      <xs:element name="sharing" minOccurs="0">
        <xs:complexType>
          <xs:sequence>
            <xs:element name="share" type="xnat:projectShare" minOccurs="0" maxOccurs="unbounded"/>
          </xs:sequence>
        </xs:complexType>
      </xs:element>
"""

_CORE = """  <xs:element name="Project" type="xnat:projectData"/>
  <xs:element name="Subject" type="xnat:subjectData"/>
  <xs:complexType name="projectShare">
    <xs:attribute name="project" type="xs:string" use="required"/>
    <xs:attribute name="label" type="xs:string"/>
  </xs:complexType>
  <xs:complexType name="abstractResource">
    <xs:annotation>
      <xs:appinfo><xdat:element abstract="true" displayIdentifiers="label"/></xs:appinfo>
    </xs:annotation>
    <xs:sequence>
      <xs:element name="note" type="xs:string" minOccurs="0"/>
    </xs:sequence>
    <xs:attribute name="label" type="xs:string"/>
    <xs:attribute name="file_count" type="xs:integer"/>
    <xs:attribute name="file_size" type="xs:long"/>
  </xs:complexType>
  <xs:complexType name="resource">
    <xs:complexContent>
      <xs:extension base="xnat:abstractResource">
        <xs:attribute name="URI" type="xs:string"/>
        <xs:attribute name="format" type="xs:string"/>
        <xs:attribute name="description" type="xs:string"/>
        <xs:attribute name="content" type="xs:string"/>
      </xs:extension>
    </xs:complexContent>
  </xs:complexType>
  <xs:complexType name="resourceCatalog">
    <xs:complexContent>
      <xs:extension base="xnat:resource"/>
    </xs:complexContent>
  </xs:complexType>
  <xs:complexType name="projectData">
    <xs:sequence>
      <xs:element name="name" type="xs:string"/>
      <xs:element name="description" type="xs:string" minOccurs="0"/>
      <xs:element name="keywords" type="xs:string" minOccurs="0"/>
    </xs:sequence>
    <xs:attribute name="ID" type="xs:string" use="required"/>
    <xs:attribute name="secondary_ID" type="xs:string"/>
  </xs:complexType>
  <xs:complexType name="subjectData">
    <xs:annotation>
      <xs:appinfo><xdat:element displayIdentifiers="label"/></xs:appinfo>
    </xs:annotation>
    <xs:sequence>
      <xs:element name="group" type="xs:string" minOccurs="0"/>
      <xs:element name="src" type="xs:string" minOccurs="0"/>
      <xs:element name="experiments" minOccurs="0">
        <xs:complexType>
          <xs:sequence>
            <xs:element name="experiment" type="xnat:subjectAssessorData"
                        minOccurs="0" maxOccurs="unbounded"/>
          </xs:sequence>
        </xs:complexType>
      </xs:element>
{resources}{sharing}    </xs:sequence>
    <xs:attribute name="ID" type="xs:string"/>
    <xs:attribute name="project" type="xs:string"/>
    <xs:attribute name="label" type="xs:string"/>
  </xs:complexType>
  <xs:complexType name="experimentData">
    <xs:annotation>
      <xs:appinfo><xdat:element displayIdentifiers="label"/></xs:appinfo>
    </xs:annotation>
    <xs:sequence>
      <xs:element name="date" type="xs:date" minOccurs="0"/>
      <xs:element name="time" type="xs:time" minOccurs="0"/>
      <xs:element name="note" type="xs:string" minOccurs="0"/>
      <xs:element name="visit_id" type="xs:string" minOccurs="0"/>
{resources}{sharing}    </xs:sequence>
    <xs:attribute name="ID" type="xs:string"/>
    <xs:attribute name="project" type="xs:string"/>
    <xs:attribute name="label" type="xs:string"/>
  </xs:complexType>
  <xs:complexType name="subjectAssessorData">
    <xs:annotation>
      <xs:appinfo><xdat:element displayIdentifiers="label"/></xs:appinfo>
    </xs:annotation>
    <xs:complexContent>
      <xs:extension base="xnat:experimentData">
        <xs:sequence>
          <xs:element name="subject_ID" type="xs:string" minOccurs="0"/>
        </xs:sequence>
      </xs:extension>
    </xs:complexContent>
  </xs:complexType>
  <xs:complexType name="imageSessionData">
    <xs:complexContent>
      <xs:extension base="xnat:subjectAssessorData">
        <xs:sequence>
          <xs:element name="scanner" type="xs:string" minOccurs="0"/>
          <xs:element name="operator" type="xs:string" minOccurs="0"/>
          <xs:element name="prearchivePath" type="xs:string" minOccurs="0"/>
          <xs:element name="dcmAccessionNumber" type="xs:string" minOccurs="0"/>
          <xs:element name="dcmPatientId" type="xs:string" minOccurs="0"/>
          <xs:element name="dcmPatientName" type="xs:string" minOccurs="0"/>
          <xs:element name="session_type" type="xs:string" minOccurs="0"/>
          <xs:element name="modality" type="xs:string" minOccurs="0"/>
          <xs:element name="UID" type="xs:string" minOccurs="0"/>
          <xs:element name="scans" minOccurs="0">
            <xs:complexType>
              <xs:sequence>
                <xs:element name="scan" type="xnat:imageScanData"
                            minOccurs="0" maxOccurs="unbounded"/>
              </xs:sequence>
            </xs:complexType>
          </xs:element>
        </xs:sequence>
      </xs:extension>
    </xs:complexContent>
  </xs:complexType>
  <xs:complexType name="imageScanData">
    <xs:annotation><xs:appinfo><xdat:element displayIdentifiers="ID"/></xs:appinfo></xs:annotation>
    <xs:sequence>
      <xs:element name="note" type="xs:string" minOccurs="0"/>
      <xs:element name="quality" type="xs:string" minOccurs="0"/>
      <xs:element name="condition" type="xs:string" minOccurs="0"/>
      <xs:element name="series_description" type="xs:string" minOccurs="0"/>
      <xs:element name="documentation" type="xs:string" minOccurs="0"/>
      <xs:element name="scanner" type="xs:string" minOccurs="0"/>
      <xs:element name="modality" type="xs:string" minOccurs="0"/>
      <xs:element name="frames" type="xs:integer" minOccurs="0"/>
{resources}    </xs:sequence>
    <xs:attribute name="ID" type="xs:string" use="required"/>
    <xs:attribute name="type" type="xs:string"/>
    <xs:attribute name="UID" type="xs:string"/>
    <xs:attribute name="project" type="xs:string"/>
    <xs:attribute name="image_session_ID" type="xs:string"/>
  </xs:complexType>
  <xs:complexType name="mrSessionData">
    <xs:complexContent>
      <xs:extension base="xnat:imageSessionData">
        <xs:sequence>
          <xs:element name="coil" type="xs:string" minOccurs="0"/>
          <xs:element name="fieldStrength" type="xs:string" minOccurs="0"/>
          <xs:element name="marker" type="xs:string" minOccurs="0"/>
          <xs:element name="stabilization" type="xs:string" minOccurs="0"/>
        </xs:sequence>
      </xs:extension>
    </xs:complexContent>
  </xs:complexType>
  <xs:complexType name="petSessionData">
    <xs:complexContent>
      <xs:extension base="xnat:imageSessionData">
        <xs:sequence>
          <xs:element name="studyType" type="xs:string" minOccurs="0"/>
        </xs:sequence>
      </xs:extension>
    </xs:complexContent>
  </xs:complexType>
"""

_EXTENSION = """  <xs:complexType name="{name}">
    <xs:complexContent>
      <xs:extension base="xnat:{base}"/>
    </xs:complexContent>
  </xs:complexType>
"""

_XDAT = """  <xs:complexType name="user">
    <xs:sequence>
      <xs:element name="firstname" type="xs:string" minOccurs="0"/>
      <xs:element name="lastname" type="xs:string" minOccurs="0"/>
      <xs:element name="email" type="xs:string" minOccurs="0"/>
    </xs:sequence>
    <xs:attribute name="login" type="xs:string" use="required"/>
  </xs:complexType>
"""


def _xnat_schema() -> str:
    """Build the ``xnat`` schema text."""
    core = _CORE.format(resources=_RESOURCES, sharing=_SHARING)
    simple_sessions = [t for t in (*SESSION_TYPES.values(), OTHER_SESSION_TYPE)
                       if t not in ("xnat:mrSessionData", "xnat:petSessionData")]
    extensions = [_EXTENSION.format(name=t.split(":")[1], base="imageSessionData")
                  for t in simple_sessions]
    extensions += [_EXTENSION.format(name=t.split(":")[1], base="imageScanData")
                   for t in (*SCAN_TYPES.values(), OTHER_SCAN_TYPE)]
    return _HEADER.format(ns="xnat") + core + "".join(extensions) + "</xs:schema>\n"


#: Schema texts keyed by the name used in ``/xapi/schemas/{name}``.
SCHEMAS: dict[str, str] = {
    "xnat": _xnat_schema(),
    "xdat": _HEADER.format(ns="xdat") + _XDAT + "</xs:schema>\n",
}
