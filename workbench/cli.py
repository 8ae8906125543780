"""The ``workbench`` command line: one thin layer over the package's functions.

Exit status: 0 when everything selected was de-identified and verified, 2 when
the run finished but quarantined something, 1 on an error that stopped it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__
from .errors import WorkbenchError


def _store(args):
    from .store import Store

    return Store(args.store)


def _secret(args) -> bytes | None:
    if not getattr(args, "trial_secret_file", None):
        return None
    try:
        secret = Path(args.trial_secret_file).read_bytes().strip()
    except OSError as exc:
        raise WorkbenchError(f"cannot read the trial secret file: {exc}") from exc
    if len(secret) < 16:
        raise WorkbenchError("the trial secret file holds fewer than 16 bytes; use a long "
                             "random secret (e.g. `python -c 'import secrets;"
                             "print(secrets.token_hex(32))'`).")
    return secret


def cmd_examples(args) -> int:
    from .examples import generate

    if args.patients < 1 or args.seed < 0:
        raise WorkbenchError(f"--patients must be 1 or more and --seed 0 or more (got "
                             f"{args.patients} and {args.seed}).")
    planted = generate(args.out, patients=args.patients, seed=args.seed,
                       bad_inputs=args.with_bad_files)
    print(f"example delivery in {planted.delivery} ({len(planted.patients)} patients); "
          f"lookups {planted.subjects_csv.name}, {planted.events_csv.name}; "
          f"planted identifiers recorded in {planted.root / 'planted.json'}")
    return 0


def cmd_scan(args) -> int:
    from .catalog import scan, series_table

    instances, skipped = scan(args.src)
    table = series_table(instances)
    if table.empty:
        print("no DICOM instances found")
    else:
        cols = ["patient_name", "patient_id", "study_date", "modality", "series_number",
                "description", "instances", "megabytes"]
        print(table[cols].to_string(index=False))
    for s in skipped:
        print(f"skipped {s.path}: {s.reason}")
    return 0


def cmd_profiles(args) -> int:
    from .profile import list_profiles, load_profile
    from .review import plan_table

    if args.action == "show":
        if not args.name:
            raise WorkbenchError("usage: workbench profiles show NAME")
        profile = load_profile(args.name)
        print(f"{profile.name}: {profile.title}\nsource: {profile.source}\n"
              f"chain: {' -> '.join(profile.chain)}\noptions: "
              f"{', '.join(sorted(profile.options)) or '(none)'}\nhash: {profile.hash}\n")
        print(plan_table(profile).to_string(index=False))
        return 0
    for name, title, _ in list_profiles():
        print(f"{name:22s} {title}")
    return 0


def cmd_deid(args) -> int:
    from .deid.run import check_folders, deidentify_delivery, folders, quarantine_exposure
    from .store import default_path

    # checked before the store is opened, which creates it
    check_folders(*folders(args.src, args.out, args.quarantine),
                  Path(args.store) if args.store else default_path())
    store = _store(args)
    report = deidentify_delivery(
        args.src, args.out, args.profile, store=store, secret=_secret(args), lookup=args.lookup,
        site=args.site, workers=args.workers, resume=args.resume, quarantine=args.quarantine)
    print("\n".join(report.lines()))
    for warning in filter(None, (*report.warnings, store.exposure(),
                                 quarantine_exposure(report.quarantine))):
        print(warning, file=sys.stderr)
    return report.exit_code


def cmd_verify(args) -> int:
    from .verify_delivery import verify_delivery

    store = _store(args)
    result = verify_delivery(args.src, args.out, args.profile, store=store, secret=_secret(args))
    for line in result.lines():
        print(line)
    return result.exit_code


def cmd_validate(args) -> int:
    from .profile import load_profile
    from .protocol import check, exit_code, load_protocol, report_lines, study_results

    protocol = load_protocol(args.protocol)
    trial = load_profile(args.profile).trial_key if args.profile else None
    findings = check(args.src, protocol, site=args.site)
    print("\n".join(report_lines(findings)))
    if trial:
        _store(args).record_protocol_check(trial, protocol.name, study_results(findings))
        print(f"recorded for trial {trial}: a study that fails cannot be approved")
    return exit_code(findings)


def _trial(args, store) -> str:
    from .approval import trial_of
    from .profile import load_profile

    return load_profile(args.profile).trial_key if args.profile else trial_of(store, args.out)


def cmd_status(args) -> int:
    from .approval import WAITING, states_table, study_states

    store = _store(args)
    states = study_states(store, _trial(args, store), args.out)
    if not states:
        print(f"no de-identified studies in {args.out}")
        return 0
    print(states_table(states).to_string(index=False))
    waiting = [s.folder for s in states if s.state == WAITING]
    if waiting:
        print(f"{len(waiting)} waiting: approve with workbench approve {args.out} STUDY... "
              "--by NAME (or --all)")
    return 0


def cmd_sign(args) -> int:
    from .approval import sign

    store = _store(args)
    done = sign(store, _trial(args, store), args.out, args.studies, args.verdict, args.by,
                args.note or "", every=getattr(args, "all", False))
    for s in done:
        print(f"{s.folder}: {s.state} by {s.by} at {s.at}"
              + (f"; {s.quarantined} quarantined file(s) stay behind" if s.quarantined else ""))
    return 0


def cmd_lookup_template(args) -> int:
    from .catalog import scan
    from .lookup import lookup_columns, write_template
    from .profile import load_profile

    profile = load_profile(args.profile)
    n = write_template(args.output, scan(args.src)[0], profile)
    fill = ", ".join(lookup_columns(profile)[1:])
    print(f"wrote {n} row(s) to {args.output}; it identifies patients: keep it at the site. "
          f"Fill in {fill}, then pass it as --lookup (info_ columns are ignored).",
          file=sys.stderr)
    return 0


def cmd_keys(args) -> int:
    store = _store(args)
    if args.output and args.output != "-":
        from .deid.files import owner_only

        with open(args.output, "w", newline="", encoding="utf-8", opener=owner_only) as f:
            n = store.export_keys(f, args.trial)
        print(f"wrote {n} link(s) to {args.output}; it identifies patients: keep it at the site",
              file=sys.stderr)
    else:
        store.export_keys(sys.stdout, args.trial)
    return 0


def cmd_push(args) -> int:
    from .push import destination_for

    result = destination_for(
        "xnat", args.out, args.profile, store=_store(args), url=args.xnat, project=args.project,
        share_to=args.share_to, overwrite=args.overwrite, receipts=args.receipts).push()
    print(result.table.to_string(index=False))
    counts = result.table["status"].value_counts()
    held = counts.get("held", 0)
    print(f"{counts.get('uploaded', 0)} uploaded, {counts.get('already present', 0)} already "
          f"present, {len(result.failed)} not pushed ({held} held for approval); "
          f"receipts in {result.receipt_csv.parent}")
    if held:
        print(f"held studies wait for a person: see workbench status {args.out}, then "
              f"workbench approve {args.out} STUDY... --by NAME")
    if len(result.failed) > held:
        print("fix the reasons above, then re-run the same command: it completes what is missing")
    return result.exit_code


def cmd_sandbox(args) -> int:
    from .sandbox import main as sandbox_main

    return sandbox_main(args.sandbox_args)


def cmd_listing(args) -> int:
    from .push.listing import server_listing

    table = server_listing(args.xnat, args.project)
    print(table.to_string(index=False) if len(table) else f"project {args.project} is empty")
    print(f"{table['session'].nunique()} session(s), {len(table)} scan(s), "
          f"{int(table['files'].sum())} file(s)")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(args.folder, patients=args.patients)


def cmd_batch(args) -> int:
    from .batch.notebook import default_notebook, parameter_types, parse_values, run_notebook

    notebook = Path(args.notebook) if args.notebook else default_notebook()
    values = parse_values(args.param or [], parameter_types(notebook))
    run = run_notebook(args.src, args.out, args.profile, store=args.store, values=values,
                       runs=args.runs, notebook=notebook, cell_timeout=args.cell_timeout or None)
    counts = ", ".join(f"{t['studies']} {state}" for state, t in run.totals.items())
    print(f"batch {run.status}: {counts or 'no studies'}; record in {run.run_dir}")
    if run.message:
        print(run.message, file=sys.stderr)
    return run.exit_code


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="workbench", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"workbench {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    store, profile, trial, secret = (argparse.ArgumentParser(add_help=False) for _ in range(4))
    store.add_argument("--store", help="state database (default: per-user data folder, or "
                       "$WORKBENCH_STORE)")
    profile.add_argument("--profile", required=True,
                         help="the trial's de-identification profile (name or .yaml path)")
    trial.add_argument("--profile", help="the trial's profile (default: as the store says)")
    secret.add_argument("--trial-secret-file",
                        help="file with the trial secret (default: the store's)")

    s = sub.add_parser("examples", help="write a synthetic trial delivery with planted identifiers")
    s.add_argument("out")
    s.add_argument("--patients", type=int, default=3)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--with-bad-files", action="store_true",
                   help="add non-DICOM, truncated, duplicate and conflicting files")
    s.set_defaults(fn=cmd_examples)

    s = sub.add_parser("scan", help="list the studies and series under a folder")
    s.add_argument("src")
    s.set_defaults(fn=cmd_scan)

    s = sub.add_parser("profiles", help="list profiles, or show one's resolved actions")
    s.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    s.add_argument("name", nargs="?")
    s.set_defaults(fn=cmd_profiles)

    s = sub.add_parser("deid", help="de-identify and verify a delivery",
                       parents=[profile, secret, store])
    s.add_argument("src")
    s.add_argument("out")
    s.add_argument("--lookup", help="CSV lookup table for lookup-based pseudonyms")
    s.add_argument("--site", help="site ID for templates such as {site_id}")
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--resume", action="store_true",
                   help="complete an output folder from an earlier run")
    s.add_argument("--quarantine", help="quarantine folder (default: OUT.quarantine beside OUT)")
    s.set_defaults(fn=cmd_deid)

    s = sub.add_parser("verify", help="re-verify an output folder against its source",
                       parents=[profile, secret, store])
    s.add_argument("src")
    s.add_argument("out")
    s.set_defaults(fn=cmd_verify)

    s = sub.add_parser("validate", help="check a delivery against a trial protocol (exit 2 "
                       "when a check fails)", parents=[store])
    s.add_argument("src")
    s.add_argument("--protocol", required=True, help="protocol name or .yaml path")
    s.add_argument("--site", help="site ID whose ROI rename map applies")
    s.add_argument("--profile", help="record the results for this profile's trial in the "
                   "store (a study that fails cannot then be approved)")
    s.set_defaults(fn=cmd_validate)

    s = sub.add_parser("status", help="each study of an output folder: state, by whom, when",
                       parents=[trial, store])
    s.add_argument("out")
    s.set_defaults(fn=cmd_status)

    for command, verdict, text in (
            ("approve", "approved", "approve studies for release (binds to their outputs)"),
            ("reject", "rejected", "reject studies: they are not released")):
        s = sub.add_parser(command, help=text, parents=[trial, store])
        s.add_argument("out")
        s.add_argument("studies", nargs="*", metavar="STUDY",
                       help="SUBJECT/STUDY as workbench status prints it, or a subject ID")
        if verdict == "approved":
            s.add_argument("--all", action="store_true", help="every study of OUT")
        s.add_argument("--by", required=True, help="who signs off (a reviewer's name)")
        s.add_argument("--note", help="what was looked at, or why (a rejection needs one)")
        s.set_defaults(fn=cmd_sign, verdict=verdict)

    s = sub.add_parser("lookup-template", help="write a lookup table to fill in with the "
                       "trial's IDs, one row per patient (or accession)", parents=[profile])
    s.add_argument("src")
    s.add_argument("-o", "--output", required=True, help="CSV file to write (not overwritten)")
    s.set_defaults(fn=cmd_lookup_template)

    s = sub.add_parser("keys", help="the linkage key", parents=[store])
    s.add_argument("action", choices=["export"])
    s.add_argument("-o", "--output", help="CSV file (default: standard output)")
    s.add_argument("--trial")
    s.set_defaults(fn=cmd_keys)

    s = sub.add_parser("push", help="push verified studies to XNAT (exit 2 when some failed)",
                       parents=[profile, store])
    s.add_argument("out")
    s.add_argument("--xnat", metavar="URL", help="XNAT URL (default: the profile's trial.xnat_url);"
                   " login from XNAT_USER/XNAT_PASSWORD or ~/.netrc")
    s.add_argument("--project", help="XNAT project ID (default: trial.xnat_project)")
    s.add_argument("--share-to", metavar="PROJECT",
                   help="share subjects and sessions into this project (default: trial.share_to)")
    s.add_argument("--overwrite", choices=["none", "append"], default="none",
                   help="append: complete a session that already holds part of the study")
    s.add_argument("--receipts", metavar="DIR", help="receipts folder (default: OUT.receipts)")
    s.set_defaults(fn=cmd_push)

    # The sandbox parses its own options (see `workbench sandbox --help`); prefix "+" keeps
    # this parser from claiming them.
    s = sub.add_parser("sandbox", help="run a sandbox XNAT for tests and demos", add_help=False,
                       prefix_chars="+")
    s.add_argument("sandbox_args", nargs="*")
    s.set_defaults(fn=cmd_sandbox)

    s = sub.add_parser("listing", help="list what an XNAT project holds, read from the server")
    s.add_argument("--xnat", metavar="URL", required=True,
                   help="XNAT URL; login from XNAT_USER/XNAT_PASSWORD or ~/.netrc")
    s.add_argument("--project", required=True)
    s.set_defaults(fn=cmd_listing)

    s = sub.add_parser("demo", help="examples -> deid -> verify -> push to a sandbox XNAT -> "
                       "confirm and list, in FOLDER")
    s.add_argument("folder", nargs="?", default="demo")
    s.add_argument("--patients", type=int, default=3)
    s.set_defaults(fn=cmd_demo)

    s = sub.add_parser("batch", help="a resumable batch run of a delivery (papermill notebook; "
                       "exit 2 when studies are held for a person)", parents=[profile, store])
    s.add_argument("src")
    s.add_argument("out")
    s.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"),
                   help="a notebook parameter: site, lookup, destination, dry_run, approve, "
                   "xnat_url, xnat_project, workers, scheduler")
    s.add_argument("--runs", default="runs", metavar="DIR",
                   help="folder of run records (default: runs); each run goes to "
                   "DIR/<trial>/<UTC time>_<id>/")
    s.add_argument("--notebook",
                   help="the batch notebook (default: notebooks/20_batch_trial.ipynb)")
    s.add_argument("--cell-timeout", type=int, default=3600, metavar="SECONDS",
                   help="stop a cell that runs longer, and say which (default 3600; 0: no limit)")
    s.set_defaults(fn=cmd_batch)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: finished files are complete; re-run with --resume", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader (head, less) went away: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
