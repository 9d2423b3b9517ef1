"""Static group membership is on by default, stable per process (issue 15 item 5)."""

from __future__ import annotations

from config.settings import load_settings


def test_a_process_gets_a_stable_instance_id_of_its_own_by_default() -> None:
    a = load_settings({"VIGIL_DATA_DIR": "/srv/vigil/engine-0"}).engine.group_instance_id
    again = load_settings({"VIGIL_DATA_DIR": "/srv/vigil/engine-0"}).engine.group_instance_id
    other = load_settings({"VIGIL_DATA_DIR": "/srv/vigil/engine-1"}).engine.group_instance_id
    assert a.startswith("vigil-") and a == again  # a restart rejoins as the same member
    assert other != a  # two processes (two data directories) never share one


def test_the_instance_id_can_be_set_or_turned_off() -> None:
    assert load_settings({"VIGIL_GROUP_INSTANCE_ID": " pod-3 "}).engine.group_instance_id == "pod-3"
    for off in ("off", "", "none"):
        assert load_settings({"VIGIL_GROUP_INSTANCE_ID": off}).engine.group_instance_id == ""
