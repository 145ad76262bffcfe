"""Saving and loading models as ``.npz`` files that never run code.

A model file is an uncompressed NumPy ``.npz`` archive with exactly two
arrays:

* ``header``: UTF-8 JSON bytes (a ``uint8`` array) with ``format``
  (``"nbprop"``), ``format_version``, ``sizes``, ``activations`` (one name per
  non-input layer), ``loss`` and ``dtype``;
* ``params``: the flat parameter array in the layout of ``MLP.params``.

Loading uses ``allow_pickle=False`` and checks every field before anything
is allocated from it.
"""

import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT = "nbprop"
FORMAT_VERSION = 1
HEADER_KEYS = {"format", "format_version", "sizes", "activations", "loss", "dtype"}


def save(model, path):
    """Write ``model`` to ``path`` atomically (a temporary file, then a rename).

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
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sizes": model.sizes,
        "activations": model.activations,
        "loss": model.loss_name,
        "dtype": model.dtype.name,
    }
    header_bytes = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".nbprop-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, header=header_bytes, params=model.params)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def load(path):
    """Read a model written by :func:`save`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    MLP

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a valid nbprop model: not an ``.npz`` archive,
        truncated, missing or extra arrays, a header of another format or
        version, fields that disagree with the parameter count, or
        non-finite parameters.  Nothing in the file is ever unpickled.
    """
    from .model import MLP

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"path: no such file {path!r}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = set(archive.files)
            if names != {"header", "params"}:
                raise ValueError(f"expected arrays 'header' and 'params', found {sorted(names)}")
            header_array = archive["header"]
            params = archive["params"]
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as error:
        raise ValueError(f"{path!r} is not a readable nbprop model file ({error})") from None
    except ValueError as error:
        raise ValueError(f"{path!r} is not a valid nbprop model file: {error}") from None

    header = _read_header(header_array, path)
    n_params = sum(a * b + b for a, b in zip(header["sizes"][:-1], header["sizes"][1:]))
    if params.dtype != np.dtype(header["dtype"]) or params.shape != (n_params,):
        raise ValueError(f"{path!r}: header describes {n_params} {header['dtype']} parameters, "
                         f"file holds an array of {params.dtype} with shape {params.shape}")
    try:
        model = MLP(header["sizes"], activation=header["activations"][:-1],
                    output_activation=header["activations"][-1], loss=header["loss"],
                    dtype=header["dtype"])
        model.params = params
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path!r}: invalid model description: {error}") from None
    return model


def _read_header(header_array, path):
    """Decode and check the JSON header; every problem is a ``ValueError``."""
    if header_array.dtype != np.uint8 or header_array.ndim != 1:
        raise ValueError(f"{path!r}: header must be a 1-D uint8 array of JSON bytes, "
                         f"got {header_array.dtype} with shape {header_array.shape}")
    try:
        header = json.loads(header_array.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path!r}: header is not valid UTF-8 JSON ({error})") from None
    if not isinstance(header, dict) or set(header) != HEADER_KEYS:
        found = sorted(header) if isinstance(header, dict) else type(header).__name__
        raise ValueError(f"{path!r}: header must have keys {sorted(HEADER_KEYS)}, found {found}")
    if header["format"] != FORMAT:
        raise ValueError(f"{path!r}: not an nbprop model (format {header['format']!r})")
    if header["format_version"] != FORMAT_VERSION:
        raise ValueError(f"{path!r}: format version {header['format_version']!r} is not supported "
                         f"by this nbprop, which reads version {FORMAT_VERSION}")
    sizes = header["sizes"]
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(type(s) is int and s >= 1 for s in sizes)):
        raise ValueError(f"{path!r}: sizes must be a list of at least two positive integers, got {sizes!r}")
    acts = header["activations"]
    if not isinstance(acts, list) or len(acts) != len(sizes) - 1 or not all(isinstance(a, str) for a in acts):
        raise ValueError(f"{path!r}: activations must be {len(sizes) - 1} names, got {acts!r}")
    if header["dtype"] not in ("float64", "float32"):
        raise ValueError(f"{path!r}: dtype must be 'float64' or 'float32', got {header['dtype']!r}")
    return header
