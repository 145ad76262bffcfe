"""Save and load: exact round trips, and clear errors for anything that is not a model file."""

import io
import json
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nbprop
from conftest import HIDDEN


@pytest.mark.parametrize("hidden", HIDDEN)
def test_round_trip_is_exact(tmp_path, hidden, dtype):
    net = nbprop.MLP([3, 5, 4, 2], activation=[hidden, "tanh"], output_activation="softmax",
                     loss="cross_entropy", dtype=dtype, seed=1)
    path = tmp_path / "model.npz"
    net.save(path)
    back = nbprop.load(path)
    assert repr(back) == repr(net)
    assert back.params.dtype == net.params.dtype
    np.testing.assert_array_equal(back.params, net.params)
    X = np.random.default_rng(0).normal(size=(6, 3))
    np.testing.assert_array_equal(back.predict(X), net.predict(X))


def test_save_replaces_atomically_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "model.npz"
    nbprop.MLP([2, 2], seed=0).save(path)
    nbprop.MLP([2, 3, 2], seed=0).save(path)
    assert nbprop.load(path).sizes == [2, 3, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def valid_header():
    net = nbprop.MLP([2, 2], activation="identity", seed=0)
    net.fit([[0.0, 1.0]], [[1.0, 0.0]], epochs=2, lr=0.1, momentum=0.5)
    return net._state()


def write(path, header_changes=None, drop=(), arrays=None):
    """An archive like save() writes, with header fields changed or arrays replaced."""
    state = valid_header()
    header = {"format": "nbprop", "format_version": 1, "sizes": state["sizes"],
              "activations": state["activations"], "loss": state["loss"], "dtype": state["dtype"],
              "seed": state["seed"],
              "training": {k: state[k] for k in ("step", "epoch", "shuffle_rng")}}
    header.update(header_changes or {})
    for key in drop:
        header.pop(key)
    members = {"header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
               "params": state["params"], "velocity": state["velocity"]}
    members.update(arrays or {})
    np.savez(path, **{k: v for k, v in members.items() if v is not None}, allow_pickle=True)
    return path


BAD_FILES = {
    "wrong version": dict(header_changes=dict(format_version=2)),
    "other format": dict(header_changes=dict(format="keras")),
    "missing key": dict(drop=["loss"]),
    "extra key": dict(header_changes=dict(code="import os")),
    "sizes disagree with params": dict(header_changes=dict(sizes=[2, 3])),
    "absurd sizes": dict(header_changes=dict(sizes=[10**6, 10**6])),
    "non-integer sizes": dict(header_changes=dict(sizes=[2, 2.0])),
    "boolean sizes": dict(header_changes=dict(sizes=[2, True])),
    "unknown activation": dict(header_changes=dict(activations=["swish"])),
    "unknown loss": dict(header_changes=dict(loss="hinge")),
    "wrong dtype name": dict(header_changes=dict(dtype="object")),
    "negative step": dict(header_changes=dict(training=dict(step=-1, epoch=0, shuffle_rng={}))),
    "bad rng state": dict(header_changes=dict(training=dict(step=0, epoch=0, shuffle_rng={"x": 1}))),
    "missing training": dict(drop=["training"]),
    "dtype disagrees": dict(arrays=dict(params=np.zeros(6, dtype=np.float32))),
    "params too short": dict(arrays=dict(params=np.zeros(5))),
    "2-D params": dict(arrays=dict(params=np.zeros((2, 3)))),
    "non-finite params": dict(arrays=dict(params=np.r_[np.zeros(5), np.nan])),
    "non-finite velocity": dict(arrays=dict(velocity=np.r_[np.zeros(5), np.inf])),
    "header not bytes": dict(arrays=dict(header=np.zeros(3))),
    "no header": dict(arrays=dict(header=None)),
    "no params": dict(arrays=dict(params=None)),
    "no velocity": dict(arrays=dict(velocity=None)),
    "extra array": dict(arrays=dict(payload=np.zeros(3))),
    "object params": dict(arrays=dict(params=np.array([object()] * 6))),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_invalid_files_are_rejected_with_a_clear_error(tmp_path, case):
    path = write(tmp_path / "bad.npz", **BAD_FILES[case])
    with pytest.raises(ValueError, match="bad.npz"):
        nbprop.load(path)


def test_the_writer_used_above_makes_valid_files(tmp_path):
    assert nbprop.load(write(tmp_path / "good.npz")).sizes == [2, 2]


def test_truncated_garbage_and_json_errors(tmp_path):
    good = tmp_path / "good.npz"
    nbprop.MLP([2, 2], seed=0).save(good)
    data = good.read_bytes()
    for name, content in [("truncated.npz", data[: len(data) // 2]), ("garbage.npz", b"not a zip"),
                          ("empty.npz", b""), ("tail.npz", data[: len(data) - 3])]:
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ValueError, match=name):
            nbprop.load(path)
    path = tmp_path / "badjson.npz"
    np.savez(path, header=np.frombuffer(b"{not json", np.uint8), params=np.zeros(6), velocity=np.zeros(6))
    with pytest.raises(ValueError, match="JSON"):
        nbprop.load(path)
    with pytest.raises(FileNotFoundError, match="no such file"):
        nbprop.load(tmp_path / "missing.npz")


def test_a_pickle_is_never_unpickled(tmp_path):
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"boom": 1}], dtype=object), allow_pickle=True)
    path = tmp_path / "evil.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for member in ("header.npy", "params.npy", "velocity.npy"):
            archive.writestr(member, buffer.getvalue())
    with pytest.raises(ValueError, match="object arrays are refused"):
        nbprop.load(path)
    plain = tmp_path / "plain.pkl"
    import pickle
    plain.write_bytes(pickle.dumps({"boom": 1}))
    with pytest.raises(ValueError, match="plain.pkl"):
        nbprop.load(plain)


