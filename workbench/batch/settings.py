"""The parameters of a batch run, checked before any work starts."""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import ProfileError
from ..profile import Profile, load_profile
from ..push.xnat import public_url
from ..errors import BatchError
from .record import new_run_dir

#: Destinations a batch can push to now, and those that arrive with later work.
DESTINATIONS = ("none", "xnat")
LATER = ("dicom", "folder")


@dataclass(frozen=True)
class BatchSettings:
    """What a batch run does; the fields are the notebook's parameters.

    Attributes
    ----------
    profile
        Trial profile: a shipped name (``workbench profiles list``) or a path to a YAML file.
    source
        The delivery folder (read only).
    output
        The de-identified output folder; a batch completes it run after run.
    site
        Site ID for templates such as ``{site_id}`` ("" = from the lookup table).
    lookup
        CSV lookup table for lookup-based pseudonyms ("" = none).
    store
        The site's state database ("" = ``$WORKBENCH_STORE`` or the per-user default).
    destination
        ``xnat`` or ``none``; ``dicom`` and ``folder`` are not available yet.
    dry_run
        True: everything except the push (the record lists what would be pushed).
    approve
        True: approve each verified study automatically (the record and the store say
        the batch approved it); False (the default): a person approves with
        ``workbench approve`` and only approved studies are pushed.
    xnat_url, xnat_project
        Override the profile's ``trial.xnat_url`` and ``trial.xnat_project``. The
        login comes from ``XNAT_USER``/``XNAT_PASSWORD`` or ``~/.netrc``, never from here.
    workers
        Local worker processes (1: in the notebook's own process).
    scheduler
        Dask scheduler address (e.g. ``tcp://10.0.0.5:8786``); "" = local process pool.
    run_dir
        Folder for this run's record ("" = ``runs/<trial>/<UTC time>_<id>`` here).
    """

    profile: str
    source: str
    output: str
    site: str = ""
    lookup: str = ""
    store: str = ""
    destination: str = "none"
    dry_run: bool = True
    approve: bool = False
    xnat_url: str = ""
    xnat_project: str = ""
    workers: int = 1
    scheduler: str = ""
    run_dir: str = ""

    def checked(self) -> tuple[BatchSettings, Profile]:
        """These settings with resolved paths, and the loaded profile.

        Raises
        ------
        BatchError
            On the first parameter that cannot work, saying what to change.
        """
        for name in ("profile", "source", "output", "site", "lookup", "store", "destination",
                     "xnat_url", "xnat_project", "scheduler", "run_dir"):
            if not isinstance(getattr(self, name), str):
                raise BatchError(f"parameter {name} must be text, not "
                                 f"{type(getattr(self, name)).__name__}.")
        for name in ("dry_run", "approve"):
            if not isinstance(getattr(self, name), bool):
                raise BatchError(f"parameter {name} must be True or False.")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise BatchError(f"parameter workers must be a whole number >= 1, not "
                             f"{self.workers!r}.")
        if self.destination in LATER:
            raise BatchError(f"destination {self.destination!r} is not available yet; use "
                             "'xnat', or 'none' and push later.")
        if self.destination not in DESTINATIONS:
            raise BatchError(f"unknown destination {self.destination!r}; choose "
                             f"{' or '.join(DESTINATIONS)}.")
        if self.xnat_url and (urlsplit(self.xnat_url).username or urlsplit(self.xnat_url).password):
            raise BatchError("the XNAT URL holds a login; remove it and set XNAT_USER and "
                             "XNAT_PASSWORD (or ~/.netrc) instead, so it never lands in a record.")
        try:
            profile = load_profile(self.profile)
        except ProfileError as exc:
            raise BatchError(f"parameter profile: {exc}") from None
        if not self.source or not self.output:
            raise BatchError("parameters source and output are required (the delivery folder "
                             "and the de-identified output folder).")
        src, out = Path(self.source).resolve(), Path(self.output).resolve()
        if not src.is_dir():
            raise BatchError(f"source {src} is not a folder.")
        if out == src or src in out.parents or out in src.parents:
            raise BatchError(f"output {out} and source {src} overlap; choose a separate folder.")
        lookup = ""
        if self.lookup:
            lookup = str(Path(self.lookup).resolve())
            if not Path(lookup).is_file():
                raise BatchError(f"lookup table {lookup} does not exist.")
        elif profile.subject_id.get("from") == "lookup":
            raise BatchError(f"profile {profile.name} takes pseudonyms from a lookup table keyed "
                             f"on {profile.subject_id.get('key')}: set the lookup parameter.")
        if self.destination == "xnat":
            url = self.xnat_url or str(profile.trial.get("xnat_url") or "")
            if urlsplit(url).scheme not in ("http", "https"):
                raise BatchError(f"destination xnat needs an http(s) XNAT URL: set xnat_url, or "
                                 f"xnat_url in the trial: block of profile {profile.name}.")
            if not (self.xnat_project or profile.trial.get("xnat_project")):
                raise BatchError(f"destination xnat needs a project: set xnat_project, or "
                                 f"xnat_project in the trial: block of profile {profile.name}.")
        return replace(self, source=str(src), output=str(out), lookup=lookup), profile

    def public(self) -> dict[str, Any]:
        """The settings as recorded: no login, nothing secret."""
        found = asdict(self)
        found["xnat_url"] = public_url(self.xnat_url) if self.xnat_url else ""
        return found


def example_settings(profile: str = "uk-pet-core-lab", workers: int = 1,
                     folder: str | Path | None = None) -> BatchSettings:
    """Settings over a small example delivery written to a new folder (a demo; CI).

    The delivery (two patients, 64 x 64 CT), its lookup tables, the state
    database, the output and the run record (``runs/<trial>/...``) all go under
    ``folder`` (default: a new temporary folder).
    """
    from ..examples import generate

    root = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="workbench-batch-"))
    planted = generate(root / "example", patients=2, seed=1, ct_slices=4, ct_size=64)
    loaded = load_profile(profile)
    key = loaded.subject_id.get("key", "PatientID")
    lookup = planted.events_csv if key == "AccessionNumber" else planted.subjects_csv
    return BatchSettings(profile=profile, source=str(planted.delivery), output=str(root / "out"),
                         site="SITE01", lookup=str(lookup), store=str(root / "state.sqlite"),
                         workers=workers,
                         run_dir=str(new_run_dir(root / "runs", loaded.trial_key)))
