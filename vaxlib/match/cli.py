"""`vax match` and `vax evaluate`."""
from __future__ import annotations

import argparse
import logging
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from vaxlib import i18n
from vaxlib.config import PARAMETERS_DIR, load_yaml
from vaxlib.errors import CommandError, ManifestError

log = logging.getLogger(__name__)

_STEPS = ["prepare", "candidates", "compare", "score", "classify"]


def _read(path: str, kind: str, codes: tuple[str, ...] = ()):
    """``read_table`` of a file (:class:`vaxlib.io.ImportResult`), its quarantined rows logged;
    ``codes``: the columns whose coding comes back in ``ImportResult.codes``."""
    from vaxlib.io import read_table

    result = read_table(path, kind, codes=codes)
    if len(result.quarantine):
        log.warning("%s: %d of %d rows quarantined (see quarantine file)", path,
                    result.quarantine["row"].nunique(), result.rows_in)
    return result


def _registry_index(registry: str, folder: str | None, rebuild: bool = False):
    """The registry index of a register file: read from ``folder`` (default: beside the
    register) when it is current, else built from the register and saved there."""
    from vaxlib.cli import CommandError
    from vaxlib.match.index import (
        RegistryIndexError,
        build_index,
        default_index_path,
        load_index,
        registry_digest,
        save_index,
    )

    try:
        digest = registry_digest(registry)
    except OSError as exc:
        raise CommandError.say("register_unreadable", path=registry, error=exc.strerror) from exc
    folder = Path(folder) if folder else default_index_path(registry)
    if not rebuild:
        try:
            index = load_index(folder, digest)
            log.info("registry index %s: current, reused", folder)
            return index
        except RegistryIndexError as exc:
            log.info("%s", exc)
    read = _read(registry, "registry")
    table, quarantine = read.table, read.quarantine
    index = build_index(table, quarantine, registry_sha256=digest)
    try:
        save_index(index, folder)  # a folder that is not an index: RegistryIndexError, one line, exit 2
        log.info("registry index written to %s", folder)
    except OSError as exc:  # a read-only place: match without caching the index
        log.warning("registry index not saved to %s (%s); matching without it", folder, exc.strerror)
    return index


def cmd_index(args: argparse.Namespace) -> int:
    from vaxlib.cli import cli_lang

    L = cli_lang(args)
    index = _registry_index(args.registry, args.out, rebuild=True)  # a VaxImportError words itself
    print(i18n.t("cli.index_summary", L, n=i18n.fmt_int(len(index.reg), L), out=args.out))
    return 0


def _settings(args: argparse.Namespace):
    """The settings this run uses: ``--params`` (must exist), then the flags; unknown keys are an error."""
    from vaxlib.match.pipeline import MatchSettings

    params: dict = {}
    if args.params:
        path = Path(args.params)
        if not path.is_file():
            raise CommandError.say("params_missing", path=path)
        params = load_yaml(path)
        if not isinstance(params, dict):
            raise CommandError.say("params_not_mapping", path=path)
    for key in ("auto_threshold", "review_threshold", "max_block", "workers"):
        value = getattr(args, key, None)
        if value is not None:
            params[key] = value
    return MatchSettings.from_dict(params, source=args.params)


def _args_record(args: argparse.Namespace) -> dict:
    return {k: v for k, v in vars(args).items() if k != "func"}


def cmd_match(args: argparse.Namespace) -> int:
    from vaxlib.runs import check_input

    settings = _settings(args)  # a bad --params fails here, before anything is read
    for path in (args.registry, args.vaccinations):
        check_input(path)
    if getattr(args, "engine", "local") != "dask":
        for path in (args.registry, args.vaccinations):
            if Path(path).is_dir():  # e.g. `vax synth --partitioned`'s <table>/part-*.parquet
                from vaxlib.cli import CommandError
                raise CommandError.say("local_engine_folder", path=path)
    if getattr(args, "engine", "local") == "dask":  # the workers read the inputs: the client holds no table
        return _match_dask(args, settings, [args.registry, args.vaccinations] + ([args.params] if args.params else []))
    from vaxlib.io import _gc_paused

    with _gc_paused():  # see _match_local
        return _match_local(args, settings)


