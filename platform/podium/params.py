"""Query parameters, read one way by every view of the web tier, API and pages alike.

A number in a query string is ASCII digits within bounds, or the request is refused with a
400 that names the parameter. `str.isdigit()` is no test for that: it is true for '²',
which `int()` refuses, and `int()` itself takes '٣' and '１'. An unbounded number reaches
the database as an offset or an id past its column's range. Both used to end in a 500.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models

from podium.errors import ApplicationError

# The largest id or page a query parameter may name: PostgreSQL's `integer` (versions, and
# a page times the largest page size stays far within the `bigint` of an offset).
MAX_QUERY_INT = 2**31 - 1
# How much of a refused value the message echoes back.
_SHOWN_CHARS = 40


class InvalidParameter(ApplicationError):
    """A query parameter the view cannot read: 400, its name in `parameter`."""

    def __init__(self, name: str, requirement: str, raw: str):
        shown = raw if len(raw) <= _SHOWN_CHARS else raw[:_SHOWN_CHARS] + "…"
        super().__init__(
            f"The query parameter {name!r} must be {requirement}; got {shown!r}.",
            code="invalid_parameter",
            extra={"parameter": name},
        )
        self.parameter = name


def query_int(
    params: Mapping[str, str],
    name: str,
    *,
    default: int | None = None,
    minimum: int = 1,
    maximum: int = MAX_QUERY_INT,
) -> int | None:
    """The parameter `name` of a QueryDict as an int in [minimum, maximum] (minimum >= 0: a sign
    is refused); `default` when it is absent or empty. Raises InvalidParameter for anything else."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    # The length check keeps int() off a megabyte of digits.
    if raw.isascii() and raw.isdigit() and len(raw) <= len(str(maximum)):
        value = int(raw)
        if minimum <= value <= maximum:
            return value
    raise InvalidParameter(name, f"a whole number from {minimum:,} to {maximum:,}", raw)


def query_choice(params: Mapping[str, str], name: str, *, choices: Iterable[str], default: str) -> str:
    """The parameter `name` when it is one of `choices`; `default` when absent. Raises
    InvalidParameter for anything else."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    allowed = tuple(choices)
    if raw in allowed:
        return raw
    raise InvalidParameter(name, "one of " + ", ".join(repr(c) for c in allowed), raw)


class AdminQueryInitial:
    """A ModelAdmin mixin. Django's admin fills an add form from `?field=value` as text, and a
    date or time widget then fails on the text (a 500 for `?ends_at=x`). Such a value is parsed
    by the field's own form field, and left out when it does not parse."""

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        for name, value in list(initial.items()):
            try:
                field = self.model._meta.get_field(name)
            except FieldDoesNotExist:
                continue
            # DateTimeField is a DateField.
            if isinstance(field, models.DateField | models.TimeField) and isinstance(value, str):
                try:
                    initial[name] = field.formfield().to_python(value)
                except ValidationError:
                    del initial[name]
        return initial
