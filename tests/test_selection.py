"""The rule that keeps a change only where both feature spaces agree, and a population's rankings."""

from __future__ import annotations

from jaxgan.selection import keeps, rankings


def test_a_change_is_kept_only_when_both_spaces_improve_and_nothing_is_lost():
    def rows(fid, encoder_fid, precision=0.7, recall=0.5):
        return [
            {"fid": fid + d, "encoder_fid": encoder_fid + d, "precision": precision + d / 100}
            | {"recall": recall + d / 100}
            for d in (-1, 0, 1)
        ]

    baseline = rows(12.0, 3.0)
    assert keeps(rows(10.0, 2.0), baseline) == []
    assert keeps(rows(10.0, 2.0, precision=0.695), baseline) == []  # within the seeds' spread
    (reason,) = keeps(rows(10.0, 3.5), baseline)  # one space likes it, the other does not
    assert reason == "encoder_fid 3.500 is not below 3.000"
    (reason,) = keeps(rows(10.0, 2.0, recall=0.4), baseline)
    assert reason == "recall 0.400 falls below 0.500 - 0.010"
    assert len(keeps(rows(13.0, 3.0), baseline)) == 2


def test_rankings_name_the_pairs_the_two_spaces_order_differently():
    rows = [{"fid": f, "encoder_fid": e} for f, e in [(10, 3), (11, 1), (12, 2), (13, 4)]]
    ranked = rankings(["a", "b", "c", "d"], rows)
    assert ranked["fid"] == ["a", "b", "c", "d"]
    assert ranked["encoder_fid"] == ["b", "c", "a", "d"]
    assert ranked["swapped"] == [["a", "b"], ["a", "c"]] and ranked["pairs"] == 6
    assert rankings(["a", "b"], rows[:1] + rows[3:])["swapped"] == []
