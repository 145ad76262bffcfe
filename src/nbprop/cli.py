"""The ``nbprop`` command line (``python -m nbprop`` or the ``nbprop`` script).

Commands:

* ``nbprop demo``: train a small network on a noisy sine and show what it learned;
* ``nbprop train DATA.csv --target COLS ...``: train a network on a CSV file
  and save it as ``.npz``;
* ``nbprop predict MODEL.npz DATA.csv [--out PREDS.csv]``: the network's
  outputs for every row of a CSV file;
* ``nbprop info MODEL.npz``: architecture, activations, loss, dtype,
  parameter count and per-layer weight statistics.

CSV files have a header row of column names and numbers in every cell.
Problems with files, columns, cells or options end the command with a
one-line message on stderr and a non-zero exit status, never a traceback.

Examples
--------
>>> import os, tempfile
>>> from nbprop import cli
>>> folder = tempfile.mkdtemp()
>>> data = os.path.join(folder, "data.csv")
>>> with open(data, "w") as file:
...     _ = file.write("x,y\\n0,0\\n0.5,1\\n1,0\\n")
>>> model = os.path.join(folder, "model.npz")
>>> cli.main(["train", data, "--target", "y", "--hidden", "4", "--epochs", "2",
...           "--out", model, "--quiet"])  # doctest: +ELLIPSIS
MLP(sizes=[1, 4, 1], activation='tanh', ...): 13 parameters
inputs: x; targets: y; 3 rows
final loss (mse) over the 3 training rows: ...
speed: ... samples/s (median over epochs; JIT compile or cache load ... s not included)
saved model to .../model.npz
0
>>> cli.main(["predict", model, data, "--drop", "y"])  # doctest: +ELLIPSIS
prediction
...
0
"""

import argparse
import csv
import math
import os
import sys

import numpy as np

_LOSSES = ("half_sse", "ssr", "mse", "bce", "cross_entropy")
_HIDDEN_ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "elu")


class CommandError(Exception):
    """A problem with the user's files, columns, cells or options: reported in one line, exit status 1.

    Examples
    --------
    >>> from nbprop.cli import CommandError, read_csv
    >>> try:
    ...     read_csv("no-such-file.csv")
    ... except CommandError as error:
    ...     print(error)
    no-such-file.csv: no such file
    """


# ------------------------------------------------------------------------ demo


def ascii_plot(x, curves, width=64, height=15):
    """Draw ``curves`` (a list of ``(symbol, y)``) over ``x`` as lines of text.

    Parameters
    ----------
    x : ndarray
        Abscissae, spread evenly over the ``width`` columns.
    curves : list of (str, ndarray)
        One symbol and the ordinates for each curve; where two curves meet,
        ``o`` is drawn.
    width, height : int
        Size of the drawing in characters.

    Returns
    -------
    str
        ``height`` lines, the first and last labelled with the largest and
        smallest value.

    Examples
    --------
    >>> import numpy as np
    >>> from nbprop.cli import ascii_plot
    >>> x = np.linspace(0, 1, 3)
    >>> print(ascii_plot(x, [(".", x), ("*", 1 - x)], width=3, height=3))
      |* . +1.00
      | o
      |. * +0.00
    """
    ys = np.concatenate([y for _, y in curves])
    low, high = float(ys.min()), float(ys.max())
    grid = [[" "] * width for _ in range(height)]
    columns = np.linspace(0, width - 1, len(x)).round().astype(int)
    for symbol, y in curves:
        rows = ((high - y) / (high - low) * (height - 1)).round().astype(int)
        for row, column in zip(rows, columns):
            grid[row][column] = "o" if grid[row][column] not in (" ", symbol) else symbol
    lines = ["".join(row).rstrip() for row in grid]
    lines[0] = f"{lines[0]:<{width}} {high:+.2f}"
    lines[-1] = f"{lines[-1]:<{width}} {low:+.2f}"
    return "\n".join("  |" + line for line in lines)


