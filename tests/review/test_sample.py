"""spot_check_sample: a reproducible random sample of studies per site."""

from __future__ import annotations

from workbench.catalog import scan
from workbench.review import spot_check_sample


def test_one_study_per_site_of_the_output(curated):
    instances, _ = scan(curated.out)
    sample = spot_check_sample(instances, per_site=1, seed=0)
    assert list(sample["site"]) == ["SITE01", "SITE02"]
    assert sample.attrs == {"studies": 2, "sites": 2}
    assert set(sample["study_uid"]) == {i.study_uid for i in instances}
    assert (sample["files"] > 0).all()


def test_the_seed_decides_the_sample(curated):
    draws = {seed: tuple(spot_check_sample(curated.instances, per_site=1, seed=seed)["study_uid"])
             for seed in range(8)}
    assert all(len(d) == 1 for d in draws.values())  # no site recorded: one group
    assert draws[3] == tuple(spot_check_sample(curated.instances, per_site=1, seed=3)["study_uid"])
    assert len(set(draws.values())) > 1
    assert len(spot_check_sample(curated.instances, per_site=3)) == 3


def test_no_instances_give_an_empty_sample():
    assert spot_check_sample([]).empty
