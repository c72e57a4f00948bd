"""The headline comparison (comm.kpi.compare) and the sweep's headline/shapes (experiments.headline), by hand."""

import math
import re

import pytest

from semready.comm.kpi import compare
from semready.experiments.headline import PAPER, by_level, headline, level_names, shapes

# --- compare -----------------------------------------------------------------------------------------------------


def kpis(van_bits=300.0, dis_bits=100.0, van_iota=8.0, dis_iota=10.0, van_total=500.0, dis_total=400.0, **extra):
    return {"vanilla": {"mean_representation_bits": van_bits, "semantic_impact": van_iota,
                        "total_bits_per_item": van_total, **extra.get("van", {})},
            "disentangled": {"mean_representation_bits": dis_bits, "semantic_impact": dis_iota,
                             "total_bits_per_item": dis_total, **extra.get("dis", {})}}


def test_compare_by_hand():
    payload = "total_bits_per_item_excluding_dictionary"
    out = compare(kpis(van={"mean_representation_bits_learnable": 250.0, payload: 320.0},
                       dis={"mean_representation_bits_learnable": 200.0, payload: 240.0}))
    # same items first: 100·(1 − 200/250) = 20 (the reversed ratio would give −25)
    assert out["same_items_reduction_pct"] == pytest.approx(20.0, rel=1e-12)
    # payload over every item: 100·(1 − 240/320) = 25
    assert out["all_items_reduction_pct"] == pytest.approx(25.0, rel=1e-12)
    # 100·(1 − 100/300) = 66.67 (the reversed ratio, 1 − 300/100, would give −200)
    assert out["representation_length_reduction_pct"] == pytest.approx(200 / 3, rel=1e-12)
    # 100·(10/8 − 1) = 25 (the reversed ratio would give −20)
    assert out["semantic_impact_gain_pct"] == pytest.approx(25.0, rel=1e-12)
    # 100·(1 − 400/500) = 20 (reversed: −25)
    assert out["total_bits_reduction_pct"] == pytest.approx(20.0, rel=1e-12)
    assert list(out)[:2] == ["same_items_reduction_pct", "all_items_reduction_pct"]  # the headline leads
    assert set(out) == {"same_items_reduction_pct", "all_items_reduction_pct", "representation_length_reduction_pct",
                        "semantic_impact_gain_pct", "total_bits_reduction_pct"}


def test_compare_against_classical_and_break_even():
    k = kpis(dis={"total_bits_per_item_excluding_dictionary": 300.0, "dictionary_bits": 50_000.0},
             van={"total_bits_per_item_excluding_dictionary": 400.0, "dictionary_bits": 80_000.0})
    k["classical"] = {"total_bits_per_item": 800.0, "mean_classical_header_stripped_bits": 550.0}
    out = compare(k)
    # 100·(1 − 400/800) = 50; break-even: 50,000 / (800 − 300) = 100 items
    assert out["disentangled_vs_classical_total_pct"] == pytest.approx(50.0)
    assert out["break_even_items"] == pytest.approx(100.0)
    # vanilla: 100·(1 − 500/800) = 37.5; 80,000 / (800 − 400) = 200 items
    assert out["vanilla_vs_classical_total_pct"] == pytest.approx(37.5)
    assert out["vanilla_break_even_items"] == pytest.approx(200.0)
    # against the classical items without their container headers: 50,000 / (550 − 300) = 200 items
    assert out["break_even_items_header_stripped"] == pytest.approx(200.0)
    k["classical"] = {"total_bits_per_item": 250.0}  # payload alone above the baseline: never breaks even
    out = compare(k)
    assert out["break_even_items"] is None and out["disentangled_vs_classical_total_pct"] == pytest.approx(-60.0)


def test_compare_when_disentangled_is_worse():
    out = compare(kpis(van_bits=100.0, dis_bits=150.0, van_iota=20.0, dis_iota=5.0, van_total=100.0, dis_total=130.0))
    assert out["representation_length_reduction_pct"] == pytest.approx(-50.0)
    assert out["semantic_impact_gain_pct"] == pytest.approx(-75.0)
    assert out["total_bits_reduction_pct"] == pytest.approx(-30.0)


def test_compare_edges():
    assert compare({}) == {}
    assert compare({"vanilla": kpis()["vanilla"]}) == {}  # a missing scheme: no keys at all
    assert compare({"disentangled": kpis()["disentangled"], "classical": {"semantic_impact": 85.0}}) == {}
    # vanilla ι = 0: no gain (no division by zero), the others still reported
    out = compare(kpis(van_iota=0.0))
    assert "semantic_impact_gain_pct" not in out
    assert out["representation_length_reduction_pct"] == pytest.approx(200 / 3)
    assert out["total_bits_reduction_pct"] == pytest.approx(20.0)
    # a quantity missing on either side (None, or a vanilla 0) is left out; the others stay
    for missing in (kpis(van_bits=None), kpis(van_bits=0.0), kpis(dis_bits=None)):
        out = compare(missing)
        assert "representation_length_reduction_pct" not in out
        assert out["total_bits_reduction_pct"] == pytest.approx(20.0)
    assert "same_items_reduction_pct" not in compare(kpis())  # no learnable-item means: no same-items claim
    # disentangled sending 0 bits is a value, not a missing one: a 100 % reduction
    assert compare(kpis(dis_bits=0.0))["representation_length_reduction_pct"] == pytest.approx(100.0)


