"""vaxlib.cells: the one reading of a missing cell (table-driven)."""
import math

import numpy as np
import pandas as pd
import pytest

from vaxlib.cells import cell_text, is_missing

CASES = [
    (None, True, ""),
    (float("nan"), True, ""),
    (np.float64("nan"), True, ""),
    (pd.NA, True, ""),
    (pd.NaT, True, ""),
    ("", False, ""),
    ("nan", False, "nan"),          # the text "nan" is a value someone typed
    (0, False, "0"),
    (0.0, False, "0.0"),
    (False, False, "False"),
    ("Nguyễn Văn A", False, "Nguyễn Văn A"),
    ([1, 2], False, "[1, 2]"),      # pd.isna answers elementwise: not a missing cell
    (np.array([math.nan]), False, "[nan]"),
]


@pytest.mark.parametrize("value,missing,text", CASES)
def test_missing_and_text(value, missing, text):
    assert is_missing(value) is missing
    assert cell_text(value) == text
