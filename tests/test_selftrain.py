"""Tests for self-training: the weighted loss, confident pseudo-labels, accept/reject by dev F1, human labels kept."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from core import jobs, selftrain
from core.job_params import JobParams
from core.formats import Sentence
from core.model import Prediction, Tagger
from core.store import Store
from core.train import TrainConfig, train, weighted_loss
from core.vocab import label_set, seen_types

from small_data import DATASET, TAGS, WORDS

LABELS = label_set(seen_types(TAGS))
ZERO = selftrain.SelfTraining(threshold=0.0)  # every prediction is confident enough
POOL = [s.split() for s in ("Mary visited London .", "John met Smith in Paris .", "the bank told police .",
                            "He went to Paris on Monday .", "Berlin lost the report .")]


def config(model: str, **kw) -> TrainConfig:
    base = dict(model=model, lr=5e-3, head_lr=1e-2, batch_size=8, min_steps=150, warm_min_steps=12, device="cpu",
                seed=7)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def memorised(tiny_model, tmp_path_factory) -> str:
    """A version that tags the small dataset perfectly (dev F1 1.0 when dev is part of train)."""
    out = tmp_path_factory.mktemp("selftrain") / "base"
    for _ in train(config(tiny_model), DATASET, DATASET[:8], out):
        pass
    return str(out)


# -- weighted loss ---------------------------------------------------------------------------------


def batch_of(tagger: Tagger, weights: list[float]) -> dict:
    return tagger.collate(tagger.windows(WORDS[:2], TAGS[:2], weights=weights), labels=True)


def test_weighted_loss_is_the_model_loss_at_weight_one_and_scales_otherwise(tiny_model):
    tagger = Tagger.load(tiny_model, labels=LABELS, device="cpu")
    tagger.model.eval()
    plain = tagger.collate(tagger.windows(WORDS[:2], TAGS[:2]), labels=True)
    ones = batch_of(tagger, [1.0, 1.0])
    assert "weights" not in plain and "weights" not in ones  # the model's own loss path, unchanged
    with torch.no_grad():
        out = tagger.model(**plain)
        logits, labels = out.logits, plain["labels"]
        assert torch.allclose(weighted_loss(logits, labels, torch.ones(2)), out.loss, atol=1e-5)
        half = batch_of(tagger, [0.5, 0.5])
        assert half["weights"].tolist() == [0.5, 0.5]
        assert torch.allclose(weighted_loss(logits, labels, half["weights"]), 0.5 * out.loss, atol=1e-5)
        # weight 0 removes a sentence's tokens from the sum, not from the token count
        first = tagger.collate(tagger.windows(WORDS[:1], TAGS[:1]), labels=True)
        alone = tagger.model(**first).loss
        n1, n2 = len(WORDS[0]), len(WORDS[1])
        mixed = weighted_loss(logits, labels, torch.tensor([1.0, 0.0]))
        assert torch.allclose(mixed, alone * n1 / (n1 + n2), atol=1e-5)
        assert not torch.allclose(mixed, out.loss)


def step_losses(cfg: TrainConfig, data: list) -> list[float]:
    return [e.loss for e in train(cfg, data) if e.kind == "step"]


def test_training_with_weights(tiny_model):
    cfg = config(tiny_model, epochs=1, min_steps=3, shape_dropout=0.0)
    plain = step_losses(cfg, DATASET[:24])
    assert step_losses(cfg, [{**d, "weight": 1.0} for d in DATASET[:24]]) == plain
    halved = step_losses(cfg, [{**d, "weight": 0.5} for d in DATASET[:24]])
    assert halved[0] == pytest.approx(0.5 * plain[0], rel=1e-5)
    with pytest.raises(ValueError, match=r"'John visited Paris \.'.*weight must be a number >= 0, not -1"):
        step_losses(cfg, [{**DATASET[0], "weight": -1}])


# -- pseudo-labels ---------------------------------------------------------------------------------


def fake_tagger(scores: list[list[float]]) -> SimpleNamespace:
    """predict() gives tag O with the given per-word probabilities."""
    def predict(sentences, batch_size=64):
        by_len = {len(s): s for s in scores}
        return [Prediction(["O"] * len(s), by_len[len(s)], np.zeros((len(s), 1))) for s in sentences]
    return SimpleNamespace(predict=predict)


def test_pseudo_labels_keep_only_sentences_whose_every_word_is_confident():
    scores = [[0.99, 0.97], [0.99, 0.2, 0.99], [0.96], [0.951, 0.999, 0.98, 0.99]]
    pool = [["w"] * len(s) for s in scores] + [[]]
    tagger = fake_tagger(scores)
    found = selftrain.pseudo_label(tagger, pool, threshold=0.95)
    assert [p.index for p in found] == [0, 2, 3]  # most confident (lowest word) first; the empty one skipped
    assert [p.confidence for p in found] == [0.97, 0.96, 0.951] and found[0].tags == ["O", "O"]
    assert [p.index for p in selftrain.pseudo_label(tagger, pool, threshold=0.95, limit=1)] == [0]
    assert [p.index for p in selftrain.pseudo_label(tagger, pool, threshold=0.0)] == [0, 2, 3, 1]
    assert selftrain.pseudo_label(tagger, pool, threshold=0.999) == []
    with pytest.raises(ValueError, match="pseudo_threshold must be a number from 0 to 1, not 1.5"):
        selftrain.pseudo_label(tagger, pool, threshold=1.5)


def test_balance_caps_entity_free_pseudo_labels_at_the_labelled_share():
    pseudo = [selftrain.Pseudo(i, tags, 1 - i / 100) for i, tags in enumerate(
        [["O", "O"], ["B-PER", "O"], ["O"], ["O", "O", "O"], ["B-LOC"], ["O", "B-ORG", "I-ORG"], ["O"]])]
    quarter = [["O"], ["B-PER"], ["B-LOC", "O"], ["O", "B-ORG"]]  # 1 of 4 labelled sentences is entity-free
    kept = selftrain.balanced(pseudo, quarter)
    # 3 with entities -> room for 1 entity-free (3 * 1/4 / 3/4), the most confident one
    assert [p.index for p in kept] == [0, 1, 4, 5]
    assert [p.index for p in selftrain.balanced(pseudo, [["B-PER"]])] == [1, 4, 5]
    assert selftrain.balanced(pseudo, [["O"]]) == pseudo == selftrain.balanced(pseudo, [])
    half = [["O"], ["B-PER"]]
    assert [p.index for p in selftrain.balanced(pseudo, half)] == [0, 1, 2, 3, 4, 5]
    # a cap keeps the share: 4 of a half-empty labelled set -> 2 with entities, 2 entity-free
    assert [p.index for p in selftrain.balanced(pseudo, half, 4)] == [0, 1, 2, 4]
    assert [p.index for p in selftrain.balanced(pseudo, quarter, 2)] == [1, 4]  # 1/4 of 2 rounds down to none
    assert [p.index for p in selftrain.balanced(pseudo, [], 3)] == [0, 1, 2]


def test_pseudo_labels_of_a_real_model_respect_the_threshold(memorised):
    tagger = Tagger.load(memorised, device="cpu")
    preds = tagger.predict(POOL)
    for threshold in (0.5, 0.9, 0.99):
        kept = {p.index for p in selftrain.pseudo_label(tagger, POOL, threshold=threshold)}
        assert kept == {i for i, p in enumerate(preds) if min(p.scores) >= threshold}


def test_job_options_are_checked():
    def options(params: dict) -> selftrain.SelfTraining:
        return JobParams.parse({"self_training": True, **params}).self_training

    assert options({}) == selftrain.SelfTraining(threshold=0.95, weight=0.3, max_pseudo=None, balance=False)
    assert options({"pseudo_balance": True}).balance is True
    assert options({"pseudo_threshold": 0.8, "pseudo_weight": 0.5, "max_pseudo": 10}).weight == 0.5
    for bad, message in (({"pseudo_weight": 0}, "pseudo_weight must be a positive number"),
                         ({"pseudo_threshold": "high"}, "pseudo_threshold must be a number"),
                         ({"max_pseudo": -1}, "max_pseudo must be a whole number"),
                         ({"pseudo_balance": "yes"}, "pseudo_balance must be true or false")):
        with pytest.raises(ValueError, match=message):
            options(bad)


# -- accept or reject ------------------------------------------------------------------------------


def test_self_training_is_accepted_when_dev_f1_holds(memorised, tiny_model, tmp_path):
    result = selftrain.self_train(config(tiny_model), DATASET, POOL, DATASET[:8], tmp_path / "self",
                                  base=memorised, threshold=0.0, weight=0.3)
    assert result.base_f1 == 1.0 and result.n_pseudo == len(POOL)
    assert result.accepted and result.new_f1 == 1.0
    assert result.folder == result.candidate == str(tmp_path / "self")
    assert Tagger.load(result.folder, device="cpu").labels == LABELS


def test_self_training_is_rejected_when_dev_f1_drops(memorised, tiny_model, tmp_path):
    wrecking = config(tiny_model, lr=5.0, head_lr=50.0, max_grad_norm=0.0)  # the self-training round ruins the model
    result = selftrain.self_train(wrecking, DATASET, POOL, DATASET[:8], tmp_path / "self", base=memorised,
                                  threshold=0.0)
    assert result.base_f1 == 1.0 and result.new_f1 < 1.0
    assert not result.accepted and result.folder == memorised and result.candidate == str(tmp_path / "self")


def test_self_train_from_scratch_trains_the_base_first(tiny_model, tmp_path):
    result = selftrain.self_train(config(tiny_model, min_steps=20), DATASET, POOL, DATASET[:8], tmp_path / "self",
                                  threshold=0.0)
    assert (tmp_path / "self-base" / "model.safetensors").exists() and result.n_pseudo == len(POOL)
    assert result.folder == str(tmp_path / ("self" if result.new_f1 >= result.base_f1 else "self-base"))
    with pytest.raises(ValueError, match="needs labelled dev sentences"):
        selftrain.self_train(config(tiny_model), DATASET, POOL, [], tmp_path / "other")


# -- in the store ----------------------------------------------------------------------------------


def sentence(words: list[str], tags: list[str] | None = None) -> Sentence:
    offsets, at = [], 0
    for w in words:
        offsets.append((at, at + len(w)))
        at += len(w) + 1
    return Sentence(words=words, tags=tags, text=" ".join(words), offsets=offsets)


@pytest.fixture
def project(tmp_path, memorised, tiny_model) -> tuple[Store, int, dict]:
    """Train = the small dataset, dev = two new sentences, an unlabelled pool; `memorised` serving as v1."""
    store = Store(tmp_path / "nerloop.db")
    pid = store.create_project("news", ["PER", "LOC", "ORG"])
    store.import_sentences(pid, [sentence(w, t) for w, t in zip(WORDS, TAGS)], split="train")
    store.import_sentences(pid, [sentence("Smith visited Berlin .".split(), "B-PER O B-LOC O".split()),
                                 sentence("The bank met John .".split(), "O B-ORG O B-PER O".split())], split="dev")
    store.import_sentences(pid, [sentence(w) for w in POOL], split="unlabeled")
    store.import_sentences(pid, [sentence("Mary told the bank .".split())], split="train")  # train, not labelled yet
    store.import_sentences(pid, [sentence("John won .".split(), "B-PER O O".split())], split="unlabeled")  # gold
    rows = {" ".join(r.words): r for r in store.sentences(pid)}
    human = rows["the bank told police ."].id
    store.annotate(human, ["O", "B-ORG", "O", "O", "O"], annotator="ann")
    base = store.add_model(pid, folder=memorised, base_model=tiny_model, metrics={"dev": None})
    store.promote(base)
    pool = [rows[" ".join(w)].id for w in POOL if rows[" ".join(w)].id != human]
    pool.append(rows["Mary told the bank ."].id)
    yield store, pid, {"human": human, "gold": rows["John won ."].id, "base": base, "pool": pool}
    store.close()


def test_self_training_never_overwrites_a_human_label(project, tiny_model, tmp_path):
    store, pid, ids = project
    result = selftrain.self_train_project(store, pid, cfg=config(tiny_model), options=ZERO, promote="never",
                                          out=tmp_path / "self")
    pseudo = ids["pool"]
    assert result.n_pseudo == len(pseudo) == 5  # four unlabeled + the unlabelled train sentence
    for sid in pseudo:
        (ann,) = store.history(sid)
        assert (ann.source, ann.model_id, ann.annotator) == ("model", ids["base"], "self-training")
        assert store.effective(sid) is None  # a pseudo-label never counts as a label
    (human,) = store.history(ids["human"])
    assert human.source == "human" and store.effective(ids["human"]).id == human.id
    assert [a.source for a in store.history(ids["gold"])] == ["gold"]
    assert store.counts(pid)["human"] == 1 and store.counts(pid)["labelled"] == len(WORDS) + 2 + 2
    assert all(r.tags is None for r in store.sentences(pid, ids=pseudo))

    model = store.model(result.model_id)
    assert model.parent_id == ids["base"] and model.folder == str(tmp_path / "self")
    assert model.metrics["train_sentences"] == len(WORDS) and model.metrics["pseudo_sentences"] == 5
    assert model.metrics["train_tokens"] == sum(map(len, WORDS))  # the learning curve's x: labels, not pseudo
    assert model.metrics["self_training"]["accepted"] == result.accepted

    again = selftrain.self_train_project(store, pid, base_model_id=ids["base"], cfg=config(tiny_model),
                                         options=ZERO, promote="never", out=tmp_path / "self-again")
    assert again.n_pseudo == 5  # trained on the same pseudo-labels, stored once per base version
    assert all(len(store.history(sid)) == 1 for sid in pseudo)
    assert store.serving(pid).id == ids["base"] and not result.promoted


def test_a_sentence_labelled_meanwhile_gets_no_pseudo_label(project, tiny_model, tmp_path, monkeypatch):
    store, pid, ids = project
    late = ids["pool"][0]
    original = selftrain.pseudo_label

    def then_a_human_labels(*args, **kwargs):
        found = original(*args, **kwargs)
        store.annotate(late, ["O"] * len(store.sentences(pid, ids=[late])[0].words), annotator="ann")
        return found

    monkeypatch.setattr(selftrain, "pseudo_label", then_a_human_labels)
    result = selftrain.self_train_project(store, pid, cfg=config(tiny_model), options=ZERO, promote="never",
                                          out=tmp_path / "self")
    assert result.n_pseudo == 4 and [a.source for a in store.history(late)] == ["human"]
    assert all([a.source for a in store.history(sid)] == ["model"] for sid in ids["pool"][1:])


def scripted_f1(monkeypatch, base: float, new: float) -> None:
    values = iter([base, new])
    monkeypatch.setattr(selftrain, "_f1", lambda tagger, words, tags: next(values))


def test_a_rejected_version_is_not_promoted(project, tiny_model, tmp_path, monkeypatch):
    store, pid, ids = project
    scripted_f1(monkeypatch, 0.8, 0.79)
    result = selftrain.self_train_project(store, pid, cfg=config(tiny_model), options=ZERO, promote="always",
                                          out=tmp_path / "self")
    assert not result.accepted and not result.promoted and result.folder == store.model(ids["base"]).folder
    meta = store.model(result.model_id).metrics["self_training"]
    assert meta == {"accepted": False, "base_model_id": ids["base"], "base_f1": 0.8, "new_f1": 0.79,
                    "threshold": 0.0, "weight": 0.3, "max_pseudo": None, "balance": False}
    assert store.serving(pid).id == ids["base"]


def test_an_accepted_version_is_promoted_by_policy(project, tiny_model, tmp_path, monkeypatch):
    store, pid, ids = project
    scripted_f1(monkeypatch, 0.8, 0.8)  # equal: dev F1 did not drop
    result = selftrain.self_train_project(store, pid, cfg=config(tiny_model),
                                          options=selftrain.SelfTraining(threshold=0.0, max_pseudo=2),
                                          promote="always", out=tmp_path / "self")
    assert result.accepted and result.promoted and result.n_pseudo == 2
    assert store.serving(pid).id == result.model_id and result.folder == str(tmp_path / "self")


def test_nothing_confident_enough_trains_nothing(project, tiny_model, tmp_path, monkeypatch):
    store, pid, ids = project
    monkeypatch.setattr(selftrain, "pseudo_label", lambda *a, **k: [])
    result = selftrain.self_train_project(store, pid, cfg=config(tiny_model), out=tmp_path / "self")
    assert (result.accepted, result.n_pseudo, result.model_id) == (False, 0, None)
    assert len(store.models(pid)) == 1 and not (tmp_path / "self").exists()


def test_a_self_training_job(project, tiny_model):
    store, pid, ids = project
    params = {"epochs": 1, "min_steps": 10, "warm_min_steps": 10, "batch_size": 16, "device": "cpu",
              "model": tiny_model, "promote": "never", "self_training": True, "pseudo_threshold": 0.0}
    result = jobs.execute(store, jobs.create(store, pid, params))
    st = result["self_training"]
    assert st["n_pseudo"] == 5 and st["model_id"] is not None and not st["promoted"]
    job = store.jobs(pid)[0]
    assert job.status == "done" and job.model_id == result["model_id"]
    kinds = [e.kind for e in store.events(job.id)]
    assert kinds.count("saved") == 2 and kinds[-1] == "self_training" and "registered" in kinds
    model = store.model(st["model_id"])
    assert model.parent_id == result["model_id"] and Path(model.folder).name == f"job-{job.id}-self"
    assert [a.source for a in store.history(ids["human"])] == ["human"]
    with pytest.raises(ValueError, match="pseudo_weight must be a positive number"):
        jobs.create(store, pid, {**params, "pseudo_weight": -1})
