"""A bounded fuzz run of nbprop.load over mutated valid files.

Every mutation must give either a valid model or a ValueError: never another
exception, a crash, or a model with non-finite parameters.  The suite runs a
short, deterministic budget; maintainers run a long one with
``NBPROP_FUZZ_EXAMPLES=200000 python -m pytest tests/test_fuzz_load.py``.
"""

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nbprop

EXAMPLES = int(os.environ.get("NBPROP_FUZZ_EXAMPLES", "300"))


def valid_file_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "seed.npz"
    net = nbprop.MLP([2, 3, 1], activation="tanh", seed=0)
    net.fit([[0.0, 1.0], [1.0, 0.0]], [0.5, -0.5], epochs=2, lr=0.1, momentum=0.9)
    net.save(path)
    return path.read_bytes()


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 16)),
)


def mutate(data, mutations):
    data = bytearray(data)
    for kind, position, value in mutations:
        position %= max(1, len(data))
        if kind == "flip" and data:
            data[position] ^= value
        elif kind == "truncate":
            del data[position:]
        elif kind == "insert":
            data.insert(position, value)
        elif kind == "delete":
            del data[position : position + value]
    return bytes(data)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 1000,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_files_load_or_raise_value_error(tmp_path_factory, mutations):
    global SEED_BYTES
    if "SEED_BYTES" not in globals():
        SEED_BYTES = valid_file_bytes(tmp_path_factory)
    path = tmp_path_factory.getbasetemp() / "mutant.npz"
    path.write_bytes(mutate(SEED_BYTES, mutations))
    try:
        model = nbprop.load(path)
    except ValueError:
        return
    assert np.isfinite(model.params).all() and model.params.shape == (model.n_params,)
