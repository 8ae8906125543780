"""UID remapping and date shifting."""

from __future__ import annotations

from workbench.deid.dates import offset_days, shift_da, shift_dt
from workbench.deid.uids import remap_uid

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def test_uid_remap_is_keyed_deterministic_and_valid():
    uid = "1.2.392.200036.9116.2.6.1.3268.2051314068.1558478927.941955"
    a, b = remap_uid(uid, b"secret-one"), remap_uid(uid, b"secret-two")
    assert a == remap_uid(uid, b"secret-one") and a != b and a != uid
    for new in (a, b, remap_uid(uid, b"s", root="1.2.826.0.1.3680043.10.999")):
        assert len(new) <= 64
        assert all(part.isdigit() and (part == "0" or not part.startswith("0"))
                   for part in new.split("."))
    assert remap_uid(uid, b"s", root="1.2.826.0.1.3680043.10.999").startswith(
        "1.2.826.0.1.3680043.10.999.")
    assert a.startswith("2.25.")


def test_well_known_uids_are_left_alone():
    assert remap_uid(CT_STORAGE, b"s") == CT_STORAGE
    assert remap_uid("1.2.840.10008.1.2.1", b"s") == "1.2.840.10008.1.2.1"


def test_date_shift_keeps_intervals_and_times():
    days = offset_days(b"secret", "PATIENT-1", -3650, -365)
    assert -3650 <= days <= -365
    assert days == offset_days(b"secret", "PATIENT-1", -3650, -365)
    d1, d2 = shift_da("20230314", days), shift_da("20230612", days)
    from datetime import date

    as_date = lambda s: date(int(s[:4]), int(s[4:6]), int(s[6:]))  # noqa: E731
    assert (as_date(d2) - as_date(d1)).days == 90
    assert shift_dt("20230314101500.123456+0100", days).endswith("101500.123456+0100")
    assert shift_da("2023", days) is None and shift_da("20230231", days) is None
