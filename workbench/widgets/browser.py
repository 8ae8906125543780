"""StudyBrowser: the studies and series of a delivery, a checkbox per series."""

from __future__ import annotations

import html
import math
import os
from typing import Sequence

import ipywidgets as w
import pandas as pd

from pydicom import dcmread
from pydicom.dataset import Dataset

from ..catalog import Instance, scan
from ..deid.pixels import pixel_review_reason
from ..errors import WorkbenchError
from ..profile import Profile, load_profile
from ..review import catalog_table
from ..select import Selector
from .base import View, classes, note, replace_children

#: SOP class UID prefixes of objects without pixel data (reports, SR, states, waveforms, RT).
_NO_PIXELS = ("1.2.840.10008.5.1.4.1.1.88.", "1.2.840.10008.5.1.4.1.1.104.",
              "1.2.840.10008.5.1.4.1.1.11.", "1.2.840.10008.5.1.4.1.1.9.",
              "1.2.840.10008.5.1.4.1.1.481.3", "1.2.840.10008.5.1.4.1.1.481.4",
              "1.2.840.10008.5.1.4.1.1.481.5", "1.2.840.10008.5.1.4.1.1.481.8")


class StudyBrowser(View):
    """Studies (patient name, ID, date shown) and their series, each with a checkbox.

    A series the profile's ``select:`` rules leave out shows why and cannot be
    ticked (its checkbox is disabled): de-identification would skip it anyway. A
    series whose pixels need a person's review (screen captures, burned-in
    annotation; :func:`workbench.deid.pixels.pixel_review_reason`) starts unticked
    with the reason shown; ticked deliberately, its files go to the quarantine for
    that review, never straight to the output.

    A series de-identified before and unticked since is withdrawn from the
    output: :meth:`withdrawn_preview` lists them and :meth:`withdraw` (with
    ``confirm=True``) moves their files to ``OUT.withdrawn`` (see
    :mod:`workbench.withdraw`). Call it before de-identifying or pushing.

    Only one page of studies is built as widgets at a time, so a delivery of 100
    studies and 50,000 instances opens as fast as its catalog table.

    Parameters
    ----------
    instances
        The catalog (:func:`workbench.catalog.scan`).
    profile
        Profile (name, path or loaded) whose ``select:`` rules give the default
        selection; without one every series is selected.
    page_size
        Studies per page.

    Attributes
    ----------
    catalog : DataFrame
        One row per series (:func:`workbench.review.catalog_table`) plus ``reason`` (why
        the profile leaves it out, "" when it wants it; such series cannot be ticked) and
        ``review`` (why its pixels need a person's review, "" when they need none; such
        series start unticked).
    modality, sop_class : ipywidgets.SelectMultiple
        Filters: only series of the chosen modalities and SOP classes (names) are shown.
    page : ipywidgets.BoundedIntText
        The page of studies shown (from 1); ``prev_button`` and ``next_button`` move it.
    select_all_button, select_none_button, default_button : ipywidgets.Button
        Select every shown series, none of them, or go back to the profile's selection.
    checkboxes : dict
        Series UID -> ``ipywidgets.Checkbox`` for the series on the current page.
    studies : ipywidgets.VBox
        The current page: per study an HTML header and the series checkboxes.
    summary : ipywidgets.HTML
        How many series, files and megabytes are selected.
    """

    def __init__(self, instances: Sequence[Instance], profile: Profile | str | None = None, *,
                 page_size: int = 10):
        self.instances = instances
        self.profile = (load_profile(profile) if isinstance(profile, (str, os.PathLike))
                        else profile)
        selector = Selector(self.profile.select if self.profile else None)
        catalog = catalog_table(instances)
        catalog["reason"] = [selector.reason(m, s, d) or "" for m, s, d in
                             zip(catalog["modality"], catalog["sop_class"],
                                 catalog["description"])]
        catalog["review"] = _review_reasons(instances, catalog)
        catalog["series_number"] = catalog["series_number"].astype("Int64")
        self.catalog = catalog
        self._selectable = set(catalog.loc[catalog["reason"] == "", "series_uid"])
        self._default = set(catalog.loc[(catalog["reason"] == "") & (catalog["review"] == ""),
                                        "series_uid"])
        self._selected = set(self._default)
        self.page_size = page_size
        self.modality = w.SelectMultiple(options=sorted(catalog["modality"].unique()),
                                         description="modality", rows=4)
        self.modality.value = self.modality.options
        self.sop_class = w.SelectMultiple(options=sorted(catalog["sop_class_name"].unique()),
                                          description="SOP class", rows=4,
                                          layout=w.Layout(width="420px"))
        self.sop_class.value = self.sop_class.options
        self.page = w.BoundedIntText(value=1, min=1, max=1, description="page",
                                     layout=w.Layout(width="140px"))
        self.pages = w.HTML()
        self.prev_button = w.Button(description="previous", icon="arrow-left")
        self.next_button = w.Button(description="next", icon="arrow-right")
        self.select_all_button = w.Button(description="select shown")
        self.select_none_button = w.Button(description="deselect shown")
        self.default_button = w.Button(description="profile's selection",
                                       tooltip="the series the profile's select: rules want")
        self.summary = w.HTML()
        self.studies = w.VBox()
        self.checkboxes: dict[str, w.Checkbox] = {}
        self.prev_button.on_click(lambda _: self._turn(-1))
        self.next_button.on_click(lambda _: self._turn(1))
        self.select_all_button.on_click(lambda _: self._set_shown(True))
        self.select_none_button.on_click(lambda _: self._set_shown(False))
        self.default_button.on_click(lambda _: self._reset())
        self.modality.observe(lambda _: self._filter(), names="value")
        self.sop_class.observe(lambda _: self._filter(), names="value")
        self.page.observe(lambda _: self._render(), names="value")
        rule = (f"default selection: profile {self.profile.name}" if self.profile
                else "no profile: every series selected")
        self.widget = w.VBox([
            w.HBox([self.modality, self.sop_class]),
            w.HBox([self.select_all_button, self.select_none_button, self.default_button]),
            w.HTML(f"<small>{html.escape(rule)}</small>"),
            self.studies,
            w.HBox([self.prev_button, self.page, self.pages, self.next_button]),
            self.summary,
        ])
        classes({self.widget: "wb-study-browser", self.summary: "wb-selection-summary",
                 self.next_button: "wb-next-page", self.prev_button: "wb-prev-page"})
        self._filter()

    @classmethod
    def from_folder(cls, src: str | os.PathLike, profile: Profile | str | None = None,
                    **options) -> StudyBrowser:
        """Catalog ``src`` (headers only) and browse it."""
        instances, _ = scan(src)
        return cls(instances, profile, **options)

    # -- what is selected ----------------------------------------------------------------
    @property
    def selected(self) -> list[str]:
        """Series Instance UIDs of the selected series, in catalog order."""
        return [u for u in self.catalog["series_uid"] if u in self._selected]

    @property
    def selection(self) -> pd.DataFrame:
        """The catalog rows of the selected series."""
        return self.catalog[self.catalog["series_uid"].isin(self._selected)]

    def selected_files(self) -> list[str]:
        """Paths of every file of the selected series."""
        return [i.path for i in self.instances if i.series_uid in self._selected]

    def select(self, series_uids: Sequence[str], value: bool = True) -> None:
        """Select (or deselect) series by UID, shown or not.

        Raises
        ------
        KeyError
            A UID is not in the catalog.
        WorkbenchError
            Selecting a series the profile's ``select:`` rules leave out.
        """
        unknown = set(series_uids) - set(self.catalog["series_uid"])
        if unknown:
            raise KeyError(f"not in the catalog: {', '.join(sorted(unknown))}")
        refused = set(series_uids) - self._selectable if value else set()
        if refused:
            why = self.catalog.set_index("series_uid")["reason"]
            raise WorkbenchError("the profile's select: rules leave out "
                                 + "; ".join(f"{u} ({why[u]})" for u in sorted(refused))
                                 + "; de-identification would skip them, so they cannot be "
                                 "selected. Use a profile that takes them.")
        (self._selected.update if value else self._selected.difference_update)(series_uids)
        self._sync()

    # -- what is shown -------------------------------------------------------------------
    @property
    def shown(self) -> pd.DataFrame:
        """Catalog rows that pass the modality and SOP class filters."""
        c = self.catalog
        return c[c["modality"].isin(self.modality.value)
                 & c["sop_class_name"].isin(self.sop_class.value)]

    def _study_uids(self) -> list[str]:
        return list(dict.fromkeys(self.shown["study_uid"]))

    def _filter(self) -> None:
        pages = max(1, math.ceil(len(self._study_uids()) / self.page_size))
        self.page.max = pages
        self.pages.value = f"of {pages}"
        if self.page.value > pages:
            self.page.value = pages  # the observer renders
        else:
            self._render()

    def _turn(self, step: int) -> None:
        self.page.value = min(max(self.page.value + step, 1), self.page.max)

    def _render(self) -> None:
        shown = self.shown
        start = (self.page.value - 1) * self.page_size
        uids = self._study_uids()[start:start + self.page_size]
        rows = shown[shown["study_uid"].isin(uids)]
        self.checkboxes = {}
        children: list[w.Widget] = []
        for study_uid, series in rows.groupby("study_uid", sort=False):
            head = series.iloc[0]
            children.append(w.HTML(_study_header(head, series)))
            for row in series.itertuples(index=False):
                box = w.Checkbox(value=row.series_uid in self._selected, indent=False,
                                 description=_series_label(row), disabled=bool(row.reason),
                                 layout=w.Layout(width="auto", margin="0 0 0 24px"))
                box.add_class("wb-series-checkbox")
                box.observe(lambda change, uid=row.series_uid: self._toggle(uid, change["new"]),
                            names="value")
                self.checkboxes[row.series_uid] = box
                why = _why(row.reason, row.review)
                children.append(w.HBox([box, w.HTML(why)]) if why else box)
        if not children:
            children = [w.HTML(note("No series match the filters."))]
        replace_children(self.studies, children)
        self.prev_button.disabled = self.page.value <= 1
        self.next_button.disabled = self.page.value >= self.page.max
        self._summarise()

    def _toggle(self, uid: str, value: bool) -> None:
        (self._selected.add if value else self._selected.discard)(uid)
        self._summarise()

    def _set_shown(self, value: bool) -> None:
        uids = set(self.shown["series_uid"]) & (self._selectable if value else set(
            self.catalog["series_uid"]))
        (self._selected.update if value else self._selected.difference_update)(uids)
        self._sync()

    def _reset(self) -> None:
        self._selected = set(self._default)
        self._sync()

    def _sync(self) -> None:
        for uid, box in self.checkboxes.items():
            box.value = uid in self._selected
        self._summarise()

    # -- withdrawal of what is no longer selected -------------------------------------------
    def withdrawn_preview(self, out: str | os.PathLike, store,
                          profile: Profile | str | None = None) -> pd.DataFrame:
        """The series of this catalog with output in ``out`` that are no longer selected.

        One row per series (see :func:`workbench.withdraw.preview`) with its modality,
        number and description from the catalog; empty when nothing would be withdrawn.
        """
        from ..withdraw import preview

        table = preview(self._withdrawn(out, store, profile))
        info = self.catalog.set_index("series_uid")[["modality", "series_number",
                                                     "description"]]
        return table.join(info, on="source_series_uid")

    def withdraw(self, out: str | os.PathLike, store, profile: Profile | str | None = None, *,
                 confirm: bool = False) -> list[str]:
        """Withdraw the series :meth:`withdrawn_preview` lists: move their files to
        ``OUT.withdrawn`` and out of the store's verified outputs, so they are never pushed.

        Nothing moves unless ``confirm`` is True (a person looked at the preview);
        without it, pending withdrawals raise. Returns the moved files' new paths.
        """
        from ..withdraw import withdraw

        series = self._withdrawn(out, store, profile)
        if series and not confirm:
            shown = ", ".join(s.folder for s in series[:3]) + (
                f" and {len(series) - 3} more" if len(series) > 3 else "")
            raise WorkbenchError(f"{len(series)} series will be withdrawn from {out} ({shown}); "
                                 "look at withdrawn_preview(), then pass confirm=True, or tick "
                                 "them again to keep them.")
        return [str(p) for p in withdraw(store, self._profile_for(profile), out, series)]

    def _profile_for(self, profile: Profile | str | None) -> Profile:
        if profile is None:
            if self.profile is None:
                raise WorkbenchError("say which profile made the output: profile=...")
            return self.profile
        return profile if isinstance(profile, Profile) else load_profile(profile)

    def _withdrawn(self, out, store, profile):
        from ..withdraw import withdrawn_series

        return withdrawn_series(store, self._profile_for(profile), out, self.selected,
                                among=list(self.catalog["series_uid"]))

    def _summarise(self) -> None:
        chosen = self.selection
        self.summary.value = (
            f"<b>{len(chosen)}</b> of {len(self.catalog)} series selected: "
            f"{int(chosen['files'].sum())} files, {chosen['megabytes'].sum():.1f} MB, "
            f"{chosen['study_uid'].nunique()} of {self.catalog['study_uid'].nunique()} studies")


