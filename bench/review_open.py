"""How fast the review opens: the study browser on 50,000 instances, one CT slice before/after.

* ``catalog table``   :func:`workbench.review.catalog_table` over the synthetic catalog
  (100 studies, 50,000 instances: CT, PET, RT, SR and a screen capture per study),
* ``open browser``    ``StudyBrowser(instances, profile)``: catalog, profile selection and
  the first page of widgets,
* ``next page``, ``filter modality``, ``select all shown``: operating it,
* ``open curation app``  ``CurationApp`` over the same catalog: its first view, every step,
* ``read 2 slices``   pydicom reading and decoding a 512x512 CT slice and its output,
* ``open viewer``     ``SliceViewer`` on the 512x512 CT series, first slice rendered,
* ``render slice``    the viewer moving to another slice (read, window, outline, PNG x2),
* ``change window``   another preset on the same slice (cached frames),
* ``tag diff 1000``, ``PHI scan 1000``  tag diff and PHI scan rendered for a 1,000-attribute
  instance (HTML, first page),
* ``phi scan 50k``    :func:`workbench.review.phi_scan` over a delivery of ``--phi-files``
  instances written to disk (32x32 images, example headers with varied UIDs).

Instances of the browser benchmark are catalog records (no files: it measures the catalog,
not disk I/O); the slice benchmark de-identifies a generated 512x512 CT.

    python bench/review_open.py [--instances 50000] [--studies 100] [--repeat 3]
                                [--phi-files 50000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

#: (modality, SOP class UID, description, share of a study's instances)
SERIES = [("CT", "1.2.840.10008.5.1.4.1.1.2", "CT WB 3.0", 0.55),
          ("PT", "1.2.840.10008.5.1.4.1.1.128", "PET WB AC", 0.40),
          ("RTSTRUCT", "1.2.840.10008.5.1.4.1.1.481.3", "RT structures", 0.0),
          ("SR", "1.2.840.10008.5.1.4.1.1.88.33", "report", 0.0),
          ("PT", "1.2.840.10008.5.1.4.1.1.7", "MIP screen capture", 0.0),
          ("CT", "1.2.840.10008.5.1.4.1.1.2", "CT topogram", 0.05)]


def synthetic_catalog(instances: int, studies: int) -> list:
    """Catalog records of ``studies`` PET-CT studies holding ``instances`` in total."""
    from workbench.catalog import Instance

    per_study = instances // studies
    records = []
    for s in range(studies):
        study_uid = f"1.2.826.0.1.3680043.10.1.{s}"
        left = per_study
        for n, (modality, sop, description, share) in enumerate(SERIES):
            count = max(1, round(per_study * share)) if share else 1
            count = left if n == len(SERIES) - 1 else min(count, left)
            left -= count
            series_uid = f"{study_uid}.{n + 1}"
            for i in range(count):
                records.append(Instance(
                    path=f"/delivery/P{s:03d}/S{n}/IM{i:06d}.dcm", size=140_000,
                    sop_class=sop, sop_uid=f"{series_uid}.{i + 1}", study_uid=study_uid,
                    series_uid=series_uid, modality=modality, patient_id=f"{900000 + s}",
                    patient_name=f"Patient^{s:03d}", accession=f"ACC{s:05d}",
                    study_date=f"2023{1 + s % 12:02d}{1 + s % 28:02d}",
                    study_description="PET-CT whole body", series_number=n + 1,
                    series_description=description, instance_number=i + 1))
    return records


def timed(fn, repeat: int) -> tuple[float, object]:
    """Median seconds of ``repeat`` runs of ``fn`` and its last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def browser_rows(instances: int, studies: int, repeat: int) -> list[tuple[str, float, str]]:
    from workbench.review import catalog_table
    from workbench.store import Store
    from workbench.widgets import CurationApp, StudyBrowser

    records = synthetic_catalog(instances, studies)
    rows = []
    t_table, _ = timed(lambda: catalog_table(records), repeat)
    rows.append(("catalog table", t_table, f"{len(records)} instances"))
    t_open, browser = timed(lambda: StudyBrowser(records, "uk-pet-core-lab"), repeat)
    rows.append(("open browser", t_open,
                 f"{len(browser.catalog)} series, {len(browser.checkboxes)} checkboxes built"))
    t_next, _ = timed(lambda: browser.next_button.click(), repeat)
    rows.append(("next page", t_next, f"page {browser.page.value} of {browser.page.max}"))
    t_filter, _ = timed(lambda: setattr(browser.modality, "value", ("CT",)) or
                        setattr(browser.modality, "value", browser.modality.options), repeat)
    rows.append(("filter modality", t_filter / 2, "CT only, then all (half the pair)"))
    t_all, _ = timed(lambda: browser.select_all_button.click(), repeat)
    rows.append(("select all shown", t_all, f"{len(browser.selected)} series selected"))
    with tempfile.TemporaryDirectory() as root:
        app_of = lambda: CurationApp(root, profile="uk-pet-core-lab",  # noqa: E731
                                     store=Store(Path(root) / "s.sqlite"),
                                     out=Path(root) / "out", instances=records)
        t_app, app = timed(app_of, repeat)
        rows.append(("open curation app", t_app,
                     f"first view: {len(app.browser.catalog)} series, every step"))
    return rows


