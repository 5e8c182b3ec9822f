"""Fault injection: kill every writing command at several points and fill the disk; prints "faults survived N/N".

For each scenario (a command and a fault) on a small synthetic data set
(``vax synth --persons 400``, one province):

1. a fresh copy of a folder in which the whole chain ran uninterrupted (the
   reference result of each command);
2. the command runs once with other arguments: the *previous* result;
3. the command runs with the reference arguments and a fault: ``VAX_FAULT``
   (:func:`vaxlib.runs.fault_point`) SIGKILLs it in the middle of writing a file,
   after its staging folder is complete, after the manifest, or between the two
   renames of the swap; or makes a write fail with ``ENOSPC`` (a full disk);
   ``vax report`` is also SIGKILLed from outside while its workers and Jupyter
   kernels run;
4. checks: the previous result is intact (every file as before, manifest
   checks), nothing is left beside the folder, no worker or kernel of a killed
   command is still alive, a full disk gives a one-line error with exit 2, and
   signing-ledger entries name only committed certificates;
5. the command runs again without a fault: the result equals the reference
   byte for byte -- xlsx by cell content, HTML with plotly's and papermill's
   random element ids blanked, certificates by person and key, the signing
   ledger by its events (UVCIs, times and signatures are random by design);
   ``vax sign`` is incremental, so its uninterrupted run starts from the same
   previous run.

Usage::

    .venv/bin/python bench/faults.py            # all scenarios
    .venv/bin/python bench/faults.py -k match   # those whose name contains "match"

``tests/test_faults.py`` runs the same scenarios under pytest.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from vaxlib.runs import MANIFEST, RunFolder, check_run  # noqa: E402

PERSONS = 400
SEED = 7  # a data set with a feedback item (vax feedback on none is another test)
PROVINCE = "79"
PASSPHRASE = "fault-test-keys-only"


def vax(argv: list[str], *, fault: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``vax`` in a child process (``VAX_FAULT=fault`` when given)."""
    env = {**os.environ, "VAX_KEY_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(ROOT)}
    env.pop("VAX_FAULT", None)
    if fault:
        env["VAX_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "vaxlib.cli", *argv], env=env, capture_output=True, text=True,
                          timeout=timeout)


def _ok(proc: subprocess.CompletedProcess, what: str) -> None:
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}): {proc.stderr[-2000:]}")


# --------------------------------------------------------------------------- the commands


@dataclass(frozen=True)
class Command:
    name: str
    out: Callable[[RunFolder], Path]  #: its run folder
    argv: Callable[[RunFolder], list[str]]  #: the reference arguments
    #: extra arguments of the "previous" run (a different result), or a function of the run folder making them
    other: list[str] | Callable[[RunFolder], list[str]]


def _registry_before_a_correction(rf: RunFolder) -> list[str]:
    """``--registry`` of a register whose every name differs from ``rf``'s by one word, written beside it: the
    previous sign run made from it, the run under test re-issues every certificate (a register corrected in
    between).  Was ``--lang en``, while ``--lang`` chose the issuer text; a rerun now keeps the previous issuer."""
    import pandas as pd

    reg = pd.read_parquet(rf.registry)
    reg["full_name"] = reg["full_name"].astype(str) + " An"
    path = rf.root / "registry-before-correction.parquet"
    reg.to_parquet(path, index=False)
    return ["--registry", str(path)]


COMMANDS: dict[str, Command] = {c.name: c for c in [
    Command("match", lambda rf: rf.match, lambda rf: [
        "match", "--registry", str(rf.registry), "--vaccinations", str(rf.vaccinations), "--out", str(rf.match),
        "--quiet"], ["--auto-threshold", "0.9"]),
    Command("apply", lambda rf: rf.apply, lambda rf: [
        "apply", "--vaccinations", str(rf.vaccinations), "--matches", str(rf.matches), "--out", str(rf.apply)],
        ["--xlsx", "all"]),
    Command("sign", lambda rf: rf.certificates_dir, lambda rf: [
        "sign", "--registry", str(rf.registry), "--vaccinations", str(rf.corrected), "--matches",
        str(rf.matches_current), "--keys", str(rf.keys), "--out", str(rf.certificates_dir)],
        _registry_before_a_correction),
    Command("feedback", lambda rf: rf.feedback_dir, lambda rf: [
        "feedback", "--data", str(rf.root), "--as-of", "2022-04-30"], ["--batch-hours", "12"]),
    Command("report", lambda rf: rf.reports, lambda rf: [
        "report", "--data", str(rf.root), "--provinces", PROVINCE, "--out", str(rf.reports), "--no-national",
        "--workers", "1", "--quiet"], ["--lang", "en"]),
]}