def test_compare_reports_both_gammas_where_present():
    out = compare(kpis(van={"gamma_nats_per_learnable_item": 12.5}, dis={"gamma_nats_per_learnable_item": 7.25}))
    assert out["vanilla_gamma_nats_per_learnable_item"] == 12.5
    assert out["disentangled_gamma_nats_per_learnable_item"] == 7.25
    only = compare(kpis(van={"gamma_nats_per_learnable_item": 12.5}, dis={"gamma_nats_per_learnable_item": None}))
    assert "vanilla_gamma_nats_per_learnable_item" in only
    assert "disentangled_gamma_nats_per_learnable_item" not in only


# --- headline, shapes: a hand-built results table -----------------------------------------------------------------

# (level, H_c, seed) -> scheme -> (mean |Z| bits, ι, total bits/item); levels L2 and L10 (L10 is the higher one)
TABLE = {
    ("L2", 2.0, 0): {"vanilla": (200, 10, 400), "disentangled": (100, 15, 300), "classical": (None, 1000, 900)},
    ("L2", 2.0, 1): {"vanilla": (200, 10, 400), "disentangled": (150, 12, 380), "classical": (None, 1000, 900)},
    ("L10", 4.0, 0): {"vanilla": (400, 5, 800), "disentangled": (120, 10, 400), "classical": (None, 1000, 900)},
    ("L10", 4.0, 1): {"vanilla": (400, 5, 800), "disentangled": (210, 9, 600), "classical": (None, 1000, 900)},
}


def results_rows(table=TABLE):
    """Rows as csv.DictReader gives them from results.csv: text cells, None as ''."""
    rows = []
    for (level, hc, seed), schemes in table.items():
        for scheme, (bits, iota, total) in schemes.items():
            rows.append({"level": level, "seed": str(seed), "scheme": scheme, "content_complexity_nats": str(hc),
                         "mean_representation_bits": "" if bits is None else str(float(bits)),
                         "semantic_impact": "" if iota is None else str(float(iota)),
                         "total_bits_per_item": str(float(total))})
    return rows


def pstd(values):
    m = sum(values) / len(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / len(values))


# per (level, seed), by hand: reductions 50, 25 (L2); 70, 47.5 (L10); gains 50, 20; 100, 80; totals 25, 5; 50, 25
EXPECTED = {"representation_length_reduction_pct": ([50.0, 25.0, 70.0, 47.5], 58.75),
            "semantic_impact_gain_pct": ([50.0, 20.0, 100.0, 80.0], 90.0),
            "total_bits_reduction_pct": ([25.0, 5.0, 50.0, 25.0], 37.5)}


def test_headline_by_hand():
    head = headline(results_rows())
    assert set(head) == set(EXPECTED)
    for name, (per_pair, top) in EXPECTED.items():
        h = head[name]
        assert h["mean"] == pytest.approx(sum(per_pair) / 4, rel=1e-12), name
        assert h["std"] == pytest.approx(pstd(per_pair), rel=1e-12), name
        # the highest level is L10 (numerically), not L2 (as text)
        assert h["highest_level"] == pytest.approx(top, rel=1e-12), name
        assert h["paper"] == PAPER.get(name)
    assert head["representation_length_reduction_pct"]["mean"] == pytest.approx(48.125)
    assert head["total_bits_reduction_pct"]["paper"] is None


def test_headline_skips_unpaired_missing_and_zero_vanilla_rows():
    table = dict(TABLE)
    table[("L2", 2.0, 2)] = {"vanilla": (200, 10, 400)}  # no disentangled row: unpaired
    table[("L10", 4.0, 3)] = {"vanilla": (0, 0, 0), "disentangled": (50, 3, 70)}  # vanilla 0: no ratio
    table[("L10", 4.0, 4)] = {"vanilla": (400, 5, 800), "disentangled": (None, None, 800)}  # empty cells
    head = headline(results_rows(table))
    for name, (per_pair, _) in EXPECTED.items():
        extra = [0.0] if name == "total_bits_reduction_pct" else []  # only the last one has both totals
        values = per_pair + extra
        assert head[name]["mean"] == pytest.approx(sum(values) / len(values), rel=1e-12), name
        top_values = per_pair[2:] + extra
        assert head[name]["highest_level"] == pytest.approx(sum(top_values) / len(top_values), rel=1e-12), name