def demo(epochs=20, seed=0, out=None):
    """Train a 1-16-1 tanh network on a noisy sine and show loss, speed and what it learned.

    Parameters
    ----------
    epochs : int, default 20
        Training epochs.
    seed : int, default 0
        Seeds the data, the initial weights and the shuffling.
    out : file, optional
        Where to print (default ``sys.stdout``).

    Returns
    -------
    (MLP, History)

    Examples
    --------
    >>> import io
    >>> from nbprop import cli
    >>> net, hist = cli.demo(epochs=2, out=io.StringIO())
    >>> hist.epochs
    2
    """
    import nbprop

    out = out or sys.stdout

    rng = np.random.default_rng(seed)
    X = rng.uniform(-3, 3, size=(512, 1))
    Y = np.sin(X) + rng.normal(scale=0.05, size=X.shape)
    net = nbprop.MLP([1, 16, 1], activation="tanh", output_activation="identity", loss="mse", seed=seed)
    print(f"nbprop {nbprop.__version__} demo: {net}", file=out)
    schedule = nbprop.InverseScaling(decay=1e-3)
    print(f"learning y = sin(x) from {len(X)} noisy samples by per-sample SGD "
          f"(lr 0.01, momentum 0.9, {schedule})\n", file=out)
    hist = net.fit(X, Y, epochs=epochs, lr=0.01, momentum=0.9, schedule=schedule, seed=seed)
    print(f"JIT compile or cache load: {hist.compile_seconds:.2f} s (not part of the epoch times)", file=out)
    for epoch, (loss, speed) in enumerate(zip(hist.loss, hist.samples_per_second), start=1):
        print(f"epoch {epoch:3d}   loss (mse) {loss:.5f}   {speed:12,.0f} samples/s", file=out)
    print(f"\nspeed: {np.median(hist.samples_per_second):,.0f} samples/s "
          f"(median over epochs; forward + backward + update per sample)", file=out)
    grid = np.linspace(-3, 3, 9)
    predicted = net.predict(grid).ravel()
    print("\n     x    sin(x)   network", file=out)
    for x, p in zip(grid, predicted):
        print(f"{x:+6.2f}  {np.sin(x):+7.3f}  {p:+8.3f}", file=out)
    dense = np.linspace(-3, 3, 64)
    print("\nwhat it learned ('.' sin(x), '*' network, 'o' both):", file=out)
    print(ascii_plot(dense, [(".", np.sin(dense)), ("*", net.predict(dense).ravel())]), file=out)
    return net, hist


# ------------------------------------------------------------------------- CSV


