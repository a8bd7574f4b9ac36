from hypothesis import given, settings
from hypothesis import strategies as st

from portal.ids import new_public_id


@settings(max_examples=300)
@given(st.integers(min_value=1, max_value=32))
def test_public_ids_never_start_with_a_dash_or_underscore(nbytes: int) -> None:
    # a short id makes a leading "-" or "_" likely on any single draw (1 in 32)
    value = new_public_id(nbytes)
    assert value[0] not in "-_"
    assert len(value) >= nbytes
