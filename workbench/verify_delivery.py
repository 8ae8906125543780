"""Re-verify an output folder against its source, file by file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from . import verify
from .catalog import Instance, files_under, read_header
from .deid.engine import Engine
from .deid.files import read_source, source_pixels
from .deid.run import default_quarantine
from .profile import Profile, load_profile
from .select import Selector
from .store import Store


@dataclass
class Verification:
    """Outcome of ``workbench verify``."""

    verified: int = 0
    failed: list[tuple[str, list[str]]] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 2 if self.failed or self.missing or self.unexpected else 0

    def lines(self) -> list[str]:
        out = [f"FAILED {path}: {'; '.join(problems)}" for path, problems in self.failed]
        out += [f"missing from the output (not quarantined either): {p}" for p in self.missing]
        out += [f"output file with no matching source: {p}" for p in self.unexpected]
        out.append(f"{self.verified} output file(s) verified, {len(self.failed)} failed, "
                   f"{len(self.quarantined)} quarantined at de-identification, "
                   f"{len(self.missing)} missing, {len(self.unexpected)} unexpected")
        return out


def verify_delivery(src, out, profile: str | Profile, *, store: Store,
                    secret: bytes | None = None, quarantine=None) -> Verification:
    """Check every output in ``out`` against its source in ``src`` under ``profile``."""
    profile = profile if isinstance(profile, Profile) else load_profile(profile)
    out = Path(out).resolve()
    quarantine = Path(quarantine) if quarantine else default_quarantine(out)
    secret = secret or store.trial_secret(profile.trial_key, create=False)
    engine = Engine(profile, secret)
    selector = Selector(profile.select)
    outputs: dict[str, str] = {}
    result = Verification()
    for path in files_under(out):
        rec = read_header(path)
        if isinstance(rec, Instance):
            outputs[rec.sop_uid] = path
        elif rec.kind == "unreadable":
            result.failed.append((path, [rec.reason]))
    quarantined_sources = set()
    reasons = quarantine / "reasons.jsonl"
    if reasons.exists():
        for line in reasons.read_text(encoding="utf-8").splitlines():
            if line.strip():
                quarantined_sources.add(json.loads(line)["source"])
    matched = set()
    for path in files_under(src):
        rec = read_header(path)
        if not isinstance(rec, Instance) or selector.instance_reason(rec):
            continue
        target = outputs.get(engine.remap(rec.sop_uid))
        if target is None:
            if str(Path(path).resolve()) in quarantined_sources or path in quarantined_sources:
                result.quarantined.append(path)
            else:
                result.missing.append(path)
            continue
        matched.add(target)
        source = read_source(path)
        identity = verify.identity_of(source.dataset, profile)
        problems = verify.check(Path(target).read_bytes(), identity, profile,
                                source_pixels(source)[1])
        if problems:
            result.failed.append((target, problems))
        else:
            result.verified += 1
    result.unexpected = sorted(set(outputs.values()) - matched)
    return result