def _study_header(head, series: pd.DataFrame) -> str:
    date = head.study_date
    shown = f"{date[:4]}-{date[4:6]}-{date[6:8]}" if len(date) == 8 else (date or "no date")
    return (f'<div style="margin-top:6px"><b>{html.escape(head.patient_name or "(no name)")}</b>'
            f" &nbsp;ID {html.escape(head.patient_id or '(none)')} &nbsp;{shown} &nbsp;"
            f"{html.escape(head.study_description or '')} <small>({len(series)} series, "
            f"{int(series['files'].sum())} files)</small></div>")


def _series_label(row) -> str:
    number = "" if pd.isna(row.series_number) else f" {row.series_number}"
    return (f"{row.modality}{number} {row.description or '(no description)'} "
            f"[{row.instances} {'instance' if row.instances == 1 else 'instances'}, "
            f"{row.sop_class_name}]")


def _why(reason: str, review: str = "") -> str:
    """Why a series cannot be ticked, or needs pixel review when ticked ("" for neither)."""
    if reason:
        return (f'<small style="color:#888" class="wb-series-reason">not in the profile\'s '
                f"selection: {html.escape(reason)}</small>")
    if review:
        return (f'<small style="color:#a60" class="wb-series-reason">needs pixel review: '
                f"{html.escape(review)}; if ticked, it goes to the quarantine for a person "
                "to look at</small>")
    return ""


def _review_reasons(instances: Sequence[Instance], catalog: pd.DataFrame) -> list[str]:
    """Per catalog row, why the series' pixels need review ("" when they need none).

    From the SOP class and modality, and the BurnedInAnnotation of the series' first
    file (its header only; a file that cannot be read counts as not annotated).
    """
    first: dict[str, str] = {}
    for i in instances:
        first.setdefault(i.series_uid, i.path)
    found = []
    for uid, sop, modality in zip(catalog["series_uid"], catalog["sop_class"],
                                  catalog["modality"]):
        if str(sop).startswith(_NO_PIXELS):
            found.append("")
            continue
        ds = Dataset()
        ds.SOPClassUID, ds.Modality = str(sop), str(modality or "")
        try:
            head = dcmread(first[uid], stop_before_pixels=True,
                           specific_tags=["BurnedInAnnotation"])
            if "BurnedInAnnotation" in head:
                ds.BurnedInAnnotation = head.BurnedInAnnotation
        except Exception:
            pass
        found.append(pixel_review_reason(ds, has_pixels=True) or "")
    return found
