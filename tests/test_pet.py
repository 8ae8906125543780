"""Tests of the body-weight SUV factor."""

import math

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from workbench.examples import Planted
from workbench.pet import suv_bw_factor, suv_inputs

# 70 kg, 370 MBq injected at 09:00, series at 10:00, F-18:
# 70000 / (370e6 * 2 ** (-3600 / 6586.2))
HAND_COMPUTED = 2.7633668171764e-4


def pet_header(**changes: str | None) -> Dataset:
    """A minimal PET header; ``changes`` set (or, with None, delete) attributes."""
    rp = Dataset()
    rp.RadiopharmaceuticalStartTime = "090000"
    rp.RadiopharmaceuticalStartDateTime = "20230314090000"
    rp.RadionuclideTotalDose = "370000000"
    rp.RadionuclideHalfLife = "6586.2"
    ds = Dataset()
    ds.PatientWeight = "70"
    ds.Units = "BQML"
    ds.DecayCorrection = "START"
    ds.SeriesDate = "20230314"
    ds.SeriesTime = "100000"
    ds.AcquisitionDate = "20230314"
    ds.AcquisitionTime = "100000"
    ds.RadiopharmaceuticalInformationSequence = [rp]
    for keyword, value in changes.items():
        target = rp if keyword in rp else ds
        if value is None:
            delattr(target, keyword)
        else:
            setattr(target, keyword, value)
    return ds


def test_hand_computed_value() -> None:
    assert suv_bw_factor(pet_header()) == pytest.approx(HAND_COMPUTED, rel=1e-9)


def test_start_time_without_datetime() -> None:
    ds = pet_header(RadiopharmaceuticalStartDateTime=None)
    assert suv_bw_factor(ds) == pytest.approx(HAND_COMPUTED, rel=1e-9)


def test_start_datetime_without_time() -> None:
    ds = pet_header(RadiopharmaceuticalStartTime=None)
    assert suv_bw_factor(ds) == pytest.approx(HAND_COMPUTED, rel=1e-9)


def test_start_time_wins_over_a_datetime_on_another_day() -> None:
    ds = pet_header(RadiopharmaceuticalStartDateTime="20160401090000")
    assert suv_bw_factor(ds) == pytest.approx(HAND_COMPUTED, rel=1e-9)


def test_acquisition_time_when_series_time_is_missing() -> None:
    ds = pet_header(SeriesDate=None, SeriesTime=None)
    assert suv_bw_factor(ds) == pytest.approx(HAND_COMPUTED, rel=1e-9)


def test_reference_day_from_injection_datetime() -> None:
    ds = pet_header(SeriesDate=None, AcquisitionDate=None, RadiopharmaceuticalStartTime=None)
    assert suv_bw_factor(ds) == pytest.approx(HAND_COMPUTED, rel=1e-9)


def test_injection_before_midnight() -> None:
    ds = pet_header(
        RadiopharmaceuticalStartDateTime=None,
        RadiopharmaceuticalStartTime="233000",
        SeriesTime="003000",
    )
    assert suv_bw_factor(ds) == pytest.approx(HAND_COMPUTED, rel=1e-9)


def test_admin_decay_correction_uses_injected_dose() -> None:
    assert suv_bw_factor(pet_header(DecayCorrection="ADMIN")) == pytest.approx(70000 / 370e6)


def test_inputs() -> None:
    inputs = suv_inputs(pet_header())
    assert inputs["weight_kg"] == 70.0
    assert inputs["total_dose_bq"] == 370e6
    assert inputs["half_life_s"] == 6586.2
    assert (inputs["reference_datetime"] - inputs["injection_datetime"]).total_seconds() == 3600
    assert (inputs["units"], inputs["decay_correction"]) == ("BQML", "START")
    assert inputs["philips_suv_factor"] is None
    empty = suv_inputs(Dataset())
    assert all(value is None for value in empty.values())


@pytest.mark.parametrize(
    ("keyword", "named"),
    [
        ("PatientWeight", "PatientWeight"),
        ("RadionuclideTotalDose", "RadionuclideTotalDose"),
        ("RadionuclideHalfLife", "RadionuclideHalfLife"),
        ("Units", "Units"),
        ("DecayCorrection", "DecayCorrection"),
    ],
)
def test_missing_input_raises(keyword: str, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        suv_bw_factor(pet_header(**{keyword: None}))


def test_missing_times_raise() -> None:
    no_start = pet_header(RadiopharmaceuticalStartDateTime=None, RadiopharmaceuticalStartTime=None)
    with pytest.raises(ValueError, match="RadiopharmaceuticalStartTime"):
        suv_bw_factor(no_start)
    no_reference = pet_header(
        SeriesDate=None, SeriesTime=None, AcquisitionDate=None, AcquisitionTime=None
    )
    with pytest.raises(ValueError, match="SeriesTime"):
        suv_bw_factor(no_reference)
    with pytest.raises(ValueError, match="RadiopharmaceuticalInformationSequence"):
        suv_bw_factor(pet_header(RadiopharmaceuticalInformationSequence=None))


def test_unsupported_values_raise() -> None:
    with pytest.raises(ValueError, match="CNTS"):
        suv_bw_factor(pet_header(Units="CNTS"))
    with pytest.raises(ValueError, match="NONE"):
        suv_bw_factor(pet_header(DecayCorrection="NONE"))
    with pytest.raises(ValueError, match="positive"):
        suv_bw_factor(pet_header(PatientWeight="0"))


def test_philips_factor_agrees(example_delivery: Planted) -> None:
    for patient in example_delivery.patients:
        pet = next(
            series
            for series in patient["studies"][0]["series"]
            if series["sop_class_uid"] == "1.2.840.10008.5.1.4.1.1.128"
        )
        for rel in pet["files"][:: len(pet["files"]) - 1]:
            ds = dcmread(example_delivery.delivery / rel, stop_before_pixels=True)
            philips = suv_inputs(ds)["philips_suv_factor"]
            assert philips is not None
            assert math.isclose(suv_bw_factor(ds), philips, rel_tol=0.01)