def _match_local(args: argparse.Namespace, settings) -> int:
    """`vax match` with the local engine: index, read, match, write.  :func:`cmd_match` calls it with
    the cyclic collector paused throughout, as in :func:`~vaxlib.match.pipeline.run_match` (building an
    index and writing the tables make millions of short-lived containers, and no cycles)."""
    from dataclasses import asdict

    from tqdm import tqdm

    from vaxlib.io import ImportResult, NoUsableRowsError, write_json, write_output
    from vaxlib.match.pipeline import run_match
    from vaxlib.match.prepare import TEXT_COLUMNS, ReaderCodes
    from vaxlib.runs import CANDIDATES, MATCH_STATS, MATCHES, MODEL, QUARANTINE, atomic_run, is_run

    out = Path(args.out)
    index = _registry_index(args.registry, args.index)
    q_reg = index.quarantine
    read = _read(args.vaccinations, "vaccinations", codes=TEXT_COLUMNS)
    # the reader's codes: prepare does not hash the typed text again
    vacc, q_vac, coded = read.table, read.quarantine, ReaderCodes(read.codes)
    del read
    quarantine = pd.concat([q_reg.assign(table="registry"), q_vac.assign(table="vaccinations")], ignore_index=True)
    for n_rows, path, q in ((len(index.reg), args.registry, q_reg), (len(vacc), args.vaccinations, q_vac)):
        if n_rows:
            continue
        # nothing to match: say why in one line; the quarantine the user needs is written as the run's only
        # file, unless that would replace a previous result (a failed run leaves it untouched)
        table = index.reg.iloc[:0] if path == args.registry else vacc
        err = NoUsableRowsError(ImportResult(table, q, len(q), None, str(path)))
        if len(quarantine) and not is_run(out):
            with atomic_run(out, command="match", args=_args_record(args), inputs=[args.registry,
                            args.vaccinations], settings=asdict(settings)) as staging:
                write_output(quarantine, staging / QUARANTINE, "quarantine")
            for lang in i18n.LANGS:  # the error words itself in both languages (vaxlib.errors.VaxError.message)
                setattr(err, f"message_{lang}", getattr(err, f"message_{lang}") + i18n.t("cli.apply_see", lang,
                                                                                           path=out / QUARANTINE))
        raise err
    inputs = [args.registry, args.vaccinations] + ([args.params] if args.params else [])
    with atomic_run(out, command="match", args=_args_record(args), inputs=inputs,
                    settings=asdict(settings)) as staging:
        truth = None
        if args.truth:
            truth = _truth(args.truth).set_index("record_id")["person_id"]
        bar = tqdm(total=len(_STEPS), desc="vax match", unit="step", disable=args.quiet)

        def progress(step: str) -> None:
            bar.set_postfix_str(step)
            if step != "prepare":
                bar.update(1)

        result = run_match(None, vacc, settings, progress=progress, truth_person=truth, index=index, coded=coded)
        bar.update(1)
        bar.close()
        write_output(result.matches, staging / MATCHES, "matches")
        write_output(result.candidates, staging / CANDIDATES, "candidates")
        result.model.save(staging / MODEL)
        # always written, empty or not: a reader counts rows in = matched + quarantined from one place
        write_output(quarantine, staging / QUARANTINE, "quarantine")
        # timings vary from run to run: they go to the manifest, so that a rerun gives the same files
        stats = {k: v for k, v in result.stats.items() if k != "timings"}
        stats["settings"] = asdict(settings)
        stats["quarantined"] = {"registry": int(q_reg["row"].nunique()) if len(q_reg) else 0,
                                "vaccinations": int(q_vac["row"].nunique()) if len(q_vac) else 0}
        write_json(stats, staging / MATCH_STATS)
        staging.extra["timings"] = result.stats.get("timings", {})
    counts = result.stats["status_counts"]
    from vaxlib.cli import cli_lang

    L = cli_lang(args)
    print(i18n.t("cli.match_summary", L, records=i18n.fmt_int(len(result.matches), L), counts=", ".join(
        f"{i18n.t(f'status.{k}', L) if i18n.has(f'status.{k}') else k}: {i18n.fmt_int(v, L)}"
        for k, v in sorted(counts.items()))))
    print(i18n.t("cli.wrote_two", L, a=out / MATCHES, b=out / CANDIDATES))
    return 0