def test_a_huge_declared_shape_is_refused_before_allocating(tmp_path):
    # A .npy header may claim any shape; the loader must compare it with the
    # bytes actually present instead of allocating what it claims.
    path = write(tmp_path / "liar.npz")
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    lying = io.BytesIO()  # a well-formed .npy header claiming 10^10 values, then the real 48 bytes
    np.lib.format.write_array_header_1_0(lying, {"descr": "<f8", "fortran_order": False,
                                                 "shape": (10**10,)})
    members["params.npy"] = lying.getvalue() + members["params.npy"][-48:]
    forged = tmp_path / "forged.npz"
    with zipfile.ZipFile(forged, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match="params.npy: expected 6 values, the file declares 10000000000"):
        nbprop.load(forged)


def test_saved_model_resumes_training_bit_for_bit(tmp_path):
    X = np.random.default_rng(0).normal(size=(30, 3))
    Y = np.sin(X[:, :2])
    kwargs = dict(lr=0.05, momentum=0.9, schedule=nbprop.InverseScaling(decay=0.01), batch_size=4)
    straight = nbprop.MLP([3, 6, 2], activation="tanh", seed=5)
    straight.fit(X, Y, epochs=6, **kwargs)
    first = nbprop.MLP([3, 6, 2], activation="tanh", seed=5)
    first.fit(X, Y, epochs=2, **kwargs)
    first.save(tmp_path / "half.npz")
    del first
    resumed = nbprop.load(tmp_path / "half.npz")
    resumed.fit(X, Y, epochs=4, **kwargs)
    np.testing.assert_array_equal(resumed.params, straight.params)


def test_pickle_round_trip_is_exact():
    import pickle
    net = nbprop.MLP([2, 4, 3], activation="elu", loss="cross_entropy", dtype="float32", seed=2)
    net.fit([[0.0, 1.0], [1.0, 0.0]], [0, 2], epochs=3, lr=0.1, momentum=0.9)
    back = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(back.params, net.params)
    assert back._state()["shuffle_rng"] == net._state()["shuffle_rng"]
    net.fit([[0.0, 1.0], [1.0, 0.0]], [0, 2], epochs=2, lr=0.1, momentum=0.9)
    back.fit([[0.0, 1.0], [1.0, 0.0]], [0, 2], epochs=2, lr=0.1, momentum=0.9)
    np.testing.assert_array_equal(back.params, net.params)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(widths=st.lists(st.integers(1, 6), min_size=2, max_size=4),
       hidden=st.sampled_from(HIDDEN), dtype=st.sampled_from(["float64", "float32"]),
       seed=st.integers(0, 2**32 - 1), momentum=st.sampled_from([0.0, 0.9]), epochs=st.integers(0, 3))
def test_any_model_round_trips_exactly(tmp_path, widths, hidden, dtype, seed, momentum, epochs):
    net = nbprop.MLP(widths, activation=hidden, dtype=dtype, seed=seed)
    X = np.random.default_rng(seed).normal(size=(5, widths[0]))
    if epochs:
        net.fit(X, np.zeros((5, widths[-1])), epochs=epochs, lr=0.01, momentum=momentum)
    net.save(tmp_path / "m.npz")
    back = nbprop.load(tmp_path / "m.npz")
    for key, value in net._state().items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(back._state()[key], value)
            assert back._state()[key].dtype == value.dtype
        else:
            assert back._state()[key] == value, key
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
