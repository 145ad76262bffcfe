"""examples/chain_rule.py runs and prints both textbook derivations with their published numbers."""

import os
import subprocess
import sys

EXAMPLE = os.path.join(os.path.dirname(__file__), os.pardir, "examples", "chain_rule.py")


def test_chain_rule_example_reproduces_the_derivations():
    run = subprocess.run([sys.executable, EXAMPLE], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    # Mazur 2-2-2: the two-path derivation, filled in, and the published values
    assert "dL/dw1 = dh1/dw1 * (do1/dh1 * dL/do1 + do2/dh1 * dL/do2)" in out
    assert "       = 0.012065 * (0.0747262 * 0.741365 + 0.087755 * (-0.217072))" in out
    assert "dE/dw1: nbprop 0.000438567734, published 0.000438568, agree to 9 decimals: True" in out
    assert "dE/dw5: nbprop 0.082167040564, published 0.082167041, agree to 9 decimals: True" in out
    # the wrong equations are shown to disagree
    assert out.count("WRONG: ") == 2
    assert "(forgets the path through o2)\n       = 0.000668396, off by 52%" in out
    assert "(w5 inside dh1/dw1)\n       = 0.000175427, off by 60%" in out
    # StatQuest 1-2-1: the summed derivation, per dose, equal to net.gradient
    assert "dSSR/dw1 = sum_s dSSR/do1 * dz_o1/dh1 * dh1/dz_h1 * dz_h1/dw1" in out
    assert "         = sum_s -2 (y1 - o1) * w3 * sigmoid(z_h1) * i1" in out
    assert "net.gradient(X, Y)[0] = 0.00967970934012" in out
    for name in ("w1", "w2", "b1", "b2", "w3", "w4", "b3"):
        line = next(line for line in out.splitlines() if line.startswith(f"  dSSR/d{name} ="))
        ours, theirs = line.split("=", 1)[1].split("(net.gradient:")
        assert float(ours) == float(theirs.rstrip(")"))
    assert "gradient check: OK" in out
