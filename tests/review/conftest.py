"""A small curated delivery shared by the review and widget tests (read only)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from workbench.catalog import Instance, scan
from workbench.deid.run import Report, deidentify_delivery
from workbench.examples import Planted, generate
from workbench.profile import Profile, load_profile
from workbench.review import pair_outputs
from workbench.store import Store

PROFILE = "uk-pet-core-lab"


@dataclass
class Curated:
    """An example delivery, its de-identified output, the store, the report and the pairs."""

    planted: Planted
    out: Path
    store_path: Path
    report: Report
    instances: list[Instance]
    pairs: pd.DataFrame
    profile: Profile

    def series(self, modality: str, description: str = "", patient: int = 0) -> pd.DataFrame:
        """Pairs of one series of patient ``patient`` (by modality and description start)."""
        pid = self.planted.patients[patient]["patient_id"]
        uids = {i.series_uid for i in self.instances if i.patient_id == pid}
        rows = self.pairs[(self.pairs["modality"] == modality)
                          & self.pairs["series_description"].str.startswith(description)
                          & self.pairs["series_uid"].isin(uids)]
        first = rows["series_uid"].iloc[0]
        return rows[rows["series_uid"] == first].sort_values("instance_number")


_BUILT: dict[str, Curated] = {}


def build_curated(factory: pytest.TempPathFactory) -> Curated:
    """Generate two patients (64 x 64 CT, 6 slices), de-identify with uk-pet-core-lab; once."""
    if "curated" not in _BUILT:
        root = factory.mktemp("curated")
        planted = generate(root / "example", patients=2, seed=3, ct_slices=6, ct_size=64)
        out, store_path = root / "out", root / "state.sqlite"
        report = deidentify_delivery(planted.delivery, out, PROFILE, store=Store(store_path),
                                     lookup=str(planted.subjects_csv), progress=False)
        instances, _ = scan(planted.delivery)
        pairs = pair_outputs(instances, report=report)
        _BUILT["curated"] = Curated(planted, out, store_path, report, instances, pairs,
                                    load_profile(PROFILE))
    return _BUILT["curated"]


@pytest.fixture(scope="session")
def curated(tmp_path_factory: pytest.TempPathFactory) -> Curated:
    return build_curated(tmp_path_factory)
