"""Load, validate and resolve de-identification profiles.

A profile (YAML, see ``workbench/profiles/README.md``) starts from DICOM PS3.15 Table
E.1-1, adds Annex E options and per-trial overrides, and resolves to a
:class:`Plan`, which says what happens to any attribute at any depth and which
rule decided it. The engine, the verifier, review's tag diff and
``workbench profiles show`` all ask :meth:`Plan.action`. The standard's part (action
codes, options, Table E.1-1) is :mod:`workbench.ps315`.

Examples
--------
>>> p = load_profile("ps315-basic")
>>> p.plan.action(0x00100010, "PN").code
<Code.EMPTY: 'Z'>
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydicom.datadict import get_entry, keyword_for_tag, tag_for_keyword
from pydicom.tag import Tag

from .dicomio import dictionary_vr
from .errors import ProfileError
from .ps315 import (OPTIONS, TABLE_EDITION, Action, Code, resolve_row, safe_private_rows,
                    table_rows)

def shipped_profiles_dir() -> Path:
    """The folder of shipped profiles (and ``protocols/``): ``workbench/profiles/`` when
    installed from a wheel, the repository's ``profiles/`` beside ``workbench/`` when run
    from a source checkout or an editable install."""
    packaged = Path(__file__).resolve().parent / "profiles"
    checkout = packaged.parent.parent / "profiles"
    return checkout if not packaged.is_dir() and checkout.is_dir() else packaged


SUBJECT_SOURCES = {"lookup", "hash", "sequence", "manual"}
LOOKUP_KEYS = {"PatientID", "AccessionNumber"}


@dataclass(frozen=True)
class PrivateRule:
    """Keep or remove private attributes of one creator (optionally one element)."""

    group: int
    creator: str
    element: int | None  # element byte within the block, None = whole block
    action: Code  # KEEP or REMOVE
    rule: str


#: Attributes whose UIDs name a class, syntax or scheme, never an instance.
CLASS_KEYWORDS = frozenset({
    "TransferSyntaxUID", "ImplementationClassUID", "CodingSchemeUID",
    "PrivateInformationCreatorUID", "ContextGroupExtensionCreatorUID", "MappingResourceUID",
    "ContextUID", "RelatedGeneralSOPClassUID", "OriginalSpecializedSOPClassUID",
})


def is_class_keyword(keyword: str) -> bool:
    """True when an attribute's UID names a class rather than an instance."""
    return keyword.endswith("ClassUID") or keyword in CLASS_KEYWORDS


#: What a sequence replaced by dummies (D) keeps: codes, and how content items relate.
STRUCTURE_TAGS = frozenset(tag_for_keyword(k) for k in (
    "CodeValue", "CodingSchemeDesignator", "CodingSchemeVersion", "CodeMeaning",
    "LongCodeValue", "URNCodeValue", "ContextIdentifier", "MappingResource", "ValueType",
    "RelationshipType", "ContinuityOfContent", "TemplateIdentifier",
    "ReferencedContentItemIdentifier"))
STRUCTURE_VRS = frozenset({"CS", "US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "DS", "IS",
                           "AT"})


