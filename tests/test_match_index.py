"""The registry index: reused when current, rebuilt when stale, written whole or not at all."""
import json
from pathlib import Path

import pandas as pd
import pytest

from vaxlib.cli import main as vax
from vaxlib.match import index as ix
from vaxlib.match.pipeline import run_match
from vaxlib.synth import generate

PINNED = ["record_id", "status", "person_id", "person_key", "error_codes", "corrected_full_name",
          "corrected_dob", "corrected_sex", "corrected_id_number"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("idx-data")
    t = generate(persons=400, seed=31)
    t["registry"].to_parquet(d / "registry.parquet", index=False)
    t["vaccinations"].to_parquet(d / "vaccinations.parquet", index=False)
    return d


def _match(data: Path, out: Path, *extra: str) -> pd.DataFrame:
    assert vax(["match", "--registry", str(data / "registry.parquet"), "--vaccinations",
                str(data / "vaccinations.parquet"), "--out", str(out), "--quiet", *extra]) == 0
    return pd.read_parquet(out / "matches.parquet")[PINNED]


def test_index_round_trip_gives_the_frames_it_was_built_from(data, tmp_path):
    reg = pd.read_parquet(data / "registry.parquet")
    built = ix.build_index(reg, registry_sha256="abc")
    ix.save_index(built, tmp_path / "idx")
    loaded = ix.load_index(tmp_path / "idx", "abc")
    pd.testing.assert_frame_equal(loaded.reg, built.reg, check_dtype=False)
    assert list(loaded.keys) == list(built.keys)
    for name, keys in built.keys.items():
        assert (loaded.keys[name] == keys).all() and (keys >= 0).any()


def test_matching_with_a_reused_index_equals_matching_without(data, tmp_path):
    reg = pd.read_parquet(data / "registry.parquet")
    vac = pd.read_parquet(data / "vaccinations.parquet")
    plain = run_match(reg, vac).matches[PINNED]
    assert vax(["index", "--registry", str(data / "registry.parquet"), "--out", str(tmp_path / "idx")]) == 0
    manifest = json.loads((tmp_path / "idx" / "index.json").read_text())
    assert manifest["registry_sha256"] == ix.registry_digest(data / "registry.parquet")
    got = _match(data, tmp_path / "m", "--index", str(tmp_path / "idx"))
    assert (got.fillna("").astype(str).to_numpy() == plain.fillna("").astype(str).to_numpy()).all()


def test_vax_match_keeps_an_index_beside_the_register_and_reuses_it(data, tmp_path, caplog):
    folder = ix.default_index_path(data / "registry.parquet")
    assert folder.parent == data
    first = _match(data, tmp_path / "a")
    assert (folder / "index.json").exists()
    stamp = (folder / "index.json").stat().st_mtime_ns
    caplog.clear()
    with caplog.at_level("INFO"):
        second = _match(data, tmp_path / "b")
    assert "current, reused" in caplog.text
    assert (folder / "index.json").stat().st_mtime_ns == stamp
    pd.testing.assert_frame_equal(first, second)


def test_a_changed_register_makes_the_index_stale_and_it_is_rebuilt(data, tmp_path, caplog):
    d = tmp_path / "d"
    d.mkdir()
    reg = pd.read_parquet(data / "registry.parquet")
    reg.to_parquet(d / "registry.parquet", index=False)
    (d / "vaccinations.parquet").write_bytes((data / "vaccinations.parquet").read_bytes())
    _match(d, tmp_path / "a", "--index", str(tmp_path / "idx"))
    # the register changes: the person of the first typed record is renamed
    vac = pd.read_parquet(d / "vaccinations.parquet")
    first = _match(d, tmp_path / "a2", "--index", str(tmp_path / "idx"))
    pid = first.loc[first["status"] == "verified", "person_id"].iloc[0]
    reg.loc[reg["person_id"] == pid, "full_name"] = "Hoàng Văn Xuyên"
    reg.to_parquet(d / "registry.parquet", index=False)
    caplog.clear()
    with caplog.at_level("INFO"):
        after = _match(d, tmp_path / "b", "--index", str(tmp_path / "idx"))
    assert "the register changed" in caplog.text
    manifest = json.loads((tmp_path / "idx" / "index.json").read_text())
    assert manifest["registry_sha256"] == ix.registry_digest(d / "registry.parquet")
    renamed = after["person_id"].eq(pid) & vac["full_name"].ne("Hoàng Văn Xuyên").to_numpy()
    assert renamed.any() and not after.loc[renamed, "status"].eq("verified").any()


def test_an_index_from_other_code_is_not_used(data, tmp_path, monkeypatch):
    reg = pd.read_parquet(data / "registry.parquet")
    ix.save_index(ix.build_index(reg, registry_sha256="abc"), tmp_path / "idx")
    monkeypatch.setattr(ix, "INDEX_FORMAT", ix.INDEX_FORMAT + 1)
    with pytest.raises(ix.RegistryIndexError, match="other vaxlib code"):
        ix.load_index(tmp_path / "idx", "abc")
    monkeypatch.undo()
    with pytest.raises(ix.RegistryIndexError, match="register changed"):
        ix.load_index(tmp_path / "idx", "def")


def test_a_failed_write_leaves_the_previous_index_intact(data, tmp_path, monkeypatch):
    reg = pd.read_parquet(data / "registry.parquet")
    ix.save_index(ix.build_index(reg, registry_sha256="old"), tmp_path / "idx")
    before = {p.name: p.read_bytes() for p in (tmp_path / "idx").iterdir()}
    import pyarrow.parquet as pq

    real = pq.write_table
    calls = []

    def failing(table, where, **kw):
        calls.append(where)
        if len(calls) == 2:  # the quarantine, after the registry table was written
            raise OSError(28, "No space left on device")
        return real(table, where, **kw)

    monkeypatch.setattr(pq, "write_table", failing)
    with pytest.raises(OSError):
        ix.save_index(ix.build_index(reg, registry_sha256="new"), tmp_path / "idx")
    assert {p.name: p.read_bytes() for p in (tmp_path / "idx").iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["idx"]  # no half-written folder left behind
    assert ix.load_index(tmp_path / "idx", "old").registry_sha256 == "old"


def test_a_folder_that_is_not_an_index_is_never_replaced(data, tmp_path, capsys):
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "keep.txt").write_text("analyst's notes")
    code = vax(["index", "--registry", str(data / "registry.parquet"), "--out", str(mine)])
    assert code == 2
    assert "not a registry index" in capsys.readouterr().err
    assert (mine / "keep.txt").read_text() == "analyst's notes"