def read_csv(path):
    """Read a CSV file with a header row and a number in every cell.

    Parameters
    ----------
    path : str
        The file.

    Returns
    -------
    names : list of str
        Column names from the header row.
    values : ndarray of float64, shape (n_rows, n_columns)

    Raises
    ------
    CommandError
        Missing or unreadable file, no header or no data rows, empty or
        repeated column names, a row with the wrong number of cells, or a
        cell that is not a finite number (the message names the line and
        column).

    Examples
    --------
    >>> import os, tempfile
    >>> from nbprop.cli import read_csv
    >>> path = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> with open(path, "w") as file:
    ...     _ = file.write("a,b\\n1,2\\n3,4.5\\n")
    >>> read_csv(path)
    (['a', 'b'], array([[1. , 2. ],
           [3. , 4.5]]))
    """
    if not os.path.isfile(path):
        raise CommandError(f"{path}: no such file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            rows = [row for row in csv.reader(file) if row and any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise CommandError(f"{path}: cannot read it as CSV text ({error})") from None
    if not rows:
        raise CommandError(f"{path}: the file is empty; expected a header row of column names")
    names = [name.strip() for name in rows[0]]
    if any(not name for name in names):
        raise CommandError(f"{path}: the header row has an empty column name (column {names.index('') + 1})")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise CommandError(f"{path}: column names must be unique, repeated: {', '.join(repeated)}")
    if len(rows) < 2:
        raise CommandError(f"{path}: no data rows after the header")
    values = np.empty((len(rows) - 1, len(names)))
    for i, row in enumerate(rows[1:]):
        line = i + 2  # 1-based, after the header (blank lines are not counted)
        if len(row) != len(names):
            raise CommandError(f"{path}: data row {line - 1} has {len(row)} cells, "
                               f"the header has {len(names)} columns")
        for j, cell in enumerate(row):
            try:
                value = float(cell)
            except ValueError:
                raise CommandError(f"{path}: data row {line - 1}, column {names[j]!r}: "
                                   f"{cell.strip()!r} is not a number") from None
            if not math.isfinite(value):
                raise CommandError(f"{path}: data row {line - 1}, column {names[j]!r}: "
                                   f"expected a finite number, got {cell.strip()!r}")
            values[i, j] = value
    return names, values


def write_csv(names, values, file):
    """Write a header row and one row per line of ``values``, every number exactly (shortest repr).

    Examples
    --------
    >>> import sys
    >>> import numpy as np
    >>> from nbprop.cli import write_csv
    >>> write_csv(["p"], np.array([[0.1], [2.0]]), sys.stdout)
    p
    0.1
    2.0
    """
    writer = csv.writer(file, lineterminator="\n")
    writer.writerow(names)
    # repr of a Python float and str of a NumPy float32 are the shortest strings that read back exactly.
    text = (lambda v: repr(float(v))) if values.dtype == np.float64 else str
    for row in values:
        writer.writerow([text(v) for v in row])


def split_columns(spec, option):
    """``"a,b"`` -> ``["a", "b"]``; an empty name is a :class:`CommandError`.

    Examples
    --------
    >>> from nbprop.cli import split_columns
    >>> split_columns("y1, y2", "--target")
    ['y1', 'y2']
    """
    names = [name.strip() for name in spec.split(",")]
    if not all(names):
        raise CommandError(f"{option}: expected comma-separated column names, got {spec!r}")
    return names


# ----------------------------------------------------------------- train


def train(data, target, hidden=(16,), activation="tanh", output_activation=None, loss="mse",
          epochs=50, lr=0.01, batch_size=1, momentum=0.0, seed=0, dtype="float64", out="model.npz",
          progress=None, stream=None):
    """Train a network on the CSV file ``data`` and save it to ``out``: the ``train`` command.

    Parameters
    ----------
    data : str
        CSV file with a header row.
    target : list of str
        The target columns; every other column is an input.
    hidden : sequence of int, default (16,)
        Units per hidden layer (empty: no hidden layer).
    activation : str or list of str, default "tanh"
        Hidden activation, or one per hidden layer.
    output_activation : str, optional
        nbprop's default for the loss when not given.
    loss : str, default "mse"
        One of nbprop's losses.
    epochs, lr, batch_size, momentum, seed, dtype
        As in :class:`nbprop.MLP` and :meth:`nbprop.MLP.fit` (``batch_size``
        None is full-batch gradient descent).
    out : str, default "model.npz"
        Where to save the trained model.
    progress : {None, "bar", "lines", "none"}
        A tqdm progress bar, a line per epoch, or nothing; by default the bar
        when tqdm is installed and lines otherwise.
    stream : file, optional
        Where to print (default ``sys.stdout``).

    Returns
    -------
    (MLP, History)

    Examples
    --------
    >>> import io, os, tempfile
    >>> from nbprop.cli import train
    >>> folder = tempfile.mkdtemp()
    >>> data = os.path.join(folder, "xor.csv")
    >>> with open(data, "w") as file:
    ...     _ = file.write("a,b,xor\\n0,0,0\\n0,1,1\\n1,0,1\\n1,1,0\\n")
    >>> net, hist = train(data, ["xor"], hidden=[3], epochs=5, out=os.path.join(folder, "m.npz"),
    ...                   progress="none", stream=io.StringIO())
    >>> net.sizes, hist.epochs
    ([2, 3, 1], 5)
    """
    import nbprop

    stream = stream or sys.stdout
    _check_directory(out)
    names, values = read_csv(data)
    missing = [name for name in target if name not in names]
    if missing:
        raise CommandError(f"--target: {data} has no column {', '.join(map(repr, missing))}; "
                           f"its columns are {', '.join(names)}")
    if len(set(target)) != len(target):
        raise CommandError(f"--target: a column is named twice in {','.join(target)}")
    inputs = [name for name in names if name not in target]
    if not inputs:
        raise CommandError(f"--target: every column of {data} is a target; at least one input column is needed")
    X = values[:, [names.index(name) for name in inputs]]
    Y = values[:, [names.index(name) for name in target]]
    try:
        net = nbprop.MLP([len(inputs), *hidden, len(target)], activation=activation,
                         output_activation=output_activation, loss=loss, dtype=dtype, seed=seed)
    except (TypeError, ValueError) as error:
        raise CommandError(str(error)) from None
    print(f"{net}: {net.n_params} parameters", file=stream)
    print(f"inputs: {', '.join(inputs)}; targets: {', '.join(target)}; {len(X)} rows", file=stream)

    if progress is None:
        progress = "bar" if _have_tqdm() else "lines"

    def report(epoch, history, model):
        print(f"epoch {epoch + 1:4d}/{epochs}   loss ({loss}) {history.loss[-1]:.6g}   "
              f"{history.samples_per_second[-1]:12,.0f} samples/s", file=stream)

    try:
        hist = net.fit(X, Y, epochs=epochs, lr=lr, batch_size=batch_size, momentum=momentum,
                       progress=progress == "bar", callbacks=[report] if progress == "lines" else ())
    except (TypeError, ValueError, FloatingPointError) as error:  # bad targets for the loss, divergence
        raise CommandError(str(error)) from None
    final = net.loss(X, Y)
    print(f"final loss ({loss}) over the {len(X)} training rows: {final:.6g}", file=stream)
    print(f"speed: {np.median(hist.samples_per_second):,.0f} samples/s (median over epochs; "
          f"JIT compile or cache load {hist.compile_seconds:.2f} s not included)", file=stream)
    try:
        net.save(out)
    except OSError as error:
        raise CommandError(f"--out: cannot write {out} ({error.strerror or error})") from None
    print(f"saved model to {out}", file=stream)
    return net, hist


def _check_directory(out):
    """Fail before any work when ``--out`` names a file in a directory that does not exist."""
    directory = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(directory):
        raise CommandError(f"--out: cannot write {out} (no such directory {directory})")


def _have_tqdm():
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------- predict, info


def load_model(path):
    """:func:`nbprop.load` with its errors as :class:`CommandError`.

    Examples
    --------
    >>> from nbprop.cli import load_model, CommandError
    >>> try:
    ...     load_model("no-such-model.npz")
    ... except CommandError as error:
    ...     print(error)
    no-such-model.npz: no such file
    """
    import nbprop

    if not os.path.isfile(path):
        raise CommandError(f"{path}: no such file")
    try:
        return nbprop.load(path)
    except (ValueError, OSError) as error:
        raise CommandError(str(error)) from None


def predict(model_path, data, out=None, drop=(), stream=None):
    """Write the network's outputs for every row of ``data`` as CSV: the ``predict`` command.

    Parameters
    ----------
    model_path : str
        A model saved by ``nbprop train`` or :func:`nbprop.save`.
    data : str
        CSV file whose columns, after ``drop``, are the model's inputs in order.
    out : str, optional
        Output file; by default the CSV goes to ``stream``.
    drop : sequence of str
        Columns to ignore, e.g. the targets of a training file.
    stream : file, optional
        Default ``sys.stdout``.

    Returns
    -------
    ndarray, shape (n_rows, n_outputs)

    Examples
    --------
    >>> import os, tempfile
    >>> import nbprop
    >>> from nbprop.cli import predict
    >>> folder = tempfile.mkdtemp()
    >>> net = nbprop.MLP([1, 1], activation="identity")
    >>> net.params = [2.0, 1.0]
    >>> net.save(os.path.join(folder, "m.npz"))
    >>> with open(os.path.join(folder, "x.csv"), "w") as file:
    ...     _ = file.write("x\\n0\\n1.5\\n")
    >>> _ = predict(os.path.join(folder, "m.npz"), os.path.join(folder, "x.csv"))
    prediction
    1.0
    4.0
    """
    stream = stream or sys.stdout
    if out is not None:
        _check_directory(out)
    net = load_model(model_path)
    names, values = read_csv(data)
    unknown = [name for name in drop if name not in names]
    if unknown:
        raise CommandError(f"--drop: {data} has no column {', '.join(map(repr, unknown))}")
    inputs = [name for name in names if name not in drop]
    if len(inputs) != net.sizes[0]:
        raise CommandError(f"{data} has {len(inputs)} input column(s) ({', '.join(inputs) or 'none'}), "
                           f"the model expects {net.sizes[0]}"
                           + ("; use --drop to leave out target columns" if len(inputs) > net.sizes[0] else ""))
    X = values[:, [names.index(name) for name in inputs]]
    try:
        predicted = net.predict(X)
    except (TypeError, ValueError) as error:
        raise CommandError(str(error)) from None
    k = predicted.shape[1]
    columns = ["prediction"] if k == 1 else [f"prediction_{i}" for i in range(k)]
    if out is None:
        write_csv(columns, predicted, stream)
    else:
        try:
            with open(out, "w", newline="") as file:
                write_csv(columns, predicted, file)
        except OSError as error:
            raise CommandError(f"--out: cannot write {out} ({error.strerror or error})") from None
        print(f"wrote {len(predicted)} predictions to {out}", file=stream)
    return predicted


def info(model_path, stream=None):
    """Describe a saved model: the ``info`` command.

    Prints the architecture, activations, loss, dtype, parameter count and,
    per layer, the shape and the mean, standard deviation, minimum and
    maximum of its weights and biases.

    Examples
    --------
    >>> import os, tempfile
    >>> import nbprop
    >>> from nbprop.cli import info
    >>> path = os.path.join(tempfile.mkdtemp(), "m.npz")
    >>> nbprop.MLP([2, 3, 1], activation="relu", seed=0).save(path)
    >>> info(path)  # doctest: +ELLIPSIS
    model: .../m.npz
    architecture: 2-3-1 (2 inputs, hidden layers 3, 1 output)
    activations: relu (hidden), identity (output)
    loss: half_sse
    dtype: float64
    parameters: 13
    layer  shape (out x in)  activation     weights: mean      std      min      max   biases: mean      std      min      max
        1             3 x 2        relu      ...
        2             1 x 3    identity      ...
    """
    stream = stream or sys.stdout
    net = load_model(model_path)
    sizes = net.sizes
    hidden = sizes[1:-1]
    print(f"model: {model_path}", file=stream)
    print(f"architecture: {'-'.join(map(str, sizes))} ({sizes[0]} input{'s' * (sizes[0] != 1)}, "
          + (f"hidden layers {', '.join(map(str, hidden))}, " if hidden else "no hidden layer, ")
          + f"{sizes[-1]} output{'s' * (sizes[-1] != 1)})", file=stream)
    acts = net.activations
    print("activations: " + (f"{', '.join(acts[:-1])} (hidden), " if hidden else "")
          + f"{acts[-1]} (output)", file=stream)
    print(f"loss: {net.loss_name}", file=stream)
    print(f"dtype: {net.dtype.name}", file=stream)
    print(f"parameters: {net.n_params}", file=stream)
    stats = lambda a: "".join(f" {v:+8.3f}" for v in (a.mean(), a.std(), a.min(), a.max()))  # noqa: E731
    print("layer  shape (out x in)  activation     weights: mean      std      min      max"
          "   biases: mean      std      min      max", file=stream)
    for layer, (W, b, act) in enumerate(zip(net.weights, net.biases, acts), start=1):
        shape = f"{W.shape[0]} x {W.shape[1]}"
        print(f"{layer:5d}  {shape:>16}  {act:>10}      {stats(W)}         {stats(b)}", file=stream)


# ------------------------------------------------------------------ the parser


def _number(convert, accept, expected):
    """An argparse type: ``convert`` the text, then check it with ``accept``."""

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_positive_int = _number(int, lambda v: v >= 1, "a whole number >= 1")
_non_negative_int = _number(int, lambda v: v >= 0, "a whole number >= 0")
_positive_float = _number(float, lambda v: math.isfinite(v) and v > 0, "a finite number > 0")
_momentum = _number(float, lambda v: 0 <= v < 1, "a number in [0, 1)")


def _hidden(text):
    if text.strip() in ("", "0", "none"):
        return []
    return [_positive_int(part.strip()) for part in text.split(",")]


def _batch_size(text):
    if text == "full":
        return None
    return _positive_int(text)


def _activation(text):
    names = [name.strip() for name in text.split(",")]
    for name in names:
        if name not in _HIDDEN_ACTIVATIONS:
            raise argparse.ArgumentTypeError(f"unknown activation {name!r}; expected one of "
                                             f"{', '.join(_HIDDEN_ACTIVATIONS)}, or one per hidden layer "
                                             f"separated by commas")
    return names[0] if len(names) == 1 else names


def build_parser():
    """The ``argparse`` parser of every command.

    Examples
    --------
    >>> from nbprop.cli import build_parser
    >>> args = build_parser().parse_args(["train", "d.csv", "--target", "y", "--hidden", "8,8"])
    >>> args.hidden, args.target, args.out
    ([8, 8], 'y', 'model.npz')
    """
    parser = argparse.ArgumentParser(prog="nbprop", description="Fast backpropagation for small MLPs.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="train a small network and show what it learned")
    demo_parser.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    demo_parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")

    train_parser = commands.add_parser(
        "train", help="train a network on a CSV file and save it",
        description="Train a network on DATA.csv (a header row, then numbers): the --target columns "
                    "are the outputs, every other column an input. Saves the model as .npz.")
    train_parser.add_argument("data", metavar="DATA.csv", help="training data")
    train_parser.add_argument("--target", required=True, metavar="COLS",
                              help="target column name(s), comma-separated")
    train_parser.add_argument("--hidden", type=_hidden, default=[16], metavar="N,N",
                              help="units per hidden layer, comma-separated; 0 for none (default 16)")
    train_parser.add_argument("--activation", type=_activation, default="tanh", metavar="NAME",
                              help=f"hidden activation, or one per hidden layer, comma-separated: "
                                   f"{', '.join(_HIDDEN_ACTIVATIONS)} (default tanh)")
    train_parser.add_argument("--output-activation", default=None, metavar="NAME",
                              choices=_HIDDEN_ACTIVATIONS + ("softmax",),
                              help="output activation (default: sigmoid for bce, softmax for "
                                   "cross_entropy, identity otherwise)")
    train_parser.add_argument("--loss", choices=_LOSSES, default="mse", help="loss (default mse)")
    train_parser.add_argument("--epochs", type=_positive_int, default=50, help="passes over the data (default 50)")
    train_parser.add_argument("--lr", type=_positive_float, default=0.01, help="learning rate (default 0.01)")
    train_parser.add_argument("--batch-size", type=_batch_size, default=1, metavar="N",
                              help="samples per step: 1 is per-sample SGD, 'full' full-batch gradient descent "
                                   "(default 1)")
    train_parser.add_argument("--momentum", type=_momentum, default=0.0, help="momentum in [0, 1) (default 0)")
    train_parser.add_argument("--seed", type=_non_negative_int, default=0,
                              help="seeds the initial weights and the shuffling (default 0)")
    train_parser.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                              help="floating-point type (default float64)")
    train_parser.add_argument("--out", default="model.npz", metavar="MODEL.npz", help="where to save the model (default model.npz)")
    shown = train_parser.add_mutually_exclusive_group()
    shown.add_argument("--no-progress-bar", action="store_true",
                       help="a line per epoch even when tqdm is installed")
    shown.add_argument("--quiet", action="store_true", help="no per-epoch output")

    predict_parser = commands.add_parser(
        "predict", help="the network's outputs for every row of a CSV file",
        description="Compute the outputs of a saved model for every row of DATA.csv, whose columns "
                    "(after --drop) are the model's inputs in order. Writes CSV with a header row.")
    predict_parser.add_argument("model", metavar="MODEL.npz", help="a model saved by 'nbprop train'")
    predict_parser.add_argument("data", metavar="DATA.csv", help="inputs, with a header row")
    predict_parser.add_argument("--out", default=None, metavar="PREDS.csv",
                                help="write the predictions here instead of to stdout")
    predict_parser.add_argument("--drop", default="", metavar="COLS",
                                help="comma-separated columns to ignore, e.g. the targets")

    info_parser = commands.add_parser(
        "info", help="describe a saved model",
        description="Show a saved model's architecture, activations, loss, dtype, parameter "
                    "count and per-layer weight statistics.")
    info_parser.add_argument("model", metavar="MODEL.npz", help="a model saved by 'nbprop train'")
    return parser


def main(argv=None):
    """Entry point of ``python -m nbprop`` and the ``nbprop`` console script.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 1 for a problem with files, columns or cells (message
        on stderr), 130 when interrupted.  Bad options exit with status 2
        and a usage message, as argparse does.

    Examples
    --------
    >>> from nbprop import cli
    >>> cli.main(["info", "missing.npz"])
    1
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.epochs < 1:
            parser.error(f"--epochs: expected a whole number >= 1, got {args.epochs}")
        demo(epochs=args.epochs, seed=args.seed)
        return 0
    try:
        if args.command == "train":
            progress = "none" if args.quiet else "lines" if args.no_progress_bar else None
            train(args.data, split_columns(args.target, "--target"), hidden=args.hidden,
                  activation=args.activation, output_activation=args.output_activation, loss=args.loss,
                  epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, momentum=args.momentum,
                  seed=args.seed, dtype=args.dtype, out=args.out, progress=progress)
        elif args.command == "predict":
            drop = split_columns(args.drop, "--drop") if args.drop else []
            predict(args.model, args.data, out=args.out, drop=drop)
        elif args.command == "info":
            info(args.model)
    except CommandError as error:
        print(f"nbprop {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"nbprop {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `nbprop predict ... | head`: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 1
    return 0
