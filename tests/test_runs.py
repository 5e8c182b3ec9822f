"""vaxlib.runs: atomic run folders, manifests, recovery after a kill (table-driven over the fault points)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from vaxlib.errors import ManifestError, RunError, VaxError
from vaxlib.io import read_output, write_output
from vaxlib.runs import MANIFEST, RunFolder, atomic_run, check_run, read_manifest, recover

MATCHES = pd.DataFrame({
    "record_id": ["r1", "r2"], "status": ["verified", "fix"], "person_id": ["p1", "p2"],
    "match_probability": [1.0, 0.995], "error_codes": ["", "name:typo"],
    "corrected_full_name": [None, "Nguyễn Văn A"], "corrected_dob": [None, None], "corrected_sex": [None, None],
    "corrected_id_number": [None, None], "person_key": ["p1", "p2"],
})


def _write(out: Path, tag: str, *, quarantine: bool) -> None:
    with atomic_run(out, command="match", args={"tag": tag}, settings={"auto_threshold": 0.99}) as st:
        write_output(MATCHES.assign(error_codes=tag), st / "matches.parquet", "matches")
        (st / "note.txt").write_text(tag, encoding="utf-8")
        if quarantine:
            write_output(pd.DataFrame({"file": ["f"], "row": [2], "column": ["dob"], "reason": ["bad_dob"],
                                       "raw": ["x"]}), st / "quarantine.parquet", "quarantine")


def _siblings(out: Path) -> list[str]:
    return sorted(n for n in os.listdir(out.parent) if n != out.name)


def test_manifest_records_files_rows_and_settings(tmp_path):
    out = tmp_path / "match"
    _write(out, "a", quarantine=True)
    m = check_run(out, command="match")
    assert set(m["files"]) == {"matches.parquet", "note.txt", "quarantine.parquet"}
    assert m["files"]["matches.parquet"]["rows"] == 2
    assert m["rows"] == {"matches": 2, "quarantine": 1}
    assert m["settings"] == {"auto_threshold": 0.99}
    assert m["args"] == {"tag": "a"}
    assert m["files"]["note.txt"]["size"] == 1
    assert len(m["code"]["source_sha256"]) == 64
    assert _siblings(out) == []  # no staging or old folder left


def test_manifest_rows_sum_the_parts_of_each_partitioned_table(tmp_path):
    # part-00000 of matches and of candidates must not overwrite each other under one stem
    out = tmp_path / "match"
    with atomic_run(out, command="match") as st:
        for table, sizes in {"matches": (2, 1), "candidates": (1, 2, 2)}.items():
            (st / table).mkdir()
            for i, n in enumerate(sizes):
                write_output(MATCHES.head(n), st / table / f"part-{i:05d}.parquet", "matches")
    m = check_run(out, command="match")
    assert m["rows"] == {"matches": 3, "candidates": 5}
    assert m["files"]["candidates/part-00002.parquet"]["rows"] == 2


def test_second_run_drops_stale_files_and_keeps_foreign_ones(tmp_path):
    out = tmp_path / "match"
    _write(out, "a", quarantine=True)
    (out / "ledger.db").write_bytes(b"analysts' decisions")
    _write(out, "b", quarantine=False)
    assert not (out / "quarantine.parquet").exists()
    assert (out / "ledger.db").read_bytes() == b"analysts' decisions"
    assert (out / "note.txt").read_text() == "b"
    check_run(out)
    assert _siblings(out) == []


def test_failing_body_leaves_previous_result_untouched(tmp_path):
    out = tmp_path / "match"
    _write(out, "a", quarantine=True)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ZeroDivisionError):
        with atomic_run(out, command="match") as st:
            (st / "matches.parquet").write_bytes(b"half")
            1 / 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert _siblings(out) == []


def test_check_run_refuses_missing_changed_or_truncated_files(tmp_path):
    out = tmp_path / "match"
    _write(out, "a", quarantine=False)
    (out / "note.txt").write_text("z", encoding="utf-8")  # same size, other content
    with pytest.raises(ManifestError, match="nội dung khác"):
        check_run(out)
    check_run(out, full=False)
    (out / "note.txt").write_text("longer", encoding="utf-8")
    with pytest.raises(ManifestError, match="kích thước khác"):
        check_run(out, full=False)
    (out / "note.txt").unlink()
    with pytest.raises(ManifestError, match="nhưng không còn"):
        check_run(out)
    (out / MANIFEST).unlink()
    with pytest.raises(ManifestError, match="không có _manifest.json"):
        read_manifest(out)
    with pytest.raises(ManifestError, match="không phải vax apply"):
        _write(tmp_path / "m2", "a", quarantine=False)
        check_run(tmp_path / "m2", command="apply")


def test_refuses_file_as_out_and_foreign_file_with_a_run_name(tmp_path):
    f = tmp_path / "out"
    f.write_text("x")
    with pytest.raises(RunError, match="là một tệp"):
        with atomic_run(f, command="match"):
            pass
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "matches.parquet").write_bytes(b"user's own file")
    with pytest.raises(RunError, match="không do vaxlib ghi"):
        _write(legacy, "a", quarantine=False)
    assert (legacy / "matches.parquet").read_bytes() == b"user's own file"
    assert _siblings(legacy) == ["out"]
    assert isinstance(RunError("x"), VaxError)


def test_enospc_leaves_previous_result(tmp_path, monkeypatch):
    out = tmp_path / "match"
    _write(out, "a", quarantine=True)
    monkeypatch.setenv("VAX_FAULT", "enospc:write:quarantine.parquet")
    with pytest.raises(OSError, match="No space"):
        _write(out, "b", quarantine=True)
    assert read_output(out / "matches.parquet", "matches")["error_codes"].tolist() == ["a", "a"]
    check_run(out)
    assert _siblings(out) == []


_CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_runs import _write
    _write(Path(sys.argv[1]), "b", quarantine=False)
""")