@dataclass(frozen=True)
class Scenario:
    command: str
    fault: str  #: a VAX_FAULT value, or "sigkill:running" (killed from outside while its workers run)

    @property
    def name(self) -> str:
        return f"{self.command}/{self.fault}"


SCENARIOS: list[Scenario] = [
    Scenario("match", "kill:write:candidates.parquet"),
    Scenario("match", "kill:match:staged"),
    Scenario("match", "kill:match:swap"),
    Scenario("match", "enospc:write:candidates.parquet"),
    Scenario("apply", "kill:write:vaccinations_reimport.xlsx"),
    Scenario("apply", "kill:apply:manifest"),
    Scenario("apply", "kill:apply:swap"),
    Scenario("apply", "enospc:write:apply_summary.json"),
    Scenario("sign", "kill:sign:chunk"),  # mid-signing, certificates half written
    Scenario("sign", "kill:sign:staged"),
    Scenario("sign", "kill:sign:swap"),
    Scenario("sign", "enospc:sign:staged"),
    Scenario("feedback", "kill:write:queue.parquet"),
    Scenario("feedback", "kill:feedback:swap"),
    Scenario("feedback", "enospc:write:feedback_summary.json"),
    Scenario("report", "sigkill:running"),
    Scenario("report", "kill:report:staged"),
    Scenario("report", "enospc:report:staged"),
]


# --------------------------------------------------------------------------- the reference folder


def build_reference(root: Path, commands: set[str] | None = None) -> RunFolder:
    """The chain, uninterrupted, in ``root`` (the reference result of each command in ``commands``, default all)."""
    commands = set(COMMANDS) if commands is None else set(commands)
    if "report" in commands:
        commands |= {"feedback"}
    rf = RunFolder(root)
    _ok(vax(["synth", "--persons", str(PERSONS), "--seed", str(SEED), "--provinces", PROVINCE, "--out",
             str(rf.data)]), "synth")
    for name in ("match", "apply"):
        _ok(vax(COMMANDS[name].argv(rf)), name)
    _ok(vax(["match", "--registry", str(rf.registry), "--vaccinations", str(rf.corrected), "--out",
             str(rf.match_corrected), "--quiet"]), "match corrected")
    if "sign" in commands:
        _ok(vax(["keys", "init", "--out", str(rf.keys)]), "keys init")
    for name in ("sign", "feedback", "report"):
        if name in commands:
            _ok(vax(COMMANDS[name].argv(rf)), name)
    return rf


# --------------------------------------------------------------------------- comparing results

#: random by design: plotly's element UUIDs and the id papermill gives the cell it injects
_RANDOM_IDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|cell-id=[0-9a-f]{8}\b")


