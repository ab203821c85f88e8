"""Environment readers that fail loudly, and the one time-limit check of both Celery apps."""

import pytest

from common.broker import BrokerConfigError, check_time_limit, make_folders, transport_options
from common.env import EnvError, env_bool, env_float, env_int


def test_readers_name_the_variable_on_bad_values(monkeypatch):
    monkeypatch.setenv("PODIUM_X", "ten")
    with pytest.raises(EnvError, match="PODIUM_X='ten' is not an integer"):
        env_int("PODIUM_X", 1)
    with pytest.raises(EnvError, match="PODIUM_X='ten' is not a number"):
        env_float("PODIUM_X", 1.0)
    with pytest.raises(EnvError, match="PODIUM_X='ten' is not a boolean"):
        env_bool("PODIUM_X")
    monkeypatch.setenv("PODIUM_X", "nan")
    with pytest.raises(EnvError, match="not a finite number"):
        env_float("PODIUM_X", 1.0)
    monkeypatch.setenv("PODIUM_X", "3")
    with pytest.raises(EnvError, match="PODIUM_X=3 must be >= 5"):
        env_int("PODIUM_X", 10, minimum=5)
    assert env_float("PODIUM_X", 1.0, maximum=3) == 3.0


def test_empty_numbers_are_unset_and_empty_booleans_false(monkeypatch):
    monkeypatch.setenv("PODIUM_X", "")
    assert env_int("PODIUM_X", 7) == 7
    assert env_float("PODIUM_X", 0.5) == 0.5
    assert env_bool("PODIUM_X", True) is False
    monkeypatch.delenv("PODIUM_X")
    assert env_bool("PODIUM_X", True) is True


def test_filesystem_broker_folders_live_under_the_var_dir(tmp_path):
    options = transport_options("filesystem://", tmp_path)
    assert options["data_folder_in"] == options["data_folder_out"] == str(tmp_path / "broker" / "queue")
    make_folders(options)
    assert (tmp_path / "broker" / "queue").is_dir() and (tmp_path / "broker" / "control").is_dir()
    check_time_limit("filesystem://", options, None)  # never redelivers by timeout


def test_time_limit_must_stay_below_the_visibility_timeout(monkeypatch, tmp_path):
    monkeypatch.setenv("PODIUM_VISIBILITY_TIMEOUT", "600")
    options = transport_options("redis://127.0.0.1:6379/0", tmp_path)
    assert options == {"visibility_timeout": 600}
    check_time_limit("redis://127.0.0.1:6379/0", options, 599)
    with pytest.raises(BrokerConfigError, match=r"PODIUM_TASK_TIME_LIMIT=600\) must be below"):
        check_time_limit("redis://127.0.0.1:6379/0", options, 600)
    with pytest.raises(BrokerConfigError, match="no hard task time limit"):
        check_time_limit("redis://127.0.0.1:6379/0", options, None)
