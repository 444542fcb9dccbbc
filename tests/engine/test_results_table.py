from groupvit_d2.engine import results_table


def _rows(table):
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]


def test_one_row_a_dataset_and_their_mean():
    table = results_table({
        "a": {"sem_seg": {"mIoU": 10.0, "fwIoU": 20.0, "mACC": 30.0, "pACC": 40.0},
              "boundary_iou": {"bIoU": 5.0}},
        "b": {"sem_seg": {"mIoU": 30.0, "fwIoU": 40.0, "mACC": 50.0, "pACC": 60.0}},
    })
    rows = _rows(table)
    assert rows[0] == ["a", "10.00", "20.00", "30.00", "40.00", "5.00"]
    assert rows[1] == ["b", "30.00", "40.00", "50.00", "60.00", "-"]
    # The mean of a column is over the datasets that report it.
    assert rows[2] == ["mean", "20.00", "30.00", "40.00", "50.00", "5.00"]


def test_semseg_evaluator_boundary_values_are_not_reported():
    table = results_table({"a": {"sem_seg": {"mIoU": 1.0, "BoundaryIoU-x": 99.0}}})
    assert _rows(table) == [["a", "1.00", "-", "-", "-", "-"]]