def _content(path: Path) -> object:
    """What must be equal between two runs: the bytes, except where a format is not deterministic."""
    if path.suffix == ".xlsx":
        import openpyxl

        wb = openpyxl.load_workbook(path, read_only=True)
        return [[[c for c in row] for row in ws.iter_rows(values_only=True)] for ws in wb.worksheets]
    if path.suffix == ".html":  # plotly and papermill name elements with random ids
        return hashlib.sha256(_RANDOM_IDS.sub("ID", path.read_text(encoding="utf-8")).encode()).hexdigest()
    if path.name == "certificates.parquet":  # UVCIs, iat/exp and ECDSA signatures differ by design
        from vaxlib.io import read_output

        df = read_output(path, "certificates")
        return sorted(zip(df["person_id"], df["kid"]))
    part = path.name.startswith("part-") and path.suffix == ".parquet"  # a rerun's index parts (sign.store)
    if path.name == "certificate-content.parquet" or (part and path.parent.name == "certificate-content"):
        # the same people and content hashes; UVCIs are random
        from vaxlib.io import read_output

        df = read_output(path, "table")
        return sorted(zip(df["person_id"], df["qr_file"].astype(bool), df["name_hash"], df["dob_hash"],
                          df["dose_hash"]))
    if path.name == "signing-ledger.csv" or (path.parent.name == "signing-ledger" and path.suffix == ".csv"):
        # the same events by the same signer and key; UVCIs, times random
        import csv

        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        return sorted((r["signer"], r["kid"], r["event"], r["reason"], bool(r["supersedes"])) for r in rows)
    if path.suffix in (".png", ".svg"):  # QR images carry the (random) HC1
        return path.stat().st_size > 0
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(run_dir: Path) -> dict[str, object]:
    """Check ``run_dir`` against its manifest; its files' comparable content."""
    files = check_run(run_dir)["files"]
    return {rel: _content(run_dir / rel) for rel in sorted(files)}


def exact_files(run_dir: Path) -> dict[str, str]:
    """The manifest's SHA-256 of every file (the previous result must be exactly this after a fault)."""
    return {rel: meta["sha256"] for rel, meta in check_run(run_dir)["files"].items()}


def leftovers(run_dir: Path) -> list[str]:
    prefix = f".{run_dir.name}."
    return sorted(n for n in os.listdir(run_dir.parent) if n.startswith(prefix))


def ledger_uvcis(root: Path) -> set[str]:
    """UVCIs listed in any signing ledger under ``root``."""
    found: set[str] = set()
    for p in [*root.rglob("signing-ledger*"), *root.rglob("signing-ledger/part-*.csv")]:  # one file, or parts
        if p.is_file():
            found |= set(re.findall(r"URN:UVCI:[^,;\s\"]+", p.read_text(encoding="utf-8", errors="replace")))
    return found


def committed_uvcis(root: Path) -> set[str]:
    from vaxlib.io import read_output

    found: set[str] = set()
    for p in root.rglob("certificates.parquet"):
        if ".vax" not in str(p.parent.name):
            found |= set(read_output(p, "certificates")["uvci"])
    return found


