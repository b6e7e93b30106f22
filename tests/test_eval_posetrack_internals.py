"""Ignore-region geometry (shapely's strict ``contains``) and the motmetrics code paths."""

from __future__ import annotations

import numpy as np
import pytest

from posetrack.eval.posetrack import (
    NUM_JOINTS, EvalOptions, _FrameResult, _mot_counts, points_in_polygons, voc_ap,
)

SQUARE = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)


@pytest.mark.parametrize("point, inside", [
    ((5, 5), True),
    ((9.999999, 5), True),
    ((10, 5), False),         # on a vertical edge
    ((5, 0), False),          # on a horizontal edge
    ((0, 0), False),          # vertex
    ((0, 10), False),         # vertex
    ((10.000001, 5), False),
    ((-1, 5), False),
    ((5, 10.5), False),
])
def test_square_boundary_is_outside(point, inside):
    assert points_in_polygons(np.array([point]), [SQUARE])[0] == inside


def test_diagonal_edge_and_float_rounding():
    tri = np.array([[0, 0], [10, 0], [10, 10]], float)  # inside: y < x
    pts = np.array([[5, 5], [6, 5], [5, 6], [0.1 + 0.2, 0.3], [0.3, 0.1 + 0.2], [10, 10], [10, 3]])
    # 0.1 + 0.2 = 0.30000000000000004 > 0.3: the exact predicate puts (0.1 + 0.2, 0.3) just inside
    assert points_in_polygons(pts, [tri]).tolist() == [False, True, False, True, False, False, False]


def test_concave_polygon_notch_and_closed_ring():
    u_shape = np.array([[0, 0], [9, 0], [9, 9], [6, 9], [6, 3], [3, 3], [3, 9], [0, 9]], float)
    pts = np.array([[1, 1], [4.5, 6], [4.5, 2], [7, 8], [6, 6], [4.5, 3], [1.5, 9]])
    expected = [True, False, True, True, False, False, False]
    assert points_in_polygons(pts, [u_shape]).tolist() == expected
    closed = np.vstack([u_shape, u_shape[:1]])  # first vertex repeated at the end
    assert points_in_polygons(pts, [closed]).tolist() == expected


def test_several_polygons_and_degenerate_ones():
    other = SQUARE + 20
    pts = np.array([[5, 5], [25, 25], [15, 15]])
    assert points_in_polygons(pts, [SQUARE, other]).tolist() == [True, True, False]
    # shapely cannot build a polygon from fewer than 3 points: it contains nothing here
    assert points_in_polygons(pts, [SQUARE[:2], np.zeros((0, 2))]).tolist() == [False, False, False]


def test_voc_ap_all_points():
    # ranks: TP, FP, TP with 3 GT -> envelope precision 1 up to 1/3, 2/3 up to 2/3
    rec = np.array([1, 1, 2]) / 3
    prec = np.array([1, 1 / 2, 2 / 3])
    assert voc_ap(rec, prec) == pytest.approx(1 / 3 + 1 / 3 * 2 / 3)


def _random_frames(rng: np.random.Generator, n_frames: int) -> list[_FrameResult]:
    """Frames of 4-6 tracked objects and hypotheses whose ids get shuffled now and then."""
    frames = []
    for _ in range(n_frames):
        mot = []
        for _ in range(NUM_JOINTS):
            oids = rng.permutation(6)[: rng.integers(0, 6)]
            hids = rng.permutation(8)[: rng.integers(0, 7)]
            d = rng.uniform(0, 0.8, (len(oids), len(hids)))
            mot.append((oids, hids, np.where(d <= 0.5, d, np.nan)))
        frames.append(_FrameResult(np.zeros((0, NUM_JOINTS)), np.zeros((0, NUM_JOINTS), bool),
                                   np.zeros((0, NUM_JOINTS), bool), np.zeros(NUM_JOINTS), mot))
    return frames


def test_counts_equal_motmetrics_compute_with_numpy2():
    """The accumulator event lists give what poseval's path (metrics.compute + events['D'].sum()) gives."""
    import motmetrics as mm

    frames = _random_frames(np.random.default_rng(3), 40)  # > 128 events: numpy sums pairwise
    ours = _mot_counts(frames, EvalOptions())
    names = ["num_misses", "num_switches", "num_false_positives", "num_objects", "num_detections"]
    mh = mm.metrics.create()
    with mm.lap.set_default_solver("scipy"):
        for j in range(NUM_JOINTS):
            acc = mm.MOTAccumulator(auto_id=True)
            for f in frames[:-1]:  # poseval skips the last frame
                acc.update(*f.mot[j])
            ref = mh.compute(acc, metrics=names, return_dataframe=False, name="acc")
            for name in names:
                assert ours[name][j] == ref[name], (j, name)
            assert ours["sumD"][j] == acc.events["D"].sum()  # bit-identical
    assert ours["num_switches"].sum() > 0 and ours["num_false_positives"].sum() > 0


def test_motp_without_raw_rows_uses_matched_distances_only():
    import motmetrics as mm

    frames = _random_frames(np.random.default_rng(4), 8)
    ours = _mot_counts(frames, EvalOptions().without("motp_raw"))
    with mm.lap.set_default_solver("scipy"):
        acc = mm.MOTAccumulator(auto_id=True)
        for f in frames[:-1]:
            acc.update(*f.mot[0])
    ev = acc.mot_events
    assert ours["sumD"][0] == pytest.approx(ev[ev.Type.isin(["MATCH", "SWITCH"])]["D"].sum(), rel=1e-12)
