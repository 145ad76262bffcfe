"""Saving and loading models as ``.npz`` files that never run code.

A model file is an uncompressed NumPy ``.npz`` (zip) archive with exactly
three arrays:

* ``header``: UTF-8 JSON bytes (a ``uint8`` array) with ``format``
  (``"nbprop"``), ``format_version``, ``sizes``, ``activations`` (one name per
  non-input layer), ``loss``, ``dtype``, ``seed`` and ``training`` (the
  optimiser's update and epoch counters and the shuffling generator's state);
* ``params``: the flat parameter array in the layout of ``MLP.params``;
* ``velocity``: the momentum buffer, same layout.

A saved model therefore resumes training exactly where it stopped; the same
file serves as a checkpoint (``fit(..., checkpoint=path)``).

Loading never unpickles and never trusts a size it has not checked: it reads
each member's ``.npy`` header first, refuses object dtypes, checks that the
declared shape matches both the JSON header and the bytes actually present,
and only then reads the data.
"""

import json
import os
import struct
import tempfile
import zipfile
import zlib

import numpy as np

FORMAT = "nbprop"
FORMAT_VERSION = 1
HEADER_KEYS = {"format", "format_version", "sizes", "activations", "loss", "dtype", "seed", "training"}
TRAINING_KEYS = {"step", "epoch", "shuffle_rng"}
MEMBERS = {"header.npy", "params.npy", "velocity.npy"}
MAX_HEADER_BYTES = 1 << 20
MAX_PARAMS = 1 << 28  # 2 GiB of float64: far beyond any network this library is for


def save(model, path):
    """Write ``model`` and its optimiser state to ``path`` atomically.

    The file is written to a temporary name in the same folder and renamed
    over ``path``, so a crash mid-write never leaves a broken model behind.

    Parameters
    ----------
    model : MLP
        The model to save.
    path : str or os.PathLike
        Destination; written exactly as named (no suffix is added).

    Examples
    --------
    >>> import nbprop, tempfile, os
    >>> net = nbprop.MLP([2, 3, 1], seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "net.npz")
    >>> nbprop.save(net, path)
    >>> bool((nbprop.load(path).params == net.params).all())
    True
    """
    state = model._state()
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sizes": state["sizes"],
        "activations": state["activations"],
        "loss": state["loss"],
        "dtype": state["dtype"],
        "seed": state["seed"],
        "training": {key: state[key] for key in TRAINING_KEYS},
    }
    header_bytes = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".nbprop-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, header=header_bytes, params=state["params"], velocity=state["velocity"])
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def load(path):
    """Read a model (or checkpoint) written by :func:`save`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    MLP
        With its parameters, momentum buffer, counters and shuffling state,
        so that ``fit`` continues exactly as the saved model would have.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a valid nbprop model: not a zip archive,
        truncated or corrupted, missing or extra arrays, object arrays, a
        header of another format or of a newer version, sizes that disagree
        with the parameter count or would need an absurd allocation, unknown
        names, or non-finite values.  Nothing in the file is ever unpickled.

    Examples
    --------
    >>> import nbprop, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "net.npz")
    >>> nbprop.MLP([1, 2, 1], activation="softplus", seed=0).save(path)
    >>> nbprop.load(path)
    MLP(sizes=[1, 2, 1], activation='softplus', output_activation='identity', loss='half_sse', dtype='float64')
    """
    from .model import MLP

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"path: no such file {path!r}")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if names != MEMBERS:
                raise ValueError(f"expected arrays {sorted(MEMBERS)}, found {sorted(names)}")
            raw_header = _read_array(archive, "header.npy", np.dtype(np.uint8), None, MAX_HEADER_BYTES)
            header = _parse_header(raw_header)
            n_params = sum(a * b + b for a, b in zip(header["sizes"][:-1], header["sizes"][1:]))
            if n_params > MAX_PARAMS:
                raise ValueError(f"sizes {header['sizes']} need {n_params} parameters, "
                                 f"more than the {MAX_PARAMS} this loader accepts")
            dtype = np.dtype(header["dtype"])
            params = _read_array(archive, "params.npy", dtype, n_params, MAX_PARAMS)
            velocity = _read_array(archive, "velocity.npy", dtype, n_params, MAX_PARAMS)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, struct.error, zlib.error,
            NotImplementedError, RuntimeError) as error:
        # zipfile's own words for damage: unsupported versions or compression
        # (NotImplementedError), "encrypted" members (RuntimeError), bad streams.
        raise ValueError(f"{path!r} is not a readable nbprop model file ({error})") from None
    except ValueError as error:
        raise ValueError(f"{path!r} is not a valid nbprop model file: {error}") from None

    state = dict(header, **header["training"], params=params, velocity=velocity)
    try:
        return MLP._from_state(state)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path!r}: invalid model description: {error}") from None


