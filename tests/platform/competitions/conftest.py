from __future__ import annotations

import pytest
from competition_helpers import make_competition


@pytest.fixture
def iris_cup(db):
    return make_competition()