def _match_dask(args: argparse.Namespace, settings, inputs: list) -> int:
    """`vax match --engine dask`: the partitioned engine (:mod:`vaxlib.match.distributed`) into the same
    atomic run folder, its tables as ``matches/part-*.parquet`` and ``candidates/part-*.parquet``.
    ``--registry`` and ``--vaccinations`` are files or folders of parts; the workers read them."""
    import hashlib
    import json
    from dataclasses import asdict

    from vaxlib.io import write_json, write_output
    from vaxlib.match.distributed import WorkDir, close_cluster, input_files, open_cluster, run_match_dask
    from vaxlib.runs import MATCH_STATS, MODEL, QUARANTINE, atomic_run, code_version, file_digest

    from vaxlib.cli import cli_lang

    L = cli_lang(args)
    if args.truth:
        raise CommandError.say("truth_local_only")
    out = Path(args.out)
    partitions = args.partitions or max(2 * (os.cpu_count() or 1), 1)
    work = (Path(args.work_dir) if args.work_dir else out.with_name(f".{out.name}.vaxwork")).resolve()
    sources = {"registry": input_files(args.registry), "vaccinations": input_files(args.vaccinations)}
    for kind, files in sources.items():
        if not files:
            raise CommandError.say("dask_no_parts", path=getattr(args, kind), kind=kind)
        for f in files:
            if not f.is_file():
                raise CommandError.say("no_such_file", path=f)
    key = hashlib.sha256(json.dumps({
        "inputs": {k: [file_digest(f) for f in v] for k, v in sources.items()},
        "settings": asdict(settings), "partitions": partitions, "code": code_version()["source_sha256"],
    }, sort_keys=True, default=str).encode()).hexdigest()
    client = open_cluster(args.scheduler, workers=args.dask_workers)
    try:
        def quiet(step: str) -> None:
            """--quiet: no stage lines (without a callback the engine logs each stage at INFO)."""

        with atomic_run(out, command="match", args=_args_record(args), inputs=inputs,
                        settings=asdict(settings)) as staging:
            result = run_match_dask(None, None, settings, client, partitions=partitions, work_dir=work,
                                    out=Path(staging.path).resolve(), run_key=key, sources=sources,
                                    progress=quiet if args.quiet else (lambda m: print(i18n.t("cli.match_progress", L, step=m),
                                                                                      flush=True)))
            result.model.save(staging / MODEL)
            quarantine = result.quarantine
            write_output(quarantine, staging / QUARANTINE, "quarantine")
            stats = {k: v for k, v in result.stats.items()}
            stats["settings"] = asdict(settings)
            stats["quarantined"] = {kind: int(quarantine.loc[quarantine["table"] == kind, ["file", "row"]]
                                              .drop_duplicates().shape[0]) if len(quarantine) else 0
                                    for kind in sources}
            write_json(stats, staging / MATCH_STATS)
            staging.extra["timings"] = result.timings
            staging.extra["resumed_stages"] = result.resumed
    finally:
        close_cluster(client)
    WorkDir(work).remove()  # the result is complete: its stages are no longer needed
    counts = result.stats["status_counts"]
    print(i18n.t("cli.match_summary", L, records=i18n.fmt_int(result.stats["records"], L), counts=", ".join(
        f"{i18n.t('status.' + k, L) if i18n.has('status.' + k) else k}: {i18n.fmt_int(v, L)}"
        for k, v in sorted(counts.items()))))
    if result.resumed:
        print(i18n.t("cli.match_resumed", L, work=work, stages=", ".join(result.resumed)))
    print(i18n.t("cli.match_wrote_parts", L, matches=out / "matches", candidates=out / "candidates",
                 n=i18n.fmt_int(partitions, L)))
    return 0


