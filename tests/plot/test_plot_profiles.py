"""tdlm.plot.profiles.q_profiles_train_test: the test-input profiles of the sign network, and of the tanh
network where the run recorded them (q_test_tanh, since it exists)."""

from __future__ import annotations

import math

import matplotlib
import numpy as np

from tdlm.plot.profiles import q_profiles_train_test
from tdlm.sweep.classify import classify

from helpers.synthetic import synthetic_grid_overlaps

matplotlib.use("Agg")

POINTS = [(200, 10, 6), (400, 10, 6)]


def test_test_profiles_draw_the_tanh_network_only_where_recorded():
    overlaps = synthetic_grid_overlaps(POINTS)
    before = q_profiles_train_test(classify(overlaps, threshold=math.exp(-1)), L=6, T=float(overlaps.T[0]))
    assert not [k for k in before.arrays if k.startswith("test_tanh[")]
    overlaps["q_test_tanh"] = overlaps.q_test * 0.5
    phase = classify(overlaps, threshold=math.exp(-1))
    drawn = q_profiles_train_test(phase, L=6, T=float(overlaps.T[0]))
    tanh = sorted(k for k in drawn.arrays if k.startswith("test_tanh[") and k.endswith(".q_test_tanh_star"))
    sign = sorted(k for k in drawn.arrays if k.startswith("test[") and k.endswith(".q_test_star"))
    assert len(tanh) == len(sign) == 2
    for t, s in zip(tanh, sign):  # q_test_tanh = q_test / 2 at every sample, so its mean is half the sign one's
        np.testing.assert_allclose(drawn.arrays[t], 0.5 * drawn.arrays[s], rtol=1e-6)
    # the legend names each alpha and each input set, the tanh network's only where it is drawn
    legend = [t.get_text() for t in drawn.figure.axes[0].get_legend().get_texts()]
    assert legend[2:] == ["training inputs", "test inputs, sign network", "test inputs, tanh network"]
    assert [t.get_text() for t in before.figure.axes[0].get_legend().get_texts()][2:] == legend[2:4]
    assert all("ln a=" in t for t in legend[:2])
