import numpy as np
import pytest

from pernode_cli.training.metrics import accuracy, brier_score, expected_calibration_error, log_loss


def test_ece_hand_worked_softmax():
    # Confidences 0.9 (correct), 0.9 (wrong), 0.6 (correct), 0.55 (correct).
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.45, 0.55]])
    y = np.array([[1, 0], [0, 1], [0, 1], [0, 1]])
    # 15 bins of width 1/15: 0.9 -> bin 13 (0.8667, 0.9333]; 0.6 -> bin 8 (0.5333, 0.6];
    # 0.55 -> bin 8. Bin 13: acc 0.5, conf 0.9; bin 8: acc 1, conf 0.575.
    expected = 0.5 * abs(0.5 - 0.9) + 0.5 * abs(1.0 - 0.575)
    assert expected_calibration_error(probs, y) == pytest.approx(expected)


def test_ece_multilabel_over_all_label_probabilities():
    probs = np.array([[0.2, 0.8], [0.2, 0.8]])
    y = np.array([[0, 1], [1, 1]])
    # 0.2 (bin 2): outcomes 0, 1 -> acc 0.5; 0.8 (bin 11): outcomes 1, 1 -> acc 1.
    expected = 0.5 * abs(0.5 - 0.2) + 0.5 * abs(1.0 - 0.8)
    assert expected_calibration_error(probs, y, multilabel=True) == pytest.approx(expected)


def test_brier_and_log_loss_hand_worked():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    y = np.array([[1, 0, 0], [0, 1, 0]])
    assert brier_score(probs, y) == pytest.approx(((0.09 + 0.04 + 0.01) + (0.01 + 0.81 + 0.64)) / 2)
    assert log_loss(probs, y) == pytest.approx(-(np.log(0.7) + np.log(0.1)) / 2)
    assert accuracy(probs, y) == 0.5
    ml = np.array([[0.9, 0.3]])
    assert brier_score(ml, np.array([[1, 0]]), multilabel=True) == pytest.approx((0.01 + 0.09) / 2)
    assert log_loss(ml, np.array([[1, 0]]), multilabel=True) == pytest.approx(-(np.log(0.9) + np.log(0.7)) / 2)


def test_calibrated_predictor_has_ece_near_zero_and_overconfident_a_known_value():
    rng = np.random.default_rng(0)
    n = 200_000
    conf = rng.uniform(0.5, 1.0, n)
    correct = rng.random(n) < conf  # right exactly as often as it claims
    # Binary task: class 0 has probability conf; the label is 0 when correct.
    probs = np.column_stack([conf, 1 - conf])
    y = np.column_stack([correct, ~correct]).astype(float)
    # Sampling error per bin is about sqrt(c(1-c)/n_b), n_b ~ 26,000: ECE below 0.01.
    assert expected_calibration_error(probs, y) < 0.01
    # Always 0.95 sure but right 70% of the time: ECE = |0.7 - 0.95| = 0.25, within sampling error.
    correct = rng.random(n) < 0.7
    probs = np.tile([0.95, 0.05], (n, 1))
    y = np.column_stack([correct, ~correct]).astype(float)
    assert expected_calibration_error(probs, y) == pytest.approx(0.25, abs=5 * np.sqrt(0.21 / n))
