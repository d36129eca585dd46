"""A job's parameters are checked once, into a frozen JobParams that round-trips through the stored JSON."""
from __future__ import annotations

import dataclasses

import pytest

from core import jobs
from core.config import TrainConfig
from core.job_params import JobParams
from core.selftrain import SelfTraining
from core.store import Store

FULL = {"model": "m", "epochs": 2, "lr": 1e-4, "labels": ["O", "B-PER", "I-PER"], "dropout": None,
        "warm_start": True, "promote": "never", "self_training": True, "pseudo_threshold": 0.8, "pseudo_weight": 0.5,
        "max_pseudo": 10, "pseudo_balance": True, "score_pool": False, "command": "nerloop train --project p"}


@pytest.mark.parametrize("params, key", [
    ({"epoch": 3}, "unknown job parameter 'epoch'"),
    ({"epochs": "3"}, "epochs must be a whole number, not '3'"),
    ({"epochs": 2.5}, "epochs must be a whole number"),
    ({"epochs": 0}, "epochs must be positive"),
    ({"lr": True}, "lr must be a number, not True"),
    ({"warmup": 1.5}, "warmup must be at most 1"),
    ({"labels": "O,B-PER"}, "labels must be a list of tags"),
    ({"shape": "yes"}, "shape must be true or false"),
    ({"device": "tpu"}, "device must be one of"),
    ({"warm_start": 1}, "warm_start must be true or false, not 1"),
    ({"score_pool": "no"}, "score_pool must be true or false"),
    ({"promote": "sometimes"}, "promote must be one of better, always, never, not 'sometimes'"),
    ({"command": ["nerloop"]}, "command must be text"),
    ({"self_training": True, "pseudo_weight": -1}, "pseudo_weight must be a positive number"),
    ({"self_training": True, "max_pseudo": 1.5}, "max_pseudo must be a whole number"),
])
def test_bad_parameters_are_refused_naming_the_key(params, key):
    with pytest.raises(ValueError, match=key.replace("(", r"\(")):
        JobParams.parse(params)


def test_parse_of_to_dict_is_the_same_params():
    for params in ({}, {"epochs": 2}, FULL, {"warm_start": True, "promote": "better"}):
        parsed = JobParams.parse(params)
        assert JobParams.parse(parsed.to_dict()) == parsed
    assert JobParams.parse(FULL).to_dict() == FULL  # every key stored as given
    assert JobParams.parse({"epochs": 2}).to_dict() == {"epochs": 2, "warm_start": False, "promote": "better"}


def test_the_parsed_params_carry_what_a_job_needs():
    p = JobParams.parse(FULL)
    assert (p.warm_start, p.promote, p.score_pool, p.command) == (True, "never", False, "nerloop train --project p")
    assert p.self_training == SelfTraining(threshold=0.8, weight=0.5, max_pseudo=10, balance=True)
    assert p.config == TrainConfig(model="m", epochs=2, lr=1e-4, labels=["O", "B-PER", "I-PER"])
    assert JobParams.parse({"pseudo_weight": 0.5}).self_training is None  # options without self-training: off
    warm = p.train_config(serving_folder="/models/v1", project_labels=["LOC"])
    assert (warm.model, warm.labels) == ("/models/v1", ["O", "B-PER", "I-PER"])  # the labels given win
    cold = JobParams.parse({"model": "m"}).train_config(serving_folder="/models/v1", project_labels=["LOC"])
    assert (cold.model, cold.labels) == ("m", ["O", "B-LOC", "I-LOC"])  # no warm start: its own model
    first = JobParams.parse({"warm_start": True}).train_config(serving_folder=None, project_labels=[])
    assert first.model == TrainConfig().model  # nothing serving yet: the default encoder


def test_the_params_are_frozen_and_nothing_changes_them():
    p = JobParams.parse(FULL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.promote = "always"
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.self_training.threshold = 0.1
    assert isinstance(p.hyperparameters, tuple) and dict(p.hyperparameters)["labels"] == ("O", "B-PER", "I-PER")
    cfg = p.config
    cfg.labels.append("B-LOC")
    cfg.epochs = 9
    p.train_config(serving_folder="/x", project_labels=["LOC"])
    assert p == JobParams.parse(FULL) and p.config.epochs == 2 and p.config.labels == ["O", "B-PER", "I-PER"]


def test_a_job_stores_its_checked_params_and_older_rows_still_parse(tmp_path):
    store = Store(tmp_path / "p.db")
    pid = store.create_project("p", ["PER"])
    with pytest.raises(ValueError, match="unknown job parameter 'epoch'"):
        jobs.create(store, pid, {"epoch": 2})
    assert store.jobs(pid) == []  # refused before anything is recorded
    job_id = jobs.create(store, pid, {"epochs": 2, "promote": "never"})
    assert store.job(job_id).params == {"epochs": 2, "warm_start": False, "promote": "never"}
    old = store.create_job(pid, "train", {"model": "default", "promote": "better"})  # as an earlier version stored
    assert JobParams.parse(store.job(old).params) == JobParams(hyperparameters=(("model", "default"),))
