"""Typed records that leave the store: what its methods return, and a round trip through each record type."""
from __future__ import annotations

import dataclasses

import pytest

from core.store import ModelVersion, Store


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "r.db")
    yield s
    s.close()


def test_model_methods_return_model_versions_that_round_trip(store):
    pid = store.create_project("p", ["PER"])
    metrics = {"dev": {"micro": {"f1": 0.75}}, "train_sentences": 3}
    v1 = store.add_model(pid, folder="a", base_model="bert", params={"lr": 1e-4}, metrics=metrics)
    v2 = store.add_model(pid, folder="b", base_model="bert", parent_id=v1, status="failed")
    store.promote(v1)
    one, models, serving = store.model(v1), store.models(pid), store.serving(pid)
    assert type(one) is ModelVersion and all(type(m) is ModelVersion for m in models) and serving == one
    assert (one.id, one.project_id, one.name, one.folder, one.base_model, one.parent_id, one.status) == (
        v1, pid, "v1", "a", "bert", None, "ready")
    assert one.params == {"lr": 1e-4} and one.metrics == metrics and isinstance(one.created, str)
    assert one.dev_f1 == 0.75 and store.model(v2).dev_f1 is None and store.model(v2).parent_id == v1
    row = dataclasses.asdict(one)
    assert ModelVersion.from_row(row) == one and ModelVersion(**row) == one
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.status = "failed"  # type: ignore[misc]
    store.update_model(v2, metrics={"dev": {"micro": {"f1": "0.5"}}})
    assert store.model(v2).dev_f1 == 0.5  # a number, whatever the JSON held
