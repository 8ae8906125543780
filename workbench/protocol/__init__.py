"""Check that a delivery fits a trial protocol, from headers only.

A protocol (YAML in ``profiles/protocols/``, format in
``profiles/README.md``) names the series each study needs, the SOP
classes allowed, ranges for acquisition parameters, timepoints and, for RT
structure sets, the structures required and the TG-263 name check.
:func:`check` returns one :class:`Finding` per study and rule; a finding of
severity ``"fail"`` blocks the release.

Examples
--------
>>> p = load_protocol("petct-trial")
>>> [r.name for r in p.series][:2]
['CT', 'PET']
"""

from .checks import check, exit_code, findings_table, report_lines, study_results
from .rules import SEVERITIES, Finding, Protocol, SeriesRule, Timepoint, load_protocol
from .tg263 import is_tg263, tg263_names, tg263_suggestions

__all__ = ["SEVERITIES", "Finding", "Protocol", "SeriesRule", "Timepoint", "check", "exit_code",
           "findings_table", "is_tg263", "load_protocol", "report_lines", "study_results",
           "tg263_names", "tg263_suggestions"]
