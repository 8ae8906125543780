"""Push verified outputs to a trial's XNAT: confirmed, resumable, with receipts.

Only studies whose every file the de-identification core verified (and that have not
changed since) leave the site. See :mod:`workbench.push.xnat`.
"""

from ..errors import PushError
from .control import PushController
from .result import PushResult, StudyOutcome
from .xnat import Target, XnatPusher, push_studies

__all__ = ["PushController", "PushError", "PushResult", "StudyOutcome", "Target", "XnatPusher",
           "push_studies"]
