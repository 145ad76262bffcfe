"""Every script in examples/ runs in a fresh process, in a temporary directory, and says what it should."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_example(name, cwd, *args, env=None, timeout=120):
    result = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def without_matplotlib(tmp_path):
    """An environment in which ``import matplotlib`` fails as if it were not installed."""
    stub = tmp_path / "stub" / "matplotlib"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'matplotlib'\", name='matplotlib')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(stub.parent), env.get("PYTHONPATH")]))
    return env


def number_after(label, text):
    match = re.search(re.escape(label) + r"\s*([-+]?[\d.]+(?:e[-+]?\d+)?)", text)
    assert match, f"{label!r} not in:\n{text}"
    return float(match.group(1))


def assert_png(path):
    assert path.read_bytes()[:8] == PNG_SIGNATURE and path.stat().st_size > 10_000


def test_xor_learns_all_four_cases(tmp_path):
    out = run_example("xor.py", tmp_path)
    assert "learned XOR: yes, all four cases right" in out
    assert number_after("epoch  1000   loss (bce, summed over the 4 samples)", out) < 0.05


def test_sine_fits_the_curve_and_saves_a_plot(tmp_path):
    pytest.importorskip("matplotlib")
    out = run_example("sine.py", tmp_path)
    assert number_after("mean squared distance from sin(x) on a grid:", out) < 0.01
    assert "samples/s" in out and "plot saved to sine.png" in out
    assert_png(tmp_path / "sine.png")


def test_sine_without_matplotlib_trains_and_skips_the_plot(tmp_path):
    out = run_example("sine.py", tmp_path, env=without_matplotlib(tmp_path))
    assert number_after("mean squared distance from sin(x) on a grid:", out) < 0.01
    assert "matplotlib is not installed: plot skipped" in out
    assert not (tmp_path / "sine.png").exists()


def test_dosage_curve_goes_through_the_three_points(tmp_path):
    pytest.importorskip("matplotlib")
    out = run_example("dosage.py", tmp_path)
    assert number_after("start: SSR =", out) == pytest.approx(1.8959, abs=1e-4)
    assert number_after("gradient-descent steps (lr 0.1): SSR =", out) < 1e-6
    assert "fits all three points: yes" in out and "plot saved to dosage.png" in out
    assert_png(tmp_path / "dosage.png")


def test_dosage_without_matplotlib_skips_the_plot(tmp_path):
    out = run_example("dosage.py", tmp_path, env=without_matplotlib(tmp_path))
    assert "fits all three points: yes" in out and "plot skipped" in out


def test_digits_held_out_accuracy(tmp_path):
    pytest.importorskip("sklearn")
    out = run_example("digits.py", tmp_path)
    assert number_after("held-out accuracy:", out) >= 0.95
    assert "confusion matrix" in out


def test_vs_sklearn_reports_both_speeds_and_their_ratio(tmp_path):
    pytest.importorskip("sklearn")
    out = run_example("vs_sklearn.py", tmp_path)
    assert number_after("nbprop JIT compile or cache load:", out) >= 0
    rows = re.findall(r"^\s*(\d+)\s+([\d,]+) /s\s+([\d,]+) /s\s+([\d.]+)x", out, flags=re.MULTILINE)
    assert [int(row[0]) for row in rows] == [1, 32, 200], out
    for _, sk, nb, ratio in rows:
        sk, nb = float(sk.replace(",", "")), float(nb.replace(",", ""))
        # The ratio is printed to 2 decimals and the speeds to whole samples/s, so
        # they agree to half a unit in each: 0.005 plus what rounding sk and nb moves nb / sk.
        tolerance = 0.005 + (nb / sk) * (0.5 / sk + 0.5 / nb) + 1e-9
        assert sk > 0 and nb > 0 and float(ratio) == pytest.approx(nb / sk, abs=tolerance)
    # Per-sample SGD is where compiled loops beat per-batch NumPy calls: by about 10x, so >1 is safe.
    assert float(rows[0][3]) > 1.0


def test_many_networks_sweeps_bags_and_matches_mlp_fit(tmp_path):
    out = run_example("many_networks.py", tmp_path)
    assert "member 3 == MLP(seed=103).fit on its bootstrap sample: True" in out
    best = number_after("best learning rate:", out)
    assert 1e-4 <= best <= 0.1
    # Averaging 16 bootstrapped networks beats the typical member on held-out data.
    ensemble = number_after("bagged ensemble of 16: validation mse", out)
    assert ensemble < number_after("(median", out)
    rows = re.findall(r"^(\d+) thread\(s\): [\d.]+ s per epoch of 32 networks, ([\d,]+) network-samples/s",
                      out, flags=re.MULTILINE)
    assert rows and rows[0][0] == "1", out


def test_threads_gives_the_serial_results_from_a_thread_pool(tmp_path):
    out = run_example("threads.py", tmp_path, "--threads", "2", "--samples", "4000", "--epochs", "2")
    assert out.count("threaded == serial: True") == 4
    assert number_after("serial:", out) > 0 and number_after("2 threads:", out) > 0


def test_sweep_dask_on_a_local_cluster_equals_the_serial_search(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("dask.distributed")
    out = run_example("sweep_dask.py", tmp_path, "--workers", "2", "--measure", "--warm-up", "--serial",
                      timeout=300)
    assert "with 2 workers" in out
    timings = re.findall(r"^\s+tcp://127\.0\.0\.1:\d+\s+(\d)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$",
                         out, flags=re.MULTILINE)
    assert sorted(int(task) for task, *_ in timings) == [1, 1, 2, 2, 3, 3], out
    assert "grid search: 36 fits on the cluster" in out
    assert "same best parameters: True; largest score difference: 0.0e+00" in out
