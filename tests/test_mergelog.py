from moonshine_core.mergelog import replay


def test_replay_answers_what_is_in_force_and_what_is_merged():
    log = replay([
        {"action": "bootstrap", "run_id": None},
        {"action": "merge", "run_id": "a"},
        {"action": "merge", "run_id": "b"},
        {"action": "remerge", "run_id": "b"},
        {"action": "rollback", "run_id": "b"},
        {"action": "merge", "run_id": "c"},
        {"action": "rollback", "run_id": "c"},
        {"action": "merge", "run_id": "c"},
    ])
    assert [e["action"] for e in log.in_force] == ["bootstrap", "merge", "merge"]
    assert [e["run_id"] for e in log.in_force] == [None, "a", "c"]
    assert log.merged == {"a": True, "b": False, "c": True}


def test_replay_of_an_empty_log():
    log = replay([])
    assert log.in_force == [] and log.merged == {}