@pytest.mark.parametrize("point, committed", [
    ("kill:write:matches.parquet", False),
    ("kill:wrote:matches.parquet", False),
    ("kill:match:staged", False),
    ("kill:match:manifest", False),
    ("kill:match:swap", False),  # previous folder renamed away, new one not yet in place
    ("kill:match:swapped", True),  # after the commit point: the new run is the result
])
def test_sigkill_at_each_point_then_recovery(tmp_path, point, committed):
    out = tmp_path / "match"
    _write(out, "a", quarantine=True)
    (out / "ledger.db").write_bytes(b"decisions")
    before = check_run(out)["files"]
    env = {**os.environ, "VAX_FAULT": point}
    proc = subprocess.run([sys.executable, "-c", _CHILD.format(tests=str(Path(__file__).parent)), str(out)],
                          env=env, capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()
    recover(out)
    m = check_run(out)
    assert _siblings(out) == []
    assert (out / "ledger.db").read_bytes() == b"decisions"
    if committed:
        assert m["args"] == {"tag": "b"} and not (out / "quarantine.parquet").exists()
    else:
        assert m["files"] == before
    _write(out, "b", quarantine=False)  # the rerun completes and equals an uninterrupted run
    assert read_output(out / "matches.parquet", "matches")["error_codes"].tolist() == ["b", "b"]
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "ledger.db", "matches.parquet", "note.txt"]


