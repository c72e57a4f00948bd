"""Pins experiments.headline behaviour that mutation testing showed unguarded.

headline(): pairs whose vanilla value lies in (0, 1] count (only v ≤ 0 is skipped), in the mean and at the highest
level. shapes(): every verdict at its comparison boundary — a slope of exactly 0 (an all-zero series, which
np.polyfit fits with slope 0.0 exactly), slopes of 0.5 (in (0, 1)), equal slopes (identical series), equal
lengths at the lowest level, a mean reduction of exactly 0 and of 0.5 % — and the exact verdict words.
"""

import pytest

from semready.experiments.headline import headline, shapes


def _rows(levels, seeds=(0,)):
    """results.csv rows: one (x, van_bits, dis_bits, van_impact, dis_impact) per level L1, L2, ..."""
    rows = []
    for i, (x, vb, db, vi, di) in enumerate(levels):
        for seed in seeds:
            for scheme, bits, impact in (("vanilla", vb, vi), ("disentangled", db, di)):
                rows.append({"level": f"L{i + 1}", "seed": seed, "scheme": scheme, "content_complexity_nats": x,
                             "mean_representation_bits": bits, "semantic_impact": impact,
                             "total_bits_per_item": 2 * bits + 10})
    return rows


def _line(lines, start):
    hits = [line for line in lines if line.startswith(start)]
    assert len(hits) == 1, (start, lines)
    return hits[0]


VAN_GROWS = "Fig. 2 — vanilla |Z_i| grows with content complexity: "
DIS_CONTAINED = "Fig. 2 — disentangled |Z_i| stays contained (grows more slowly than vanilla): "
VAN_IMPACT_FALLS = "Fig. 3 — vanilla semantic impact falls with content complexity: "
DIS_IMPACT_BETTER = "Fig. 3 — disentangled semantic impact holds up better than vanilla: "
LOWEST = "Fig. 2 — at the lowest complexity vanilla is as short as or shorter than disentangled"
DIS_IMPACT_GROWS = "Fig. 3 — disentangled semantic impact grows with content complexity (the paper's claim): "
SHORTER = "Disentangled |Z_i| shorter than vanilla on average: "


# --- headline ---------------------------------------------------------------------------------------------------

def test_headline_counts_pairs_whose_vanilla_value_is_below_one():
    # impact gain per level: L1 100·(1.0/0.5 − 1) = 100, L2 (top) 100·(1.0/0.8 − 1) = 25
    rows = _rows([(1.0, 200.0, 100.0, 0.5, 1.0), (2.0, 300.0, 120.0, 0.8, 1.0)])
    gain = headline(rows)["semantic_impact_gain_pct"]
    assert gain["mean"] == pytest.approx(62.5)
    assert gain["std"] == pytest.approx(37.5)
    assert gain["highest_level"] == pytest.approx(25.0)


def test_headline_representation_length_with_sub_one_bit_vanilla():
    # 0.8 bits vanilla vs 0.2 disentangled: 75 % shorter, also at the (only, so highest) level
    h = headline(_rows([(1.0, 0.8, 0.2, 1.0, 1.0)]))["representation_length_reduction_pct"]
    assert h["mean"] == pytest.approx(75.0) and h["highest_level"] == pytest.approx(75.0)


def test_headline_skips_pairs_with_zero_vanilla_value():
    h = headline(_rows([(1.0, 200.0, 100.0, 0.0, 1.0)]))["semantic_impact_gain_pct"]
    assert h["mean"] is None and h["highest_level"] is None


