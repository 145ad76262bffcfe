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
        assert sk > 0 and nb > 0 and float(ratio) == pytest.approx(nb / sk, abs=0.006)  # 2 decimals
    # Per-sample SGD is where compiled loops beat per-batch NumPy calls: by about 10x, so >1 is safe.
    assert float(rows[0][3]) > 1.0
