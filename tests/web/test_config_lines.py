"""Mapping a config problem's path to its line in the editor's text."""

from __future__ import annotations

from podium.web.config_lines import line_of, locate, path_parts

TEXT = """version: 1
model:
  layers:
    - conv2d: {channels: 32, kernel: 3}
    - activation: relu
    - linear:
        units: auto
train:
  epochs: 900
"""


def test_path_parts():
    assert path_parts("model.layers[3].conv2d") == ["model", "layers", 3, "conv2d"]
    assert path_parts("") == []


def test_lines_of_nested_paths():
    assert line_of(TEXT, "model.layers[1].activation") == 5
    assert line_of(TEXT, "model.layers[2].linear.units") == 7
    assert line_of(TEXT, "train.epochs") == 9


def test_unknown_key_points_at_its_parent():
    assert line_of(TEXT, "train.nonsense") == 8
    assert line_of(TEXT, "model.layers[9]") == 3


def test_json_text_is_located_too():
    text = '{\n  "version": 1,\n  "train": {\n    "epochs": -1\n  }\n}\n'
    assert line_of(text, "train.epochs") == 4


def test_syntax_error_gets_the_line_of_the_parser():
    problems = locate("model:\n  layers: [\n    - a\ntrain: {", [{"path": "", "message": "bad YAML"}])
    assert problems[0]["line"] is not None and problems[0]["line"] >= 3


def test_a_tag_in_the_text_is_not_constructed():
    # compose() builds nodes only: a python tag is never turned into an object.
    text = "model: !!python/object/apply:os.system ['true']\n"
    assert line_of(text, "model") == 1
