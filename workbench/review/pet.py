"""The PET check: did the SUV inputs survive de-identification, and is SUVbw the same?"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ReviewError
from .dicom import _read
from .pairs import _series_label, _with_output
from .render import TABLE_CSS, Rendered, _block, _esc, html_table, short_uid

if TYPE_CHECKING:
    import pandas as pd


#: The SUVbw inputs, in the order a physicist reads them.
SUV_INPUTS = ("weight_kg", "total_dose_bq", "injection_time", "half_life_s", "series_time",
              "units", "decay_correction")
#: What each input is called in the rendered check.
SUV_LABELS = {"weight_kg": "patient weight (kg)", "total_dose_bq": "injected dose (Bq)",
              "injection_time": "radiopharmaceutical start", "half_life_s": "half life (s)",
              "series_time": "series time", "units": "units",
              "decay_correction": "decay correction"}


def pet_check(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per PET series: did the SUV inputs survive, and is the SUVbw factor the same?

    Reads the first instance of each PET series with an output, before and after.

    Returns
    -------
    DataFrame
        ``series``; per input of :data:`SUV_INPUTS` one of ``kept``, ``removed``,
        ``changed`` or ``absent`` (not in the source either); ``suv_before`` and
        ``suv_after`` (the factor, NaN when it cannot be computed), ``suv_same`` and
        ``problem`` (why the factor cannot be computed after, or why the files could not
        be read); ``study_uid`` and ``series_uid`` last. ``attrs["values"]`` holds, per
        series UID, each input's value before and after as text.
    """
    import pandas as pd

    from ..pet import suv_bw_factor, suv_inputs

    done = _with_output(pairs)
    pet = done[done["modality"] == "PT"].groupby("series_uid", sort=False).head(1)
    rows, values = [], {}
    for row in pet.itertuples(index=False):
        try:
            ds_old, ds_new = _read(row.source), _read(row.output)
        except ReviewError as exc:  # a row saying why; the check goes on
            rows.append((_series_label(row), *["not read"] * len(SUV_INPUTS), float("nan"),
                         float("nan"), False, str(exc), row.study_uid, row.series_uid))
            continue
        old, new = _suv_view(suv_inputs(ds_old)), _suv_view(suv_inputs(ds_new))
        state = {k: _survived(old.get(k), new.get(k)) for k in SUV_INPUTS}
        values[row.series_uid] = {k: (_suv_text(old.get(k)), _suv_text(new.get(k)))
                                  for k in SUV_INPUTS}
        factors, problem = [], ""
        for ds in (ds_old, ds_new):
            try:
                factors.append(suv_bw_factor(ds))
            except ValueError as exc:
                factors.append(float("nan"))
                problem = str(exc)
        same = factors[0] == factors[0] and abs(factors[0] - factors[1]) <= 1e-9 * factors[0]
        rows.append((_series_label(row), *state.values(), *factors, same, problem,
                     row.study_uid, row.series_uid))
    table = pd.DataFrame(rows, columns=["series", *SUV_INPUTS, "suv_before", "suv_after",
                                        "suv_same", "problem", "study_uid", "series_uid"])
    table.attrs["values"] = values
    return table


def _suv_view(inputs: dict) -> dict:
    """SUV inputs as compared: the injection as its interval before the reference time.

    The series time is compared as a time of day (a date shift moves its date).
    """
    view = {k: inputs[k] for k in SUV_INPUTS if k in inputs}
    inj, ref = inputs["injection_datetime"], inputs["reference_datetime"]
    view["injection_time"] = None if inj is None else (ref - inj if ref else inj.time())
    view["series_time"] = None if ref is None else ref.time()
    return view


def _suv_text(value) -> str:
    """An SUV input as the check shows it (blank when absent)."""
    from datetime import timedelta

    if value is None:
        return ""
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
        sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
        return f"{sign}{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d} before"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _survived(before, after) -> str:
    if before is None:
        return "absent"
    if after is None:
        return "removed"
    return "kept" if before == after else "changed"


_STATE_COLOURS = {"kept": "#e8f5e9", "removed": "#f8d7da", "changed": "#fff3cd",
                  "absent": "#eeeeee", "not read": "#f8d7da"}


def pet_check_html(check: pd.DataFrame) -> Rendered:
    """The PET check (:func:`pet_check`) as HTML: SUV inputs first, UIDs last and short."""
    values = check.attrs.get("values", {})
    columns = ["series", *SUV_INPUTS, "SUVbw factor", "problem", "study", "series UID"]
    labels = {**SUV_LABELS, "series UID": "series UID"}
    widths = {"series": 10, **{k: 7 for k in SUV_INPUTS}, "SUVbw factor": 11, "problem": 13,
              "study": 8, "series UID": 8}
    rows = []
    for rec in check.to_dict("records"):
        shown = values.get(rec["series_uid"], {})
        cells = [_esc(rec["series"])]
        for k in SUV_INPUTS:
            state = rec[k]
            before, after = shown.get(k, ("", ""))
            text = before if state == "kept" else (
                f"{before} &rarr; {after}" if state == "changed" else before)
            cells.append(f'<span style="background-color:{_STATE_COLOURS.get(state, "")};'
                         f'padding:0 4px">{_esc(state)}</span>'
                         + (f"<br><small>{_esc(text) if state != 'changed' else text}</small>"
                            if text else ""))
        b, a = rec["suv_before"], rec["suv_after"]
        factor = (f"{b:.6g}" if b == b else "cannot compute") + " &rarr; " + \
            (f"{a:.6g}" if a == a else "cannot compute")
        lost = b == b and not rec["suv_same"]  # computable before, not the same after
        verdict = ("same" if rec["suv_same"] else "<b>differs</b>" if lost
                   else "not computable from the source either")
        cells += [f"{factor}<br><small>{verdict}</small>", _esc(rec["problem"]),
                  short_uid(rec["study_uid"]), short_uid(rec["series_uid"])]
        rows.append((cells, "background-color:#f8d7da" if lost else ""))
    head = f"<small>{len(check)} PET series; SUVbw factor before &rarr; after</small>"
    return _block([TABLE_CSS, head, html_table(columns, rows, widths, labels=labels)])
