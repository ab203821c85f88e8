"""The one problem type and the capped error every validator raises."""

import pytest

from common.problems import MAX_PROBLEMS, Problem, ProblemList, ProblemsError


class UploadRefused(ProblemsError):
    subject = "the upload"


def test_problem_names_where_then_what():
    p = Problem("not a number", file="train.csv", row=3, column="x1")
    assert str(p) == "train.csv, row 3, column 'x1': not a number"
    assert p.as_dict() == {"message": "not a number", "file": "train.csv", "row": 3, "column": "x1"}
    assert str(Problem("must be <= 7", path="model.layers[3].conv2d.kernel")) == (
        "model.layers[3].conv2d.kernel: must be <= 7"
    )
    assert str(Problem("no such id", row=2, id="a1")) == "row 2, id 'a1': no such id"
    assert str(Problem("empty file")) == "empty file"


def test_list_keeps_the_first_problems_and_counts_all():
    problems = ProblemList()
    for row in range(MAX_PROBLEMS + 5):
        problems.add("bad", row=row)
    assert len(problems.items) == MAX_PROBLEMS and problems.total == MAX_PROBLEMS + 5
    with pytest.raises(UploadRefused) as caught:
        problems.raise_if_any(UploadRefused)
    err = caught.value
    assert len(err.problems) == MAX_PROBLEMS and err.total == MAX_PROBLEMS + 5
    text = str(err)
    assert text.startswith(f"{MAX_PROBLEMS + 5} problems in the upload:")
    assert text.endswith("- … and 5 more")


def test_empty_list_raises_nothing():
    problems = ProblemList()
    problems.raise_if_any(UploadRefused)
    assert not problems


def test_error_caps_a_long_list_it_is_given():
    err = UploadRefused([Problem("x", row=i) for i in range(50)])
    assert len(err.problems) == MAX_PROBLEMS and err.total == 50
    assert err.as_dicts()[0] == {"message": "x", "row": 0}
    assert str(UploadRefused([Problem("only one")])) == "1 problem in the upload:\n- only one"
