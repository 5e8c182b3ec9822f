"""The dask engine's per-pair training-session bits (``distributed.session_bits``): every session's
pairs read back exactly, whatever the number of sessions (a uint8 held only 8: a ninth wrapped)."""
import numpy as np
import pytest

from vaxlib.match.distributed import _in_session, session_bits


@pytest.mark.parametrize("sessions, dtype", [(0, np.uint8), (1, np.uint8), (2, np.uint8), (8, np.uint8),
                                             (9, np.uint16), (16, np.uint16), (17, np.uint32),
                                             (33, np.uint64), (64, np.uint64)])
def test_every_session_reads_back(sessions, dtype):
    rng = np.random.default_rng(sessions)
    n = 257
    masks = [rng.random(n) < 0.4 for _ in range(sessions)]
    if sessions:
        masks[-1][:] = True  # the highest bit set on every pair: the one a narrow integer loses
    bits = session_bits(masks, n)
    assert bits.dtype == dtype and len(bits) == n
    for k, m in enumerate(masks):
        np.testing.assert_array_equal(_in_session({"session": bits}, k), m)


def test_more_sessions_than_bits_refused():
    with pytest.raises(ValueError):
        session_bits([np.zeros(3, dtype=bool)] * 65, 3)