def test_a_run_killed_before_its_staging_marker_was_whole_leaves_nothing_after_the_next_run(tmp_path):
    """SIGKILL between the staging folder's mkdir and its marker's rename (seen at user level: a
    `vax sign` killed 0.75 s in left `.certs.vaxtmp-PID-TOKEN/.vaxlib-staging.part` for good)."""
    out = tmp_path / "match"
    _write(out, "a", quarantine=True)
    before = check_run(out)["files"]
    env = {**os.environ, "VAX_FAULT": "kill:match:mkdir"}
    proc = subprocess.run([sys.executable, "-c", _CHILD.format(tests=str(Path(__file__).parent)), str(out)],
                          env=env, capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()
    (left,) = _siblings(out)  # the killed run's empty staging folder
    assert left.startswith(".match.vaxtmp-") and not any((tmp_path / left).iterdir())
    # and one killed while its marker was half written (a dead process: pid 2**22 + 1 is above pid_max's default)
    half = tmp_path / f".match.vaxtmp-{2**22 + 1}-0badc0de"
    half.mkdir()
    (half / ".vaxlib-staging.part").write_text('{"vaxlib": "stag')
    assert check_run(out)["files"] == before
    _write(out, "b", quarantine=False)  # the next run recovers both
    assert _siblings(out) == []
    assert read_output(out / "matches.parquet", "matches")["error_codes"].tolist() == ["b", "b"]


@pytest.mark.parametrize("content, live", [({"keep.txt": "user data"}, False), ({}, True),
                                           ({".vaxlib-staging.part": "{", "notes.md": "mine"}, False)])
def test_an_unmarked_staging_lookalike_is_kept_unless_it_holds_nothing_of_anyone_and_its_process_is_gone(
        tmp_path, content, live):
    out = tmp_path / "match"
    _write(out, "a", quarantine=False)
    pid = os.getpid() if live else 2**22 + 1
    other = tmp_path / f".match.vaxtmp-{pid}-0badc0de"
    other.mkdir()
    for name, text in content.items():
        (other / name).write_text(text)
    assert recover(out) == []
    assert sorted(p.name for p in other.iterdir()) == sorted(content)


def test_recover_ignores_lookalike_folders_without_marker(tmp_path):
    out = tmp_path / "match"
    _write(out, "a", quarantine=False)
    mine = tmp_path / ".match.vaxold-1-abc"
    mine.mkdir()
    (mine / "keep.txt").write_text("user data")
    assert recover(out) == []
    assert (mine / "keep.txt").exists()


def test_run_folder_layout():
    rf = RunFolder("/x")
    assert rf.matches == Path("/x/match/matches.parquet")
    assert rf.matches_current == Path("/x/match-corrected/matches.parquet")
    assert rf.certificates == Path("/x/certificates/certificates.parquet")
    assert rf.ledger == Path("/x/ledger.db")
    assert rf.feedback_status == Path("/x/feedback/feedback_status.parquet")
    assert json.dumps(str(rf.apply_summary)).endswith('apply/apply_summary.json"')


def test_cli_prints_a_vax_error_as_one_line_exit_2(tmp_path, capsys):
    from vaxlib.cli import CommandError as AliasedCommandError, main
    from vaxlib.errors import CommandError

    assert AliasedCommandError is CommandError
    f = tmp_path / "out"
    f.write_text("x")
    code = main(["synth", "--persons", "0", "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("vax synth: ") and "Traceback" not in err


# --------------------------------------------------------------------------- hard links into a new run


def _write_linking(out: Path, tag: str) -> None:
    """A rerun that carries ``img.bin`` over from the run in ``out`` by a hard link and writes a new note."""
    m = read_manifest(out)
    with atomic_run(out, command="match", args={"tag": tag}) as st:
        assert st.link(out / "img.bin", "img.bin", m["files"]["img.bin"])
        (st / "note.txt").write_text(tag, encoding="utf-8")


def _first_run(out: Path) -> None:
    with atomic_run(out, command="match", args={"tag": "a"}) as st:
        (st / "img.bin").write_bytes(os.urandom(4096))
        (st / "note.txt").write_text("a", encoding="utf-8")


def test_a_linked_file_keeps_its_inode_and_recorded_digest_without_being_read(tmp_path, monkeypatch):
    import vaxlib.runs as runs

    out = tmp_path / "run"
    _first_run(out)
    before = (out / "img.bin").read_bytes()
    ino = os.stat(out / "img.bin").st_ino
    digest = read_manifest(out)["files"]["img.bin"]["sha256"]
    hashed = []
    real = runs.file_digest
    monkeypatch.setattr(runs, "file_digest", lambda p: hashed.append(Path(p).name) or real(p))
    _write_linking(out, "b")
    assert "img.bin" not in hashed and "note.txt" in hashed  # the linked file was not read again
    m = check_run(out)  # full SHA-256 check of the new run: the reused digest is the file's
    assert m["files"]["img.bin"]["sha256"] == digest and (out / "note.txt").read_text() == "b"
    assert os.stat(out / "img.bin").st_ino == ino and (out / "img.bin").read_bytes() == before
    assert os.stat(out / "img.bin").st_nlink == 1  # the previous run's entry is gone with it


def test_a_file_changed_after_its_run_is_hashed_again_when_linked(tmp_path):
    out = tmp_path / "run"
    _first_run(out)
    p = out / "img.bin"
    recorded = read_manifest(out)["files"]["img.bin"]["sha256"]
    with open(p, "r+b") as fh:  # edited in place after the run: same size, new content and mtime
        fh.write(b"\0" * 16)
    st = os.stat(p)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    _write_linking(out, "b")
    m = check_run(out)  # the new manifest holds the file's real digest, not the stale one
    from vaxlib.runs import file_digest

    assert m["files"]["img.bin"]["sha256"] == file_digest(p) != recorded
    assert m["files"]["img.bin"]["mtime_ns"] == os.stat(p).st_mtime_ns


def test_link_refuses_a_symbolic_link_and_a_missing_file(tmp_path):
    out = tmp_path / "run"
    _first_run(out)
    secret = tmp_path / "secret.txt"
    secret.write_text("not vaxlib's", encoding="utf-8")
    (tmp_path / "sym").symlink_to(secret)
    with atomic_run(out, command="match", args={"tag": "b"}) as st:
        assert not st.link(tmp_path / "sym", "sym.txt")
        assert not st.link(tmp_path / "missing.bin", "missing.bin")
        (st / "note.txt").write_text("b", encoding="utf-8")
    assert set(check_run(out)["files"]) == {"note.txt"}


_CHILD_LINK = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_runs import _write_linking
    _write_linking(Path(sys.argv[1]), "b")
""")


@pytest.mark.parametrize("point", ["kill:match:staged", "kill:match:manifest", "kill:match:swap"])
def test_a_killed_linking_run_leaves_the_previous_run_byte_identical(tmp_path, point):
    out = tmp_path / "run"
    _first_run(out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    proc = subprocess.run([sys.executable, "-c", _CHILD_LINK.format(tests=str(Path(__file__).parent)), str(out)],
                          env={**os.environ, "VAX_FAULT": point}, capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()
    recover(out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    check_run(out)
    assert _siblings(out) == [] and os.stat(out / "img.bin").st_nlink == 1
    _write_linking(out, "b")  # the rerun completes
    assert (out / "note.txt").read_text() == "b" and (out / "img.bin").read_bytes() == before["img.bin"]


def test_a_file_hashed_while_written_gets_its_true_digest_and_a_later_change_is_hashed_again(tmp_path):
    """Staging.open: the manifest takes the digest computed while writing, unless the file changed since."""
    from vaxlib.runs import file_digest

    with atomic_run(tmp_path / "R", command="sign") as st:
        with st.open("a/x.bin") as fh:
            fh.write(b"abc" * 1000)
        with st.open("y.bin") as fh:
            fh.write(b"first")
        with open(st / "y.bin", "ab") as fh:  # written again after the digest was taken
            fh.write(b" and more")
        assert st.hashed["a/x.bin"][3] == file_digest(st / "a/x.bin")
    files = read_manifest(tmp_path / "R")["files"]
    for name in ("a/x.bin", "y.bin"):
        assert files[name]["sha256"] == file_digest(tmp_path / "R" / name)
    assert (tmp_path / "R" / "y.bin").read_bytes() == b"first and more"


def _big_run(out: Path, size: int = (1 << 20) + 7) -> Path:
    with atomic_run(out, command="sign", args={}) as st:
        (st / "big.bin").write_bytes(os.urandom(size))
        (st / "small.txt").write_text("x", encoding="utf-8")
    return out / "big.bin"


def test_a_large_file_untouched_since_its_run_is_known_without_reading_it(tmp_path):
    from vaxlib.runs import unchanged_since

    p = _big_run(tmp_path / "run")
    files = read_manifest(tmp_path / "run")["files"]
    assert "stat" in files["big.bin"] and "stat" not in files["small.txt"]  # only files worth it
    assert unchanged_since(p, files["big.bin"])
    assert not unchanged_since(tmp_path / "run" / "small.txt", files["small.txt"])  # no stat: hash it
    assert not unchanged_since(p, {k: v for k, v in files["big.bin"].items() if k != "stat"})  # older manifests


@pytest.mark.parametrize("change", ["same_size_mtime_restored", "chmod", "copied_over", "linked"])
def test_a_large_file_changed_in_any_way_after_its_run_is_not_taken_as_unchanged(tmp_path, change):
    """A forger's same-size edit with the mtime put back still moves the change time, which nobody can set."""
    import shutil
    import time

    from vaxlib.runs import unchanged_since

    p = _big_run(tmp_path / "run")
    entry = read_manifest(tmp_path / "run")["files"]["big.bin"]
    time.sleep(0.05)  # past the kernel's file-time tick of the run's own commit
    st = os.stat(p)
    if change == "same_size_mtime_restored":
        with open(p, "r+b") as fh:
            fh.seek(1000)
            fh.write(b"\x00" * 8)
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert os.stat(p).st_size == entry["size"] and os.stat(p).st_mtime_ns == entry["mtime_ns"]
    elif change == "chmod":
        os.chmod(p, 0o600)
    elif change == "copied_over":  # content and times copied from a twin: another inode
        twin = tmp_path / "twin.bin"
        shutil.copy2(p, twin)
        os.replace(twin, p)
    else:
        os.link(p, tmp_path / "other.bin")
    assert not unchanged_since(p, entry)
    if change == "same_size_mtime_restored":
        with pytest.raises(ManifestError):
            check_run(tmp_path / "run")  # and the full check sees the new content


def test_a_table_named_by_its_folder_of_parts_is_pinned_by_the_parts(tmp_path):
    """``candidates.parquet`` beside a dask result names ``candidates/part-*.parquet``
    (io.table_parts): the manifest pins those parts, and a changed part makes the run stale."""
    from vaxlib.runs import is_current

    folder = tmp_path / "m" / "candidates"
    folder.mkdir(parents=True)
    for i in range(2):
        write_output(MATCHES.iloc[[i]], folder / f"part-{i:05d}.parquet", "matches")
    named = tmp_path / "m" / "candidates.parquet"
    out = tmp_path / "run"
    with atomic_run(out, command="sign", args={"x": 1}, inputs=[named]) as st:
        (st / "note.txt").write_text("x", encoding="utf-8")
    entry = read_manifest(out)["inputs"][0]
    assert entry["kind"] == "parts" and len(entry["sha256"]) == 64
    assert is_current(out, command="sign", args={"x": 1})
    write_output(MATCHES.iloc[[1, 0]], folder / "part-00001.parquet", "matches")  # one part changes
    assert not is_current(out, command="sign", args={"x": 1})