@dataclass
class Plan:
    """Resolved rules: Table E.1-1 under the options, the profile's own rules (by
    keyword, at every depth, or by path), and private rules.

    Ask :meth:`action` what happens to an attribute; nothing else decides it.
    """

    actions: dict[int, Action]  # Table E.1-1 rows and rules by keyword
    private: list[PrivateRule]
    options: frozenset[str]
    paths: dict[tuple[int, ...], Action] = field(default_factory=dict)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def action(self, tag: int, vr: str, context: tuple[int, ...] = ()) -> Action:
        """What happens to standard attribute ``tag`` (of VR ``vr``) inside the sequences
        ``context`` (their tags, outermost first; empty at the top level).

        The items of a kept, cleaned or remapped sequence get the same rules as the
        top level, recursively (PS3.15 E.1.1). In order: a rule by path that ends at
        this place (the longest first), a rule by keyword, the Table E.1-1 row, and the
        default for attributes nothing names. Inside a sequence replaced by dummies
        (D), codes and structure stay, UIDs are remapped, and the rest gets dummies;
        inside a removed or emptied one, everything goes with it.
        """
        key = (tag, vr, context)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._resolve(tag, vr, context)
        return found

    def _resolve(self, tag: int, vr: str, context: tuple[int, ...]) -> Action:
        for depth, outer in enumerate(context):
            if outer >> 16 & 1:  # a private sequence is kept or removed by the private rules
                continue
            around = self.action(outer, "SQ", context[:depth])
            if around.code in (Code.REMOVE, Code.EMPTY):
                return Action(Code.REMOVE, f"inside {_label(outer)}: {around.rule}")
            if around.code == Code.DUMMY:
                return self._dummied(tag, vr, outer)
        place = (*context, tag)
        for path in sorted(self.paths, key=len, reverse=True):
            if place[-len(path):] == path:
                return self.paths[path]
        return self.actions.get(tag) or self.default_action(tag, vr)

    def default_action(self, tag: int, vr: str) -> Action:
        """The action for an attribute that Table E.1-1 and the profile do not name."""
        if not _in_dictionary(tag):
            return Action(Code.REMOVE, "not in the data dictionary: removed")
        if tag >> 16 == 0x0010:
            return Action(Code.REMOVE, "patient attribute named by no rule: removed")
        if vr == "SQ":
            return Action(Code.SEQUENCE_UIDS, "not in Table E.1-1: sequence cleaned item by item")
        if vr == "UI":
            if is_class_keyword(keyword_for_tag(tag) or ""):
                return Action(Code.KEEP, "not in Table E.1-1: class UID kept")
            return Action(Code.UID, "not in Table E.1-1: UID remapped")
        if vr in ("DA", "DT"):
            if "retain_long_full_dates" in self.options:
                return Action(Code.KEEP, "not in Table E.1-1: dates kept (retain_long_full_dates)")
            if "retain_long_modified_dates" in self.options:
                return Action(Code.SHIFT, "not in Table E.1-1: dates shifted "
                                   "(retain_long_modified_dates)")
            return Action(Code.REMOVE, "not in Table E.1-1: dates removed (no date option)")
        if vr == "PN":
            return Action(Code.DUMMY, "not in Table E.1-1: person names replaced")
        return Action(Code.KEEP, "not in Table E.1-1: kept")

    def _dummied(self, tag: int, vr: str, outer: int) -> Action:
        where = f"inside {_label(outer)}, replaced by dummies"
        if tag in STRUCTURE_TAGS or vr in STRUCTURE_VRS:
            return Action(Code.KEEP, f"{where}: codes and structure kept")
        if vr == "UI":
            if "retain_uids" in self.options or is_class_keyword(keyword_for_tag(tag) or ""):
                return Action(Code.KEEP, f"{where}: class UID kept" if "retain_uids" not in
                              self.options else f"{where}: UID kept (retain_uids)")
            return Action(Code.UID, f"{where}: UID remapped")
        return Action(Code.DUMMY, f"{where}: dummy value")

    @cached_property
    def private_index(self) -> dict[tuple[int, str, int | None], PrivateRule]:
        return {(r.group, r.creator.strip().upper(), r.element): r for r in self.private}

    def private_action(self, group: int, creator: str, element_byte: int) -> PrivateRule | None:
        """The rule for private element ``(group, creator, element_byte)``, if any."""
        key = creator.strip().upper()
        idx = self.private_index
        return idx.get((group, key, element_byte)) or idx.get((group, key, None))


def _label(tag: int) -> str:
    return keyword_for_tag(tag) or str(Tag(tag))


def _in_dictionary(tag: int) -> bool:
    try:
        get_entry(tag)
    except KeyError:
        return False
    return True


