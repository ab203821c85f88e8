"""Where in the config text a problem is: a problem's path (`model.layers[3].conv2d`)
is mapped to the line of that node, so the editor can mark the line.

YAML's composer keeps the position of every node; JSON is read the same way (a
JSON document is YAML). Nothing is constructed, so no tag of the text can run.
"""

from __future__ import annotations

import re

import yaml

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def path_parts(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for name, index in _PART.findall(path or ""):
        parts.append(int(index) if index else name)
    return parts


def _compose(text: str):
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def syntax_error_line(text: str) -> int | None:
    try:
        yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        return mark.line + 1 if mark else None
    except yaml.YAMLError:
        return None
    return None


def line_of(text: str, path: str, root=None) -> int | None:
    """1-based line of the deepest node along `path` that exists in the text."""
    node = root if root is not None else _compose(text)
    if node is None:
        return syntax_error_line(text)
    line = node.start_mark.line + 1
    for part in path_parts(path):
        child = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    child, line = value, key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        elif isinstance(node, yaml.MappingNode) and isinstance(part, int):
            # A list item written as a one-key mapping: `- conv2d: {...}` is addressed as [i].conv2d
            child = None
        if child is None:
            break
        node = child
    return line


def locate(text: str, problems) -> list[dict]:
    """Problems as dicts with a `line` (or None) added; the text is composed once."""
    root = _compose(text)
    syntax_line = syntax_error_line(text) if root is None else None
    out = []
    for p in problems:
        path = getattr(p, "path", None) if not isinstance(p, dict) else p.get("path")
        message = getattr(p, "message", None) if not isinstance(p, dict) else p.get("message")
        line = getattr(p, "line", None) if not isinstance(p, dict) else p.get("line")
        if line is None:
            line = line_of(text, path or "", root) if root is not None and path else syntax_line
        out.append({"path": path or "", "message": message or str(p), "line": line})
    return out
