"""vaxlib.io.read_output_arrow: vax match's outputs as Arrow, with read_output's checks and parts."""
from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from vaxlib.io import OutputTableError, read_output, read_output_arrow

MATCHES = pd.DataFrame({"record_id": ["R1", "R2", "R3"], "status": ["verified", "review", "verified"],
                        "person_id": ["001", None, "003"], "match_probability": [1.0, 0.5, 0.9],
                        "error_codes": ["", "", ""], "corrected_full_name": [None, None, None],
                        "corrected_dob": [None, None, None], "corrected_sex": [None, None, None],
                        "corrected_id_number": [None, None, None], "person_key": ["001", "K2", "003"]})
COLS = ["record_id", "status", "person_id", "person_key"]


def test_one_file_and_parts_read_as_read_output_reads_them(tmp_path):
    one = tmp_path / "matches.parquet"
    MATCHES.to_parquet(one, index=False)
    parts = tmp_path / "p" / "matches"
    parts.mkdir(parents=True)
    MATCHES.iloc[:2].to_parquet(parts / "part-0000.parquet", index=False)
    MATCHES.iloc[2:].to_parquet(parts / "part-0001.parquet", index=False)
    for path in (one, tmp_path / "p" / "matches.parquet"):
        got = read_output_arrow(path, "matches", columns=COLS)
        assert isinstance(got, pa.Table) and got.column_names == COLS
        assert got.to_pylist() == read_output(path, "matches", columns=COLS).replace({float("nan"): None}).to_dict(
            "records")
        assert got.to_pylist()[1] == {"record_id": "R2", "status": "review", "person_id": None, "person_key": "K2"}


def test_a_missing_column_or_file_is_named(tmp_path):
    bad = tmp_path / "matches.parquet"
    MATCHES.drop(columns=["status"]).to_parquet(bad, index=False)
    with pytest.raises(OutputTableError, match="status"):
        read_output_arrow(bad, "matches", columns=COLS)
    with pytest.raises(OutputTableError):
        read_output_arrow(tmp_path / "nothing.parquet", "matches")
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    with pytest.raises(OutputTableError, match="Parquet"):
        read_output_arrow(tmp_path / "x.parquet", "matches")