@dataclass
class Profile:
    """A loaded profile: its settings and its resolved :class:`Plan`."""

    name: str
    title: str
    source: str
    path: Path | None
    options: frozenset[str]
    select: dict[str, Any]
    subject_id: dict[str, Any]
    trial: dict[str, Any]
    attributes: dict[int, Action]
    private: list[PrivateRule]
    output: dict[str, Any]
    paths: dict[tuple[int, ...], Action]
    uid_root: str
    date_range: tuple[int, int]
    chain: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def plan(self) -> Plan:
        actions: dict[int, Action] = {}
        for row in table_rows():
            if row["tag_int"] is None:
                continue
            actions[row["tag_int"]] = resolve_row(row, self.options)
        actions.update(self.attributes)
        private = list(self.private)
        if "retain_safe_private" in self.options:
            known = {(r.group, r.creator.upper(), r.element) for r in private}
            for g, creator, el, meaning in safe_private_rows():
                if (g, creator.upper(), el) not in known:
                    private.append(PrivateRule(
                        g, creator, el, Code.KEEP, f"retain_safe_private: E.3.10-1 ({meaning})"))
        return Plan(actions, private, self.options, dict(self.paths))

    @cached_property
    def hash(self) -> str:
        """SHA-256 over the resolved settings, recorded in every output."""
        blob = json.dumps(
            {"chain": self.raw, "table": TABLE_EDITION}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    @property
    def trial_key(self) -> str:
        """The key under which the store keeps this trial's secret and linkage."""
        return str(self.trial.get("protocol_id") or self.name)


# --- loading ---------------------------------------------------------------------

def _search_path(sub: str = "") -> list[Path]:
    """WORKBENCH_PROFILE_PATH's folders, then the shipped ones (each joined with ``sub``)."""
    extra = [Path(p) for p in os.environ.get("WORKBENCH_PROFILE_PATH", "").split(":") if p]
    return [folder / sub for folder in [*extra, shipped_profiles_dir()]]


def find_profile(name: str | os.PathLike, near: Path | None = None, sub: str = "",
                 kind: str = "profile") -> Path:
    """The YAML file for a profile name or path (``near``: a folder searched first).

    ``sub`` and ``kind`` find other YAML files the same way, e.g. trial protocols in
    the ``protocols/`` folder of every folder on the search path.
    """
    p = Path(name)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        return p
    for folder in ([near] if near else []) + _search_path(sub):
        candidate = folder / f"{name}.yaml"
        if candidate.is_file():
            return candidate
    known = ", ".join(sorted(n for n, _, _ in list_profiles(sub))) or "none"
    where = f"its folder's parent (holding {sub}/)" if sub else "its folder"
    raise ProfileError(
        f"no {kind} named {name!r}; shipped {kind}s: {known}. "
        f"Pass a path to a .yaml file or add {where} to WORKBENCH_PROFILE_PATH.")


def list_profiles(sub: str = "") -> list[tuple[str, str, Path]]:
    """(name, title, path) of every profile (or file in ``sub``) on the search path."""
    seen: dict[str, tuple[str, str, Path]] = {}
    for folder in _search_path(sub):
        for f in sorted(folder.glob("*.yaml")):
            if f.stem in seen:
                continue
            try:
                title = (yaml.safe_load(f.read_text()) or {}).get("title", "")
            except yaml.YAMLError:
                title = "(unreadable YAML)"
            seen[f.stem] = (f.stem, title, f)
    return sorted(seen.values())


def _read_chain(path: Path, seen: tuple[str, ...] = ()) -> list[tuple[Path, dict]]:
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML ({exc}); fix the file and retry.") from exc
    if not isinstance(doc, dict):
        raise ProfileError(f"{path}: a profile is a YAML mapping; see workbench/profiles/README.md.")
    name = doc.get("name", path.stem)
    if name in seen:
        raise ProfileError(f"{path}: 'base:' chain loops back to {name!r}.")
    base = doc.get("base")
    chain = _read_chain(find_profile(base, path.parent), (*seen, name)) if base else []
    return [*chain, (path, doc)]


KNOWN_KEYS = {"name", "title", "source", "base", "table", "options", "select", "subject_id",
              "trial", "attributes", "private", "output", "uid_root", "dates", "pixels"}


def load_profile(name: str | os.PathLike) -> Profile:
    """Load a profile by name or path, following ``base:`` and validating every rule."""
    path = find_profile(name)
    chain = _read_chain(path)
    merged: dict[str, Any] = {"options": [], "select": {}, "subject_id": {}, "trial": {},
                              "attributes": {}, "private": [], "output": {}, "dates": {}}
    for p, doc in chain:
        unknown = set(doc) - KNOWN_KEYS
        if unknown:
            raise ProfileError(f"{p}: unknown key(s) {sorted(unknown)}; "
                               f"allowed: {sorted(KNOWN_KEYS)}.")
        for opt in doc.get("options") or []:
            if opt not in OPTIONS:
                raise ProfileError(f"{p}: unknown option {opt!r}; choose from {list(OPTIONS)}.")
            if opt not in merged["options"]:
                merged["options"].append(opt)
        for key in ("select", "subject_id", "trial", "output", "dates"):
            if key in doc:
                if key in ("select", "subject_id"):
                    merged[key] = dict(doc[key] or {})
                else:
                    merged[key].update(doc[key] or {})
        merged["attributes"].update({str(k): v for k, v in (doc.get("attributes") or {}).items()})
        merged["private"].extend(doc.get("private") or [])
        for key in ("name", "title", "source", "uid_root"):
            if key in doc:
                merged[key] = doc[key]
    top = chain[-1][1]
    merged["name"] = top.get("name", path.stem)
    opts = frozenset(merged["options"])
    if {"retain_long_full_dates", "retain_long_modified_dates"} <= opts:
        raise ProfileError(f"{path}: choose one of retain_long_full_dates and "
                           "retain_long_modified_dates, not both.")
    _check_subject_rule(path, merged["subject_id"])
    dates = merged["dates"].get("offset_days", [-3650, -365])
    if not (isinstance(dates, list) and len(dates) == 2 and int(dates[0]) <= int(dates[1])):
        raise ProfileError(f"{path}: dates.offset_days must be [low, high] whole days.")
    overrides = [_parse_override(path, k, v) for k, v in merged["attributes"].items()]
    root = str(merged.get("uid_root", "2.25"))
    if not re.fullmatch(r"[1-9]\d*(\.(0|[1-9]\d*))*", root) or len(root) > 40:
        raise ProfileError(f"{path}: uid_root {root!r} is not a valid UID root of <= 40 chars.")
    return Profile(
        name=merged["name"], title=merged.get("title", ""), source=merged.get("source", ""),
        path=path, options=opts, select=merged["select"], subject_id=merged["subject_id"],
        trial=merged["trial"],
        attributes={where: act for where, act in overrides if isinstance(where, int)},
        private=[_parse_private(path, r) for r in merged["private"]],
        output=merged["output"], paths={where: act for where, act in overrides
                                        if isinstance(where, tuple)}, uid_root=root, date_range=(int(dates[0]), int(dates[1])),
        chain=[p.stem for p, _ in chain], raw={p.stem: d for p, d in chain},
    )


def _check_subject_rule(path: Path, rule: dict) -> None:
    src = rule.get("from", "hash")
    if src not in SUBJECT_SOURCES:
        raise ProfileError(f"{path}: subject_id.from must be one of {sorted(SUBJECT_SOURCES)}.")
    if src == "lookup":
        if rule.get("key") not in LOOKUP_KEYS or not rule.get("column"):
            raise ProfileError(f"{path}: a lookup subject_id needs key ({' or '.join(LOOKUP_KEYS)})"
                               " and column (the CSV column holding the pseudonym).")
    if src == "manual" and rule.get("key", "PatientID") not in LOOKUP_KEYS:
        raise ProfileError(f"{path}: a manual subject_id is keyed on "
                           f"{' or '.join(sorted(LOOKUP_KEYS))}, not {rule.get('key')!r}.")
    if "pattern" in rule:
        pattern = rule["pattern"]
        if not isinstance(pattern, str) or not pattern:
            raise ProfileError(f"{path}: subject_id.pattern must be a regular expression in "
                               f"quotes, e.g. \"^LTP2-[0-9]{{4}}$\"; got {pattern!r}.")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ProfileError(f"{path}: subject_id.pattern {pattern!r} is not a valid regular "
                               f"expression ({exc}).") from None


def parse_tag(text: str) -> int:
    """A tag from a keyword or ``(gggg,eeee)``."""
    m = re.fullmatch(r"\(?\s*([0-9A-Fa-f]{4})\s*,\s*([0-9A-Fa-f]{4})\s*\)?", text)
    if m:
        return int(m[1] + m[2], 16)
    tag = tag_for_keyword(text)
    if tag is None:
        raise ProfileError(f"unknown attribute {text!r}: use a DICOM keyword as pydicom spells "
                           "it (e.g. PatientName) or a tag as (gggg,eeee).")
    return int(tag)


def _parse_override(path: Path, key: str, value: Any) -> tuple[int | tuple[int, ...], Action]:
    """A rule by keyword or tag (a tag), or by path ``Sequence/.../Attribute`` (a tuple)."""
    try:
        tags = tuple(parse_tag(part.strip()) for part in key.split("/"))
    except ProfileError as exc:
        raise ProfileError(f"{path}: {exc}") from None
    label = "/".join(keyword_for_tag(t) or str(Tag(t)) for t in tags)
    for outer in tags[:-1]:
        if dictionary_vr(outer) != "SQ":
            raise ProfileError(f"{path}: attribute {key}: {_label(outer)} is not a sequence; "
                               "a path names sequences down to the attribute, joined by '/'.")
    where = tags[0] if len(tags) == 1 else tags
    rule = f"{path.stem}: {label}"
    code = Code.for_word(value)
    if code is not None:
        return where, Action(code, f"{rule}: {value}")
    if isinstance(value, dict) and set(value) == {"replace"}:
        return where, Action(Code.REPLACE, f"{rule}: replace with {value['replace']!r}",
                             str(value["replace"]))
    raise ProfileError(f"{path}: attribute {key}: {value!r} is not an action; use one of "
                       f"{sorted(c.word for c in Code if c.word)} or {{replace: \"template\"}}.")


def _parse_private(path: Path, rule: Any) -> PrivateRule:
    if not isinstance(rule, dict) or not {"group", "creator"} <= set(rule):
        raise ProfileError(f"{path}: private rule {rule!r} needs group and creator.")
    try:
        group = int(str(rule["group"]), 16)
    except ValueError:
        raise ProfileError(f"{path}: private group {rule['group']!r} is not hex.") from None
    if group % 2 == 0:
        raise ProfileError(f"{path}: private group {rule['group']} must be odd.")
    el = rule.get("element")
    element = None
    if el is not None:
        m = re.fullmatch(r"(?i)xx([0-9a-f]{2})", str(el))
        if not m:
            raise ProfileError(f"{path}: private element {el!r} must look like 'xx00' "
                               "(the byte within the creator's block).")
        element = int(m[1], 16)
    action = Code.for_word(rule.get("action", "keep"))
    if action not in (Code.KEEP, Code.REMOVE):
        raise ProfileError(f"{path}: private rules keep or remove; got {rule.get('action')!r}.")
    where = f"({rule['group']},{el or 'xxxx'}) {rule['creator']!r}"
    return PrivateRule(group, str(rule["creator"]), element, action,
                       f"{path.stem}: private {where}: {rule.get('action', 'keep')}")