def _read_array(archive, member, dtype, length, max_items):
    """Read a 1-D ``.npy`` member after checking its declared dtype, shape and size."""
    info = archive.getinfo(member)
    with archive.open(info) as file:
        try:
            version = np.lib.format.read_magic(file)
            if version == (1, 0):
                shape, fortran, declared = np.lib.format.read_array_header_1_0(file)
            elif version == (2, 0):
                shape, fortran, declared = np.lib.format.read_array_header_2_0(file)
            else:
                raise ValueError(f"unsupported .npy version {version}")
        except (ValueError, SyntaxError, TypeError) as error:
            raise ValueError(f"{member}: corrupted array header ({error})") from None
        if declared.hasobject:
            raise ValueError(f"{member}: object arrays are refused (they would need unpickling)")
        if declared != dtype or len(shape) != 1:
            raise ValueError(f"{member}: expected a 1-D {dtype} array, found {declared} with shape {shape}")
        n = shape[0]
        if n > max_items or (length is not None and n != length):
            expected = f"{length}" if length is not None else f"at most {max_items}"
            raise ValueError(f"{member}: expected {expected} values, the file declares {n}")
        data_bytes = n * dtype.itemsize
        if info.file_size - file.tell() != data_bytes:
            raise ValueError(f"{member}: declares {n} values but holds "
                             f"{info.file_size - file.tell()} bytes of data")
        data = file.read(data_bytes)
    if len(data) != data_bytes:
        raise ValueError(f"{member}: truncated ({len(data)} of {data_bytes} bytes)")
    return np.frombuffer(data, dtype=dtype).copy()


def _parse_header(raw):
    """Decode and check the JSON header; every problem is a ``ValueError``."""
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"header is not valid UTF-8 JSON ({error})") from None
    if not isinstance(header, dict) or set(header) != HEADER_KEYS:
        found = sorted(header) if isinstance(header, dict) else type(header).__name__
        raise ValueError(f"header must have keys {sorted(HEADER_KEYS)}, found {found}")
    if header["format"] != FORMAT:
        raise ValueError(f"not an nbprop model (format {header['format']!r})")
    if header["format_version"] != FORMAT_VERSION:
        raise ValueError(f"format version {header['format_version']!r} is not supported "
                         f"by this nbprop, which reads version {FORMAT_VERSION}")
    sizes = header["sizes"]
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(type(s) is int and 1 <= s <= MAX_PARAMS for s in sizes)):
        raise ValueError(f"sizes must be a list of at least two positive integers, got {sizes!r}")
    acts = header["activations"]
    if not isinstance(acts, list) or len(acts) != len(sizes) - 1 or not all(isinstance(a, str) for a in acts):
        raise ValueError(f"activations must be {len(sizes) - 1} names, got {acts!r}")
    if header["dtype"] not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32', got {header['dtype']!r}")
    training = header["training"]
    if not isinstance(training, dict) or set(training) != TRAINING_KEYS:
        raise ValueError(f"training must have keys {sorted(TRAINING_KEYS)}, got {training!r}")
    return header