def _truth(path: str) -> pd.DataFrame:
    from vaxlib.io import read_output

    p = Path(path)
    if p.is_dir():
        for name in ("truth_vaccinations.parquet", "truth_vaccinations.csv"):
            if (p / name).exists():
                p = p / name
                break
        else:
            raise CommandError.say("truth_not_in_folder", path=p)
    if not p.is_file():
        raise CommandError.say("truth_missing", path=p)
    if p.suffix.lower() == ".csv":
        table = pd.read_csv(p, dtype=str, keep_default_na=False)
        missing = [c for c in ("record_id", "person_id") if c not in table.columns]
        if missing:
            raise CommandError.say("truth_not_table", path=p, columns=", ".join(missing))
        return table
    return read_output(p, "truth_vaccinations")  # a wrong or damaged file: one line naming file and column


def cmd_evaluate(args: argparse.Namespace) -> int:
    from vaxlib.exports import write_csv
    from vaxlib.io import read_json, read_output, write_json
    from vaxlib.match.evaluate import evaluate, pr_figure
    from vaxlib.runs import MATCH_STATS, MATCHES, atomic_run, check_run, run_file

    given = Path(args.matches)
    if not given.exists():
        raise CommandError.say("matches_missing", path=given)
    try:
        mpath = run_file(given, MATCHES, command="match")  # refuses an incomplete or changed run
    except ManifestError as exc:
        raise CommandError.say("matches_not_run", path=given, error=exc) from None
    files = check_run(mpath.parent)["files"]
    stats = read_json(mpath.parent / MATCH_STATS) if MATCH_STATS in files else None
    matches = read_output(mpath, "matches")
    truth = _truth(args.truth)
    vacc = _read(args.vaccinations, "vaccinations").table if args.vaccinations else None
    result = evaluate(matches, truth, vaccinations=vacc, stats=stats)
    from vaxlib.cli import cli_lang

    L = cli_lang(args)
    scalar = {k: v for k, v in result.items() if not isinstance(v, (pd.DataFrame, dict))}
    print(_evaluation_text(scalar, result, L))
    if args.out:
        inputs = [mpath.parent, args.truth] + ([args.vaccinations] if args.vaccinations else [])
        with atomic_run(args.out, command="evaluate", args=_args_record(args), inputs=inputs) as staging:
            write_json({k: (None if isinstance(v, float) and v != v else v) for k, v in scalar.items()},
                       staging / "evaluation.json")
            write_csv(result["codes"], staging / "evaluation-codes.csv", encoding="utf-8")
            write_csv(result["sweep"], staging / "evaluation-sweep.csv", encoding="utf-8")
            pr_figure(result["sweep"]).write_html(staging / "precision-recall.html", include_plotlyjs=True)
    return 0