def test_headline_empty_rows():
    head = headline([])
    for name in EXPECTED:
        assert head[name] == {"mean": None, "std": None, "highest_level": None, "paper": PAPER.get(name)}
    only_classical = [r for r in results_rows() if r["scheme"] == "classical"]
    assert headline(only_classical)["semantic_impact_gain_pct"]["mean"] is None


def test_level_names_and_by_level_by_hand():
    rows = results_rows()
    assert level_names(rows) == ["L2", "L10"]
    x, mean, std = by_level(rows, "disentangled", "mean_representation_bits")
    assert x.tolist() == [2.0, 4.0] and mean.tolist() == [125.0, 165.0] and std.tolist() == [25.0, 45.0]
    x, mean, _ = by_level(rows, "classical", "mean_representation_bits")  # all empty cells: no points
    assert len(x) == 0 and len(mean) == 0


def _line(lines, prefix):
    found = [line for line in lines if line.startswith(prefix)]
    assert len(found) == 1, (prefix, lines)
    return found[0]


def _numbers(line):
    return [float(v) for v in re.findall(r"[-+]?\d+(?:\.\d+)?", line.split(":", 1)[1])]


def test_shapes_by_hand():
    lines = shapes(results_rows())
    assert len(lines) == 7
    # vanilla |Z|: 200 -> 400 over H_c 2 -> 4: slope +100; disentangled 125 -> 165: +20
    line = _line(lines, "Fig. 2 — vanilla |Z_i| grows")
    assert ": holds" in line and _numbers(line) == pytest.approx([100.0], abs=0.5)
    line = _line(lines, "Fig. 2 — disentangled |Z_i| stays contained")
    assert ": holds" in line and _numbers(line) == pytest.approx([20.0, 100.0], abs=0.5)
    # ι: vanilla 10 -> 5: slope −2.5 (falls); disentangled 13.5 -> 9.5: −2.0 (better than vanilla, but not growing)
    line = _line(lines, "Fig. 3 — vanilla semantic impact falls")
    assert ": holds" in line and _numbers(line) == pytest.approx([-2.5], abs=0.05)
    line = _line(lines, "Fig. 3 — disentangled semantic impact holds up better")
    assert ": holds" in line and _numbers(line) == pytest.approx([-2.0, -2.5], abs=0.05)
    line = _line(lines, "Fig. 3 — disentangled semantic impact grows")
    assert "does NOT hold" in line and _numbers(line)[-1] == pytest.approx(-2.0, abs=0.05)
    # lowest level L2: vanilla 200 vs disentangled 125 bits: vanilla is not the shorter one
    line = _line(lines, "Fig. 2 — at the lowest complexity")
    assert "does NOT hold" in line and "(200 vs 125 bits)" in line
    line = _line(lines, "Disentangled |Z_i| shorter than vanilla on average")
    assert ": yes" in line
    mean, std = 48.125, pstd(EXPECTED["representation_length_reduction_pct"][0])
    assert f"({mean:.1f} % ± {std:.1f};" in line


def test_shapes_verdicts_flip_with_the_data():
    # vanilla shorter at the lowest level, disentangled |Z| growing faster, vanilla ι rising
    table = {("L1", 1.0, 0): {"vanilla": (100, 4, 300), "disentangled": (150, 20, 300)},
             ("L3", 3.0, 0): {"vanilla": (200, 8, 300), "disentangled": (400, 10, 300)}}
    lines = shapes(results_rows(table))
    assert "holds (slope +50" in _line(lines, "Fig. 2 — vanilla |Z_i| grows")
    assert "does NOT hold (slope +125 vs +50" in _line(lines, "Fig. 2 — disentangled |Z_i| stays contained")
    assert "does NOT hold (slope +2.0" in _line(lines, "Fig. 3 — vanilla semantic impact falls")
    assert "does NOT hold (slope -5.0 vs +2.0" in _line(lines, "Fig. 3 — disentangled semantic impact holds up")
    assert "holds (100 vs 150 bits)" in _line(lines, "Fig. 2 — at the lowest complexity")
    # reductions 100·(1 − 150/100) = −50 and 100·(1 − 400/200) = −100: −75 ± 25
    assert ": NO (-75.0 % ± 25.0;" in _line(lines, "Disentangled |Z_i| shorter")


def test_shapes_with_one_level_or_one_scheme():
    one_level = [r for r in results_rows() if r["level"] == "L2"]
    lines = shapes(one_level)  # no slopes from one point: only the lowest-level and the average lines
    assert len(lines) == 2
    assert lines[0].startswith("Fig. 2 — at the lowest complexity") and "(200 vs 125 bits)" in lines[0]
    assert "37.5 % ± 12.5" in lines[1]  # reductions 50 and 25
    # every claim compares the two semantic schemes: with vanilla alone none can be checked
    assert shapes([r for r in results_rows() if r["scheme"] != "disentangled"]) == []
