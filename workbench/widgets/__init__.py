"""ipywidgets views over the review functions: browse, compare, scan, spot-check, push.

Every view holds no logic a test cannot reach without a browser: tables come from
:mod:`workbench.review`, pictures from :mod:`workbench.widgets.images`, the push from
:mod:`workbench.push`. Each view has a ``widget`` attribute (the top-level ipywidget)
and displays itself in Jupyter (``display(view)`` or as a cell's last expression).
Tests and notebooks operate the public attributes listed here. The tag diff, PHI scan,
slice viewer and contact sheet also carry their content as static HTML (``text/html``
in the display bundle), so an executed notebook read without a kernel shows it.

Public API (stable)
-------------------
``CurationApp(source, *, profile, store, out, lookup="", site="", reviewer="",
protocol=None, destination=None, project=None, instances=None, **push_options)``
    One widget over the steps: browse and select, lookup, de-identify and verify
    (and check the trial protocol), review, approve or reject, push; three actions
    (``deid_button``, ``approve_button``, ``push.push_button``) from a folder to a
    confirmed push. Attributes: ``browser`` (StudyBrowser), ``lookup`` (Text),
    ``withdraw_unticked`` (Checkbox), ``progress``, ``findings`` (HTML), ``review``
    (VBox), ``chosen`` (SelectMultiple: the studies to sign off), ``reviewer`` and
    ``approve_note`` (Text), ``reject_button``, ``push`` (PushPanel), ``states`` and
    ``next_step`` (HTML), ``report``, ``deidentify()``, ``approve()``, ``reject()``,
    ``refresh()``, ``static_html()``.
``QCFlags(store, trial, out, reviewer="")``
    A quality (usable, questionable, unusable; none preselected) and a note per series
    of an output, saved to the store and written to the XNAT scans after the push.
    Attributes: ``choices`` and ``notes`` ((study, series) -> widget), ``reviewer``,
    ``save_button``, ``message``, ``table``, ``save()``.
``StudyBrowser(instances, profile=None, *, page_size=10)``
    ``StudyBrowser.from_folder(src, profile=None, **options)``.
    Attributes: ``catalog`` (DataFrame, one row per series, ``reason`` column: left out
    by the profile, checkbox disabled; ``review`` column: needs pixel review, starts
    unticked),
    ``modality`` / ``sop_class`` (SelectMultiple filters), ``page`` (BoundedIntText),
    ``prev_button`` / ``next_button``, ``select_all_button`` / ``select_none_button``
    (act on the series shown), ``default_button`` (the profile's ``select:``),
    ``checkboxes`` (series UID -> Checkbox on the current page), ``studies`` (VBox),
    ``summary`` (HTML). Selection: ``selected`` (series UIDs), ``selection``
    (DataFrame), ``selected_files()``, ``select(uids, value=True)``. Withdrawal of
    series de-identified before and unticked since: ``withdrawn_preview(out, store)``
    (DataFrame), ``withdraw(out, store, confirm=True)`` (see :mod:`workbench.withdraw`).
``SliceViewer(before, after=None, *, missing=None, preset=None, size=384)``
    ``SliceViewer.from_pairs(pairs, series_uid, **options)`` with pairs from
    :func:`workbench.review.pair_outputs`. Attributes: ``slider`` (IntSlider over
    slices and frames), ``preset`` (Dropdown), ``outline`` (Checkbox),
    ``before_image`` / ``after_image`` (Image, PNG), ``before_caption`` /
    ``after_caption`` (HTML), ``message`` (HTML: why it cannot be shown),
    ``regions`` (changed regions of the slice), ``show(index)``.
``TagDiffView(before, after, profile=None, *, page_size=200)``
    One pair of files, or aligned lists. Attributes: ``instance`` (IntSlider),
    ``actions`` (SelectMultiple), ``search`` (Text), ``page`` (BoundedIntText),
    ``prev_button`` / ``next_button``, ``html`` (HTML), ``diff`` and ``table``
    (DataFrames).
``PhiScanView(before, after=None, *, max_rows=200, triage=True)``
    Attributes: ``search`` (Text), ``vr`` (SelectMultiple), ``found`` (Dropdown:
    all, both, only before, only after), ``indexed`` (Checkbox), ``page``
    (BoundedIntText), ``prev_button`` / ``next_button``, ``html`` (HTML), ``scan`` and
    ``table`` (DataFrames, triaged: a ``group`` column).
``ContactSheet(series, *, every=5, columns=6, rows=2, size=128)``
    ``series``: ``{label: files}`` or one list of files. Attributes: ``series``
    (Dropdown), ``every`` and ``page`` (BoundedIntText), ``grid`` (GridBox of
    thumbnails), ``message`` (HTML), ``rendered`` (thumbnails made so far),
    ``slices``.
``PushPanel(out, profile, store, *, url=None, project=None, **pusher_options)``
    Attributes: ``destination`` and ``project`` (Text), ``push_button``,
    ``pause_button`` (its label says pause or resume), ``cancel_button``,
    ``retry_button``, ``progress`` (HTML bars), ``status`` and
    ``results`` (HTML), ``table`` (DataFrame per study), ``result`` (PushResult),
    ``busy``, ``wait(timeout=None)``, ``close()``.
``SignOffForm(store, trial, studies, *, reviewer="", note="")`` (no verdict preselected)
    ``studies``: ``(label, study UID)`` pairs. Attributes: ``study`` (Dropdown),
    ``reviewer`` (Text), ``verdict`` (ToggleButtons), ``note`` (Textarea),
    ``sign_button``, ``signed`` (HTML), ``sign_off()``.
``SubjectIDs(instances, profile, store)``
    The trial's subject ID per Patient ID (or accession), entered by hand for
    ``subject_id: {from: manual}`` profiles. Attributes: ``fields`` (key -> Text),
    ``checks`` (key -> HTML: "ok" or the reason), ``save_button``, ``message`` (HTML),
    ``rows`` (VBox), ``table`` (DataFrame), ``check()``, ``save()``.

CSS classes (for browser tests and stylesheets)
-----------------------------------------------
``wb-study-browser``, ``wb-series-checkbox``, ``wb-selection-summary``,
``wb-next-page``, ``wb-prev-page`` (also on the tag diff and PHI scan pages);
``wb-slice-viewer``, ``wb-slice-slider``,
``wb-before-image``, ``wb-after-image``, ``wb-viewer-message``; ``wb-tag-diff``;
``wb-phi-scan``; ``wb-contact-sheet``, ``wb-thumbnails``; ``wb-push-panel``,
``wb-push``, ``wb-pause``, ``wb-cancel``, ``wb-retry``, ``wb-push-status``,
``wb-push-results``, ``wb-push-progress``; ``wb-sign-off``, ``wb-sign-offs``;
``wb-subject-ids``, ``wb-save-subject-ids``, ``wb-subject-ids-message``;
``wb-curation-app``, ``wb-deidentify``, ``wb-approve``, ``wb-study-states``,
``wb-next-step``; ``wb-qc-flags``, ``wb-save-flags``.

Examples
--------
>>> from workbench.widgets import StudyBrowser                        # doctest: +SKIP
>>> browser = StudyBrowser.from_folder("delivery", "uk-pet-core-lab")  # doctest: +SKIP
>>> browser                                                           # doctest: +SKIP
"""

from .browser import StudyBrowser
from .contact import ContactSheet
from .curation import CurationApp
from .phi import PhiScanView
from .push_panel import PushPanel
from .qc import QCFlags
from .signoff import SignOffForm
from .slices import SliceViewer
from .subjects import SubjectIDs
from .tags import TagDiffView

__all__ = ["ContactSheet", "CurationApp", "PhiScanView", "PushPanel", "QCFlags", "SignOffForm",
           "SliceViewer", "StudyBrowser", "SubjectIDs", "TagDiffView"]