def _descendants(pid: int) -> set[int]:
    """PIDs of the process tree under ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _kill_while_running(argv: list[str], wait_for: int = 2, timeout: float = 120) -> tuple[int, set[int]]:
    """Start ``vax argv``; SIGKILL it once it has ``wait_for`` descendants (a worker and its kernel)."""
    env = {**os.environ, "VAX_KEY_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(ROOT)}
    env.pop("VAX_FAULT", None)
    proc = subprocess.Popen([sys.executable, "-m", "vaxlib.cli", *argv], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    seen: set[int] = set()
    while time.monotonic() - t0 < timeout and proc.poll() is None:
        seen = _descendants(proc.pid)
        if len(seen) >= wait_for:
            break
        time.sleep(0.2)
    time.sleep(1.0)  # let the kernel start executing
    seen |= _descendants(proc.pid)
    proc.send_signal(signal.SIGKILL)
    return proc.wait(), seen


# --------------------------------------------------------------------------- one scenario


def run_scenario(reference: RunFolder, work: Path, sc: Scenario) -> list[str]:
    """Run one scenario in ``work`` (a copy of ``reference``); returns the problems found (empty = survived)."""
    problems: list[str] = []
    shutil.copytree(reference.root, work, symlinks=True)
    rf = RunFolder(work)
    cmd = COMMANDS[sc.command]
    out = cmd.out(rf)
    want = snapshot(cmd.out(reference))
    other = cmd.other(rf) if callable(cmd.other) else cmd.other
    _ok(vax(cmd.argv(rf) + other), f"{sc.command} (previous run)")
    previous = exact_files(out)
    if sc.command == "sign":
        # vax sign is incremental (a rerun keeps unchanged certificates, carries the ledger): the uninterrupted
        # run to compare with starts from the same previous run
        twin = work.parent / f"{work.name}-uninterrupted"
        shutil.copytree(work, twin, symlinks=True)
        _ok(vax(cmd.argv(RunFolder(twin))), "sign (uninterrupted)")
        want = snapshot(cmd.out(RunFolder(twin)))
        shutil.rmtree(twin, ignore_errors=True)
    if sc.fault == "sigkill:running":
        code, tree = _kill_while_running(cmd.argv(rf))
        if code != -signal.SIGKILL:
            problems.append(f"not killed while running (exit {code})")
        deadline = time.monotonic() + 10  # kernels poll their parent once a second
        while time.monotonic() < deadline and any(_alive(p) for p in tree):
            time.sleep(0.2)
        alive = sorted(p for p in tree if _alive(p))
        if not tree:
            problems.append("no worker was seen before the kill")
        if alive:
            problems.append(f"{len(alive)} worker/kernel process(es) outlived the killed command")
            for p in alive:
                os.kill(p, signal.SIGKILL)
    else:
        proc = vax(cmd.argv(rf), fault=sc.fault)
        if sc.fault.startswith("kill:") and proc.returncode != -signal.SIGKILL:
            problems.append(f"fault point not reached (exit {proc.returncode}): {proc.stderr[-500:]}")
        if sc.fault.startswith("enospc:"):
            err = proc.stderr.strip().splitlines()  # log lines may come first; the error is the last line
            from vaxlib.i18n import t as _t  # vax words the full disk in its language (Vietnamese by default)

            if proc.returncode != 2 or "Traceback" in proc.stderr or not err or _t("cli.os_ENOSPC") not in err[-1]:
                problems.append(f"full disk: want one line and exit 2, got exit {proc.returncode}: "
                                f"{proc.stderr[-500:]}")
    try:
        after = exact_files(out)
    except Exception as exc:  # noqa: BLE001 - a broken folder is what this looks for
        problems.append(f"previous result unreadable after the fault: {exc}")
    else:
        if after != previous:
            problems.append("previous result changed by the failed run")
    if leftovers(out):
        problems.append(f"left beside the folder: {leftovers(out)}")
    if sc.command == "sign":
        stray = ledger_uvcis(work) - committed_uvcis(work) - committed_uvcis(reference.root)
        if stray:
            problems.append(f"signing ledger lists {len(stray)} UVCI(s) of certificates never committed")
    proc = vax(cmd.argv(rf))
    if proc.returncode != 0:
        problems.append(f"rerun failed ({proc.returncode}): {proc.stderr[-500:]}")
    elif snapshot(out) != want:
        got = snapshot(out)
        diff = sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k))
        problems.append(f"rerun differs from the uninterrupted run in {diff}")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", default="", help="only scenarios whose name contains this")
    ap.add_argument("--keep", action="store_true", help="keep the work folders")
    a = ap.parse_args(argv)
    chosen = [s for s in SCENARIOS if a.k in s.name]
    base = Path(tempfile.mkdtemp(prefix="vax-faults-"))
    t0 = time.perf_counter()
    try:
        reference = build_reference(base / "reference", {s.command for s in chosen})
        print(f"reference chain built in {time.perf_counter() - t0:.1f} s ({PERSONS} persons)", flush=True)
        survived = 0
        for i, sc in enumerate(chosen):
            t = time.perf_counter()
            problems = run_scenario(reference, base / f"s{i:02d}", sc)
            survived += not problems
            print(f"{'ok  ' if not problems else 'FAIL'} {sc.name:45s} {time.perf_counter() - t:5.1f} s"
                  + "".join(f"\n     - {p}" for p in problems), flush=True)
            if not a.keep:
                shutil.rmtree(base / f"s{i:02d}", ignore_errors=True)
        print(f"faults survived {survived}/{len(chosen)} ({time.perf_counter() - t0:.0f} s)")
        return 0 if survived == len(chosen) else 1
    finally:
        if not a.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