def slice_rows(root: Path, repeat: int) -> list[tuple[str, float, str]]:
    from pydicom import dcmread

    from workbench.catalog import scan
    from workbench.deid.run import deidentify_delivery
    from workbench.examples import generate
    from workbench.review import pair_outputs
    from workbench.store import Store
    from workbench.widgets import SliceViewer

    planted = generate(root / "example", patients=1, seed=7, ct_slices=8, ct_size=512)
    report = deidentify_delivery(planted.delivery, root / "out", "uk-pet-core-lab",
                                 store=Store(root / "state.sqlite"),
                                 lookup=str(planted.subjects_csv), progress=False)
    instances, _ = scan(planted.delivery)
    pairs = pair_outputs(instances, report=report)
    ct = pairs[(pairs["modality"] == "CT") & pairs["output"].notna()]
    ct = ct[ct["series_uid"] == ct["series_uid"].iloc[0]].sort_values("instance_number")
    first = ct.iloc[1]
    t_read, _ = timed(lambda: [dcmread(p).pixel_array for p in (first.source, first.output)],
                      repeat)
    rows = [("read 2 slices", t_read, "pydicom: source and output, 512x512, decoded")]
    t_open, viewer = timed(lambda: SliceViewer.from_pairs(pairs, first.series_uid), repeat)
    rows.append(("open viewer", t_open, f"{len(viewer.before)} slices, first one rendered"))
    slices = iter(range(1, 10_000))

    def move() -> None:
        viewer.before._cache.clear()
        viewer.after._cache.clear()
        viewer.slider.value = next(slices) % len(viewer.before)

    t_render, _ = timed(move, repeat)
    rows.append(("render slice", t_render, "read, window, outline, 2 PNGs"))
    presets = iter(viewer.preset.options * 100)
    t_window, _ = timed(lambda: setattr(viewer.preset, "value", next(presets)), repeat)
    rows.append(("change window", t_window, "same slice, frames cached"))
    return rows


def wide_rows(root: Path, repeat: int) -> list[tuple[str, float, str]]:
    from pydicom import dcmread

    from workbench.examples import generate
    from workbench.review import phi_scan, phi_scan_html, tag_diff, tag_diff_html

    planted = generate(root / "wide", patients=1, seed=5, ct_slices=1, ct_size=32)
    source = sorted(Path(planted.delivery).rglob("*.dcm"))[0]
    ds = dcmread(source)
    n = 0
    while len(ds) < 1000:  # private text elements (and their creators) up to 1,000
        block = ds.private_block(0x0011 + 2 * (n // 240), f"BENCH {n // 240}", create=True)
        block.add_new(0x10 + n % 240, "LO", f"value {n}")
        n += 1
    wide = root / "wide.dcm"
    ds.save_as(wide)
    t_diff, _ = timed(lambda: tag_diff_html(tag_diff(source, wide)), repeat)
    t_phi, _ = timed(lambda: phi_scan_html(phi_scan([source], [wide], progress=False)), repeat)
    return [("tag diff 1000", t_diff, f"tag diff rendered for a {len(ds):,}-attribute instance"),
            ("PHI scan 1000", t_phi, f"PHI scan rendered for a {len(ds):,}-attribute instance")]


def small(ds):
    """``ds`` with a 32x32 image of zeros (None when it has no uncompressed image)."""
    if "PixelData" not in ds or ds.file_meta.TransferSyntaxUID.is_compressed:
        return None
    ds.Rows = ds.Columns = 32
    if "NumberOfFrames" in ds:
        ds.NumberOfFrames = 1
    ds.PixelData = bytes(32 * 32 * ds.SamplesPerPixel * ds.BitsAllocated // 8)
    return ds


def phi_rows(root: Path, files: int) -> list[tuple[str, float, str]]:
    from pydicom import dcmread
    from pydicom.uid import generate_uid

    from workbench.examples import generate
    from workbench.review import phi_scan

    planted = generate(root / "headers", patients=2, seed=11, ct_slices=2, ct_size=32)
    templates = [small(dcmread(p)) for p in sorted(Path(planted.delivery).rglob("*.dcm"))]
    templates = [ds for ds in templates if ds is not None]
    delivery = root / "delivery"
    start = time.perf_counter()
    for n in range(files):
        ds = templates[n % len(templates)]
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = n + 1
        folder = delivery / f"{n // 1000:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        ds.save_as(folder / f"IM{n:06d}.dcm", enforce_file_format=True)
    os.sync()  # the scan reads files already on disk
    written = time.perf_counter() - start
    paths = sorted(str(p) for p in delivery.rglob("*.dcm"))
    start = time.perf_counter()
    table = phi_scan(paths, paths)
    seconds = time.perf_counter() - start
    return [("phi scan 50k", seconds,
             f"{files} before + the same {files} as after (not de-identified), "
             f"{1000 * seconds / (2 * files):.3f} ms a file, {len(table)} distinct values; "
             f"{len(templates)} example headers (32x32 images), written in {written:.0f} s")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=50_000)
    parser.add_argument("--studies", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--phi-files", type=int, default=50_000,
                        help="instances of the PHI scan's delivery (0: leave the row out)")
    args = parser.parse_args()
    rows = browser_rows(args.instances, args.studies, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        rows += slice_rows(Path(tmp), args.repeat)
        rows += wide_rows(Path(tmp), args.repeat)
        if args.phi_files:
            rows += phi_rows(Path(tmp), args.phi_files)
    times = {name: t for name, t, _ in rows}
    print(f"{'step':20} {'seconds':>9}  detail")
    for name, t, detail in rows:
        print(f"{name:20} {t:9.3f}  {detail}")
    print()
    print(f"open browser / catalog table: {times['open browser'] / times['catalog table']:.2f}"
          " (cost of the widgets over the table)")
    print(f"open browser per 1000 instances: {1000 * times['open browser'] / args.instances:.4f}"
          " s")
    print(f"render slice / read 2 slices: {times['render slice'] / times['read 2 slices']:.2f}"
          " (cost of windowing, outlines and PNG over pydicom's decode)")


if __name__ == "__main__":
    main()
