"""Save and load: exact round trips, and clear errors for anything that is not a model file."""

import io
import json
import zipfile

import numpy as np
import pytest

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


def write(path, header=None, params=None, **extra):
    header = {"format": "nbprop", "format_version": 1, "sizes": [2, 2], "activations": ["identity"],
              "loss": "half_sse", "dtype": "float64"} if header is None else header
    arrays = dict(extra)
    if header is not False:
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    if params is not False:
        arrays["params"] = np.zeros(6) if params is None else params
    np.savez(path, **arrays)
    return path


def header(**changes):
    base = {"format": "nbprop", "format_version": 1, "sizes": [2, 2], "activations": ["identity"],
            "loss": "half_sse", "dtype": "float64"}
    base.update(changes)
    return base


BAD_FILES = {
    "wrong version": dict(header=header(format_version=2)),
    "other format": dict(header=header(format="keras")),
    "missing key": dict(header={k: v for k, v in header().items() if k != "loss"}),
    "extra key": dict(header=header(code="import os")),
    "sizes disagree with params": dict(header=header(sizes=[2, 3])),
    "absurd sizes": dict(header=header(sizes=[10**6, 10**6], activations=["identity"])),
    "non-integer sizes": dict(header=header(sizes=[2, 2.0])),
    "unknown activation": dict(header=header(activations=["swish"])),
    "unknown loss": dict(header=header(loss="hinge")),
    "wrong dtype name": dict(header=header(dtype="object")),
    "dtype disagrees": dict(params=np.zeros(6, dtype=np.float32)),
    "non-finite params": dict(params=np.r_[np.zeros(5), np.nan]),
    "no header": dict(header=False),
    "no params": dict(params=False),
    "extra array": dict(payload=np.zeros(3)),
    "object params": dict(params=np.array([object()] * 6)),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_invalid_files_are_rejected_with_a_clear_error(tmp_path, case):
    path = tmp_path / "bad.npz"
    kwargs = BAD_FILES[case]
    if case == "object params":  # writing object arrays needs pickle; loading must refuse it
        np.savez(path, header=np.frombuffer(json.dumps(header()).encode(), np.uint8),
                 params=kwargs["params"], allow_pickle=True)
    else:
        write(path, **kwargs)
    with pytest.raises(ValueError, match="bad.npz"):
        nbprop.load(path)


def test_truncated_garbage_and_json_errors(tmp_path):
    good = tmp_path / "good.npz"
    nbprop.MLP([2, 2], seed=0).save(good)
    data = good.read_bytes()
    for name, content in [("truncated.npz", data[: len(data) // 2]), ("garbage.npz", b"not a zip"),
                          ("empty.npz", b"")]:
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ValueError, match=name):
            nbprop.load(path)
    path = tmp_path / "badjson.npz"
    np.savez(path, header=np.frombuffer(b"{not json", np.uint8), params=np.zeros(6))
    with pytest.raises(ValueError, match="JSON"):
        nbprop.load(path)
    with pytest.raises(FileNotFoundError, match="no such file"):
        nbprop.load(tmp_path / "missing.npz")


def test_a_pickle_inside_the_archive_is_never_unpickled(tmp_path):
    path = tmp_path / "evil.npz"
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"boom": 1}], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("header.npy", buffer.getvalue())
        archive.writestr("params.npy", buffer.getvalue())
    with pytest.raises(ValueError, match="evil.npz"):
        nbprop.load(path)
