import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import nbprop
from nbprop import cli


def test_demo_trains_reports_speed_and_draws_what_it_learned(capsys):
    net, hist = cli.demo(epochs=20)
    out = capsys.readouterr().out
    assert out.count("loss (mse)") == 20 and "samples/s" in out and "what it learned" in out
    assert hist.loss[-1] < 0.2 * hist.loss[0]
    grid = np.linspace(-3, 3, 50)
    assert np.mean((net.predict(grid).ravel() - np.sin(grid)) ** 2) < 0.01


def test_python_dash_m_nbprop_demo_runs_in_a_fresh_process():
    result = subprocess.run([sys.executable, "-m", "nbprop", "demo", "--epochs", "2"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "epoch   2" in result.stdout


def test_bad_options_exit_with_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--epochs", "0"])
    assert exit_info.value.code == 2
    assert "--epochs" in capsys.readouterr().err


# ------------------------------------------------------------- train, predict, info


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A temporary working directory holding a small regression CSV, ``data.csv``."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(40, 2))
    y = np.sin(2 * X[:, 0]) * X[:, 1]
    write("data.csv", "a,b,y", np.c_[X, y])
    return tmp_path


def write(path, header, rows):
    with open(path, "w") as file:
        file.write(header + "\n")
        for row in rows:
            file.write(",".join(repr(float(v)) if not isinstance(v, str) else v for v in row) + "\n")


def run(argv, capsys):
    """``(exit status, stdout, stderr)`` of ``nbprop argv`` run in this process."""
    try:
        status = cli.main(argv)
    except SystemExit as exit_info:
        status = exit_info.code
    out, err = capsys.readouterr()
    return status, out, err


def assert_error(argv, capsys, message, status=1):
    code, out, err = run(argv, capsys)
    assert code == status, (out, err)
    assert message in err, err
    assert "Traceback" not in err
    return err


TRAIN = ["train", "data.csv", "--target", "y", "--hidden", "8,4", "--epochs", "3", "--lr", "0.05",
         "--seed", "1", "--out", "net.npz"]


def test_train_saves_the_model_mlp_fit_would_make(workdir, capsys):
    status, out, _ = run(TRAIN + ["--no-progress-bar"], capsys)
    assert status == 0
    assert "final loss (mse) over the 40 training rows" in out and "samples/s" in out
    assert out.count("loss (mse)") == 3 + 1 and "epoch    3/3" in out and "saved model to net.npz" in out
    net = nbprop.load("net.npz")
    assert net.sizes == [2, 8, 4, 1] and net.activations == ["tanh", "tanh", "identity"]
    _, values = cli.read_csv("data.csv")
    twin = nbprop.MLP([2, 8, 4, 1], activation="tanh", loss="mse", seed=1)
    twin.fit(values[:, :2], values[:, 2:], epochs=3, lr=0.05, batch_size=1)
    assert np.array_equal(net.params, twin.params)


def test_train_prints_a_line_per_epoch_without_tqdm(workdir, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # `import tqdm` now fails
    status, out, err = run(TRAIN, capsys)
    assert status == 0 and out.count("epoch ") == 3 and "final loss" in out


def test_train_shows_a_tqdm_bar_when_tqdm_is_installed(workdir, capsys):
    pytest.importorskip("tqdm")
    status, out, err = run(TRAIN, capsys)
    assert status == 0 and "epoch    1/3" not in out and "3/3" in err and "final loss" in out


def test_train_quiet_options_and_several_targets(workdir, capsys):
    _, values = cli.read_csv("data.csv")
    write("two.csv", "a,y1,b,y2", np.c_[values[:, 0], values[:, 2], values[:, 1], values[:, 2] ** 2])
    status, out, _ = run(["train", "two.csv", "--target", "y1,y2", "--hidden", "0", "--loss", "half_sse",
                          "--activation", "relu", "--batch-size", "full", "--momentum", "0.5", "--dtype",
                          "float32", "--epochs", "2", "--quiet"], capsys)
    assert status == 0 and "epoch " not in out
    net = nbprop.load("model.npz")
    assert net.sizes == [2, 2] and net.loss_name == "half_sse" and net.dtype == np.float32
    assert "inputs: a, b; targets: y1, y2" in out


def test_predict_writes_every_row_exactly(workdir, capsys):
    run(TRAIN + ["--quiet"], capsys)
    status, out, _ = run(["predict", "net.npz", "data.csv", "--drop", "y"], capsys)
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "prediction" and len(lines) == 41
    _, values = cli.read_csv("data.csv")
    expected = nbprop.load("net.npz").predict(values[:, :2]).ravel()
    assert np.array_equal([float(v) for v in lines[1:]], expected)  # shortest repr reads back exactly

    status, out, _ = run(["predict", "net.npz", "data.csv", "--drop", "y", "--out", "preds.csv"], capsys)
    assert status == 0 and "wrote 40 predictions to preds.csv" in out
    names, preds = cli.read_csv("preds.csv")
    assert names == ["prediction"] and np.array_equal(preds.ravel(), expected)


def test_predict_names_several_outputs(workdir, capsys):
    nbprop.MLP([2, 3], activation="identity", seed=0).save("three.npz")
    write("x.csv", "a,b", [[0.0, 1.0]])
    status, out, _ = run(["predict", "three.npz", "x.csv"], capsys)
    assert status == 0 and out.splitlines()[0] == "prediction_0,prediction_1,prediction_2"


def test_info_describes_the_model(workdir, capsys):
    run(TRAIN + ["--quiet"], capsys)
    status, out, _ = run(["info", "net.npz"], capsys)
    assert status == 0
    for text in ["architecture: 2-8-4-1 (2 inputs, hidden layers 8, 4, 1 output)",
                 "activations: tanh, tanh (hidden), identity (output)", "loss: mse", "dtype: float64",
                 f"parameters: {8 * 2 + 8 + 4 * 8 + 4 + 4 + 1}", "8 x 2", "4 x 8", "1 x 4"]:
        assert text in out, text
    W = nbprop.load("net.npz").weights[0]
    assert f"{W.mean():+8.3f} {W.std():+8.3f} {W.min():+8.3f} {W.max():+8.3f}" in out


@pytest.mark.parametrize("command", ["train", "predict", "info", "demo"])
def test_every_command_has_help(command, capsys):
    status, out, _ = run([command, "--help"], capsys)
    assert status == 0 and out.startswith(f"usage: nbprop {command}")


@pytest.mark.parametrize("argv, message", [
    (["train", "missing.csv", "--target", "y"], "missing.csv: no such file"),
    (["train", "data.csv", "--target", "z"], "--target: data.csv has no column 'z'; its columns are a, b, y"),
    (["train", "data.csv", "--target", "a,b,y"], "at least one input column is needed"),
    (["train", "data.csv", "--target", "y,y"], "named twice"),
    (["train", "data.csv", "--target", "y,"], "--target: expected comma-separated column names"),
    (["train", "data.csv", "--target", "y", "--out", "no/such/dir/m.npz"],
     "--out: cannot write no/such/dir/m.npz (no such directory"),
    (["train", "data.csv", "--target", "y", "--loss", "bce"], "loss='bce' needs targets in [0, 1]"),
    (["train", "data.csv", "--target", "y", "--hidden", "2,2", "--activation", "tanh,relu,elu"],
     "one name per hidden layer"),
    (["train", "data.csv", "--target", "y", "--lr", "1e6", "--epochs", "5"], "diverged"),
    (["predict", "missing.npz", "data.csv"], "missing.npz: no such file"),
    (["predict", "data.csv", "data.csv"], "is not a readable nbprop model file"),
    (["predict", "net.npz", "missing.csv"], "missing.csv: no such file"),
    (["predict", "net.npz", "data.csv"], "data.csv has 3 input column(s) (a, b, y), the model expects 2; "
                                         "use --drop to leave out target columns"),
    (["predict", "net.npz", "data.csv", "--drop", "a,y"], "has 1 input column(s) (b), the model expects 2"),
    (["predict", "net.npz", "data.csv", "--drop", "q"], "--drop: data.csv has no column 'q'"),
    (["predict", "net.npz", "data.csv", "--drop", "y", "--out", "no/such/dir/p.csv"], "--out: cannot write"),
    (["info", "missing.npz"], "missing.npz: no such file"),
    (["info", "data.csv"], "is not a readable nbprop model file"),
])
def test_problems_with_files_and_columns_are_one_line_errors(workdir, capsys, argv, message):
    nbprop.MLP([2, 3, 1], seed=0).save("net.npz")
    err = assert_error(argv, capsys, message)
    # one line of error (after the progress bar, if training started)
    assert err.splitlines()[-1].startswith(f"nbprop {argv[0]}: error: ")
    assert err.count("error:") == 1 and err.endswith("\n")


@pytest.mark.parametrize("content, message", [
    ("", "the file is empty"),
    ("a,b,y\n", "no data rows after the header"),
    ("a,b,y\n1,2,3\n1,2\n", "data row 2 has 2 cells, the header has 3 columns"),
    ("a,b,y\n1,2,3\n1,two,3\n", "data row 2, column 'b': 'two' is not a number"),
    ("a,b,y\n1,,3\n", "data row 1, column 'b': '' is not a number"),
    ("a,b,y\n1,nan,3\n", "data row 1, column 'b': expected a finite number, got 'nan'"),
    ("a,a,y\n1,2,3\n", "column names must be unique, repeated: a"),
    ("a,,y\n1,2,3\n", "the header row has an empty column name (column 2)"),
])
def test_bad_csv_files_are_one_line_errors(workdir, capsys, content, message):
    with open("bad.csv", "w") as file:
        file.write(content)
    assert_error(["train", "bad.csv", "--target", "y"], capsys, "bad.csv: " + message)


@pytest.mark.parametrize("option, value, message", [
    ("--epochs", "0", "--epochs: expected a whole number >= 1, got '0'"),
    ("--lr", "-1", "--lr: expected a finite number > 0, got '-1'"),
    ("--lr", "fast", "--lr: expected a finite number > 0, got 'fast'"),
    ("--hidden", "8,x", "--hidden: expected a whole number >= 1, got 'x'"),
    ("--batch-size", "0", "--batch-size: expected a whole number >= 1, got '0'"),
    ("--momentum", "1", "--momentum: expected a number in [0, 1), got '1'"),
    ("--activation", "swish", "--activation: unknown activation 'swish'"),
    ("--output-activation", "swish", "--output-activation: invalid choice: 'swish'"),
    ("--loss", "huber", "--loss: invalid choice: 'huber'"),
    ("--seed", "-1", "--seed: expected a whole number >= 0, got '-1'"),
])
def test_bad_options_are_usage_errors(workdir, capsys, option, value, message):
    assert_error(["train", "data.csv", "--target", "y", option, value], capsys, message, status=2)


def test_missing_required_options_are_usage_errors(capsys):
    assert_error(["train", "data.csv"], capsys, "the following arguments are required: --target", status=2)
    assert_error(["predict", "model.npz"], capsys, "the following arguments are required: DATA.csv", status=2)
    assert_error([], capsys, "the following arguments are required: command", status=2)


def test_train_predict_info_in_fresh_processes(workdir):
    def nbprop_command(*args):
        return subprocess.run([sys.executable, "-m", "nbprop", *args], capture_output=True, text=True,
                              timeout=300)

    result = nbprop_command("train", "data.csv", "--target", "y", "--epochs", "2", "--quiet")
    assert result.returncode == 0 and "saved model to model.npz" in result.stdout, result.stderr
    result = nbprop_command("predict", "model.npz", "data.csv", "--drop", "y")
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 41
    result = nbprop_command("predict", "model.npz", "data.csv")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("nbprop predict: error: data.csv has 3 input column(s)")
    script = shutil.which("nbprop", path=os.path.dirname(sys.executable))
    if script:  # the console script installed with the package
        result = subprocess.run([script, "info", "model.npz"], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0 and "architecture: 2-16-1" in result.stdout
