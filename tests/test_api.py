"""The package's top level: a small public API, loaded on first use."""

from __future__ import annotations

import subprocess
import sys

import workbench


def test_importing_the_package_loads_nothing_else():
    code = ("import sys, workbench\n"
            "print(sorted(m for m in sys.modules if m.startswith('workbench')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "['workbench']"


def test_every_public_name_resolves_to_what_the_modules_define():
    from workbench.catalog import scan
    from workbench.deid.run import deidentify_delivery
    from workbench.push import push_studies
    from workbench.widgets import CurationApp

    assert all(getattr(workbench, name) is not None for name in workbench.__all__)
    assert workbench.scan is scan and workbench.deidentify is deidentify_delivery
    assert workbench.push_studies is push_studies and workbench.CurationApp is CurationApp
    assert set(workbench.__all__) <= set(dir(workbench))


def test_an_unknown_name_is_an_attribute_error():
    try:
        workbench.no_such_thing
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("an unknown name resolved")
