"""Parameter counts of every variant within 2 % of thesis Tables 4 and 6."""

import pytest
from mobile_parsing_rcnn.params import THESIS_PARAMS, parameter_table


@pytest.fixture(scope="module")
def table():
    return {row["config"]: row for row in parameter_table()}


@pytest.mark.parametrize("stem", list(THESIS_PARAMS))
def test_parameter_count_within_two_percent_of_thesis(table, stem):
    row = table[stem]
    assert abs(row["ours_m"] - row["thesis_m"]) / row["thesis_m"] < 0.02, row


def test_breakdown_sums_to_total(table):
    for row in table.values():
        assert sum(row["breakdown"].values()) / 1e6 == pytest.approx(row["ours_m"], abs=1e-4)


def test_variant_b_component_counts(table):
    # spnasnet_100 convolutions up to its last block (frozen batch norms are buffers), BiFPN 64, heads of 64
    b = table["thesis"]["breakdown"]
    assert b["backbone"] == 2_691_512
    assert b["rpn"] == 64 * 64 * 9 + 64 + (64 * 3 + 3) + (64 * 12 + 12)
    assert b["box_head"] == 2 * (64 * 64 * 9 + 64) + 64 * 49 * 2 + 2 + 64 * 49 * 4 + 4


def test_params_command_prints_json(capsys, tmp_path):
    from mobile_parsing_rcnn.cli import main

    main(["params", "--models", "thesis", "--json", str(tmp_path / "p.json")])
    out = capsys.readouterr().out
    assert "3.35" in out and (tmp_path / "p.json").is_file()