def _evaluation_text(scalar: dict, result: dict, lang: str) -> str:
    """The figures, worded in ``lang`` with evaluation.json's key beside each, and the three tables with
    worded headers and the language's decimal mark (a Vietnamese demo printed an English block)."""
    def number(v, digits: int = 5) -> str:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            return str(v)
        if isinstance(v, (int, np.integer)):
            return i18n.fmt_int(v, lang)
        return i18n.fmt_decimal(v, lang, digits)

    def cell(v, digits: int = 6) -> str:
        bounds = re.fullmatch(r"\((\S+), (\S+)\]", v) if isinstance(v, str) else None  # calibration's bins
        if bounds:  # "(0,99; 0,999]": the decimal comma needs another separator
            left, right = (i18n.fmt_decimal(float(b), lang, len(b.split(".")[-1]) if "." in b else 0)
                           for b in bounds.groups())
            return i18n.t("eval.interval", lang, left=left, right=right)
        return number(v, digits)

    names = {k: i18n.t(f"eval.{k}", lang) if i18n.has(f"eval.{k}") else k for k in scalar}
    width = max((len(f"{n} ({k})") for k, n in names.items()), default=0)
    lines = []
    for k, v in scalar.items():
        head = f"{names[k]} ({k})".ljust(width)
        if isinstance(v, float) and v != v:  # NaN: nothing to measure (e.g. no review rows)
            lines.append(f"{head}  — ({i18n.t('cli.eval_nothing', lang)})")
        else:
            lines.append(f"{head}  {number(v)}")
    for key, name in (("eval_codes", "codes"), ("eval_sweep", "sweep"), ("eval_calibration", "calibration")):
        table = result[name]
        shown = pd.DataFrame({i18n.t(f"eval.col_{c}", lang) if i18n.has(f"eval.col_{c}") else c:
                              table[c] if c == "code" else table[c].map(lambda v, d=4 if c == "threshold" else 6:
                                                                            cell(v, d))
                              for c in table.columns})
        lines.append(f"\n{i18n.t('cli.' + key, lang)}:\n" + shown.to_string(index=False))
    return "\n".join(lines)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("match", help="match dose records against the registry")
    p.add_argument("--registry", required=True,
                   help="registry file (parquet, csv, xlsx); with --engine dask also a folder of parts")
    p.add_argument("--vaccinations", required=True,
                   help="vaccination records file; with --engine dask also a folder of parts")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--params", default=str(PARAMETERS_DIR / "matching.yaml"), help="matching parameters YAML")
    p.add_argument("--auto-threshold", type=float, dest="auto_threshold")
    p.add_argument("--review-threshold", type=float, dest="review_threshold")
    p.add_argument("--max-block", type=int, dest="max_block")
    p.add_argument("--workers", type=int, dest="workers", help="processes for blocking and comparison (default 2)")
    p.add_argument("--index", help="registry index folder (`vax index`); default: built and kept beside the "
                                   "register, rebuilt whenever the register changes")
    p.add_argument("--truth", help="(evaluation only) truth folder/file, adds blocking recall to the statistics")
    p.add_argument("--engine", choices=("local", "dask"), default="local",
                   help="local: one process (default); dask: hash partitions on a Dask cluster, same answers")
    p.add_argument("--scheduler", help="(dask) address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786; "
                                       "default: a LocalCluster with one worker per core")
    p.add_argument("--partitions", type=int, help="(dask) hash partitions of each table (default: 2 per core)")
    p.add_argument("--work-dir", dest="work_dir", help="(dask) folder for finished stages; a killed run resumes "
                                                       "from it (default: .OUT.vaxwork beside --out)")
    p.add_argument("--dask-workers", dest="dask_workers", type=int,
                   help="(dask, no --scheduler) LocalCluster worker processes (default: one per core)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_match)

    x = sub.add_parser("index", help="prepare a register once for repeated `vax match` runs")
    x.add_argument("--registry", required=True, help="registry file (parquet, csv, xlsx)")
    x.add_argument("--out", required=True, help="index folder (give it to `vax match --index`)")
    x.set_defaults(func=cmd_index)

    e = sub.add_parser("evaluate", help="evaluate matches against the synthetic truth")
    e.add_argument("--truth", required=True, help="truth_vaccinations file or the synth output folder")
    e.add_argument("--matches", required=True, help="matches.parquet or the match output folder")
    e.add_argument("--vaccinations", help="typed records (for the corrected-value check)")
    e.add_argument("--out", help="folder for evaluation.json, tables and the precision-recall figure")
    e.set_defaults(func=cmd_evaluate)