# --- shapes: every verdict at its boundary ----------------------------------------------------------------------
# (levels as (x, van_bits, dis_bits, van_impact, dis_impact), the verdict's line, how it must read: "==" the
# whole line, "startswith"/"endswith" the given part)
SHAPES = {
    "vanilla length falling does not hold": (
        [(1.0, 300.0, 100.0, 5.0, 5.0), (2.0, 200.0, 100.0, 5.0, 5.0)], VAN_GROWS, "==",
        VAN_GROWS + "does NOT hold (slope -100 bits/nat)."),
    "vanilla length flat at exactly zero slope does not hold": (
        [(1.0, 0.0, 0.0, 5.0, 5.0), (2.0, 0.0, 0.0, 5.0, 5.0)], VAN_GROWS, "==",
        VAN_GROWS + "does NOT hold (slope +0 bits/nat)."),
    "vanilla length growing by half a bit per nat holds": (
        [(1.0, 100.0, 100.0, 5.0, 5.0), (3.0, 101.0, 100.0, 5.0, 5.0)], VAN_GROWS, "startswith",
        VAN_GROWS + "holds (slope "),
    "disentangled growing as fast as vanilla is not contained": (
        [(1.0, 100.0, 100.0, 5.0, 5.0), (2.0, 300.0, 300.0, 5.0, 5.0)], DIS_CONTAINED, "==",
        DIS_CONTAINED + "does NOT hold (slope +200 vs +200 bits/nat)."),
    "equal lengths at the lowest level hold": (
        [(1.0, 150.0, 150.0, 5.0, 5.0), (2.0, 300.0, 200.0, 5.0, 5.0)], LOWEST, "endswith",
        ": holds (150 vs 150 bits)."),
    "vanilla longer at the lowest level does not hold": (
        [(1.0, 151.0, 150.0, 5.0, 5.0), (2.0, 300.0, 200.0, 5.0, 5.0)], LOWEST, "endswith",
        ": does NOT hold (151 vs 150 bits)."),
    "mean reduction of exactly zero is not shorter": (
        [(1.0, 200.0, 200.0, 5.0, 5.0)], SHORTER, "==", SHORTER + "NO (0.0 % ± 0.0; paper 57.22 %)."),
    "mean reduction of half a percent is shorter": (
        [(1.0, 200.0, 199.0, 5.0, 5.0)], SHORTER, "==", SHORTER + "yes (0.5 % ± 0.0; paper 57.22 %)."),
    # vanilla never passes fidelity: impact 0 at every level, slope exactly 0
    "vanilla impact flat at exactly zero slope does not fall": (
        [(1.0, 100.0, 50.0, 0.0, 2.0), (2.0, 200.0, 60.0, 0.0, 3.0)], VAN_IMPACT_FALLS, "==",
        VAN_IMPACT_FALLS + "does NOT hold (slope +0.0 per nat)."),
    "vanilla impact rising by half per nat does not fall": (
        [(1.0, 100.0, 50.0, 2.0, 2.0), (3.0, 200.0, 60.0, 3.0, 3.0)], VAN_IMPACT_FALLS, "==",
        VAN_IMPACT_FALLS + "does NOT hold (slope +0.5 per nat)."),
    "disentangled impact equal to vanilla does not hold up better": (
        [(1.0, 100.0, 50.0, 4.0, 4.0), (2.0, 200.0, 60.0, 1.0, 1.0)], DIS_IMPACT_BETTER, "==",
        DIS_IMPACT_BETTER + "does NOT hold (slope -3.0 vs -3.0 per nat)."),
    "disentangled impact growing holds": (
        [(1.0, 100.0, 50.0, 4.0, 2.0), (2.0, 200.0, 60.0, 1.0, 5.0)], DIS_IMPACT_GROWS, "==",
        DIS_IMPACT_GROWS + "holds (slope +3.0 per nat)."),
    "disentangled impact growing by half per nat holds": (
        [(1.0, 100.0, 50.0, 4.0, 2.0), (3.0, 200.0, 60.0, 1.0, 3.0)], DIS_IMPACT_GROWS, "==",
        DIS_IMPACT_GROWS + "holds (slope +0.5 per nat)."),
    "disentangled impact flat at exactly zero slope does not grow": (
        [(1.0, 100.0, 50.0, 4.0, 0.0), (2.0, 200.0, 60.0, 1.0, 0.0)], DIS_IMPACT_GROWS, "==",
        DIS_IMPACT_GROWS + "does NOT hold (slope +0.0 per nat)."),
}


@pytest.mark.parametrize("case", list(SHAPES))
def test_shapes_verdict_at_its_boundary(case):
    levels, start, how, expected = SHAPES[case]
    line = _line(shapes(_rows(levels)), start)
    assert line == expected if how == "==" else getattr(line, how)(expected)
