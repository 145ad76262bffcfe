import subprocess
import sys

import numpy as np
import pytest

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
