"""A training job's parameters, checked once into a frozen record; stored as the same JSON object as before."""
from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import Field, dataclass, fields, replace
from typing import Any

from core import vocab
from core.config import TrainConfig
from core.selftrain import SelfTraining

HYPERPARAMETERS: dict[str, Field] = {f.name: f for f in fields(TrainConfig)}
SELF_TRAINING = {"pseudo_threshold": "threshold", "pseudo_weight": "weight", "max_pseudo": "max_pseudo",
                 "pseudo_balance": "balance"}  # job parameter -> SelfTraining field
FLAGS = ("warm_start", "self_training", "score_pool")
KNOWN = (*HYPERPARAMETERS, *FLAGS, "promote", "command", *SELF_TRAINING)


@dataclass(frozen=True)
class JobParams:
    """What a training job runs with: the hyperparameters given (the trainer's defaults for the rest), a warm start
    from the serving version, the promote policy, self-training (None: off), whether a newly serving version scores
    the unlabelled pool, and the command line that started it (for the model card)."""

    hyperparameters: tuple[tuple[str, Any], ...] = ()
    warm_start: bool = False
    promote: str = "better"
    self_training: SelfTraining | None = None
    score_pool: bool = True
    command: str | None = None

    @classmethod
    def parse(cls, params: Mapping[str, Any]) -> JobParams:
        """Check job parameters once (a ValueError naming the bad key) into a JobParams."""
        unknown = [key for key in params if key not in KNOWN]
        if unknown:
            raise ValueError(f"unknown job parameter {unknown[0]!r}")
        for key in FLAGS:
            if not isinstance(params.get(key, False), bool):
                raise ValueError(f"{key} must be true or false, not {params[key]!r}")
        if params.get("promote", "better") not in vocab.PROMOTE_POLICIES:
            raise ValueError(f"promote must be one of {', '.join(vocab.PROMOTE_POLICIES)}, not {params['promote']!r}")
        if not isinstance(params.get("command"), (str, type(None))):
            raise ValueError(f"command must be text, not {params['command']!r}")
        given = tuple((key, _frozen(_checked(key, value))) for key, value in params.items() if key in HYPERPARAMETERS)
        TrainConfig(**{key: _thawed(value) for key, value in given})  # ranges: ValueError naming the field
        self_training = None
        if params.get("self_training"):
            self_training = SelfTraining(**{field: params[key] for key, field in SELF_TRAINING.items() if key in params})
        return cls(given, params.get("warm_start", False), params.get("promote", "better"), self_training,
                   params.get("score_pool", True), params.get("command"))

    def to_dict(self) -> dict[str, Any]:
        """The stored JSON form: the hyperparameters given, warm_start and promote, the rest when set."""
        out: dict[str, Any] = {key: _thawed(value) for key, value in self.hyperparameters}
        out.update(warm_start=self.warm_start, promote=self.promote)
        if self.self_training is not None:
            out["self_training"] = True
            out.update({key: getattr(self.self_training, field) for key, field in SELF_TRAINING.items()})
        if not self.score_pool:
            out["score_pool"] = False
        if self.command is not None:
            out["command"] = self.command
        return out

    @property
    def config(self) -> TrainConfig:
        """The hyperparameters as a new TrainConfig (the trainer's defaults for those not given)."""
        return TrainConfig(**{key: _thawed(value) for key, value in self.hyperparameters})

    def train_config(self, *, serving_folder: str | None, project_labels: Sequence[str]) -> TrainConfig:
        """The TrainConfig the job trains with: from the serving version's folder when warm-starting and there is
        one, and the project's tag set unless one was given."""
        cfg = self.config
        model = serving_folder if self.warm_start and serving_folder else cfg.model
        return replace(cfg, model=model, labels=cfg.labels or vocab.label_set(project_labels))


def _checked(key: str, value: Any) -> Any:
    """`value` when it has the kind that hyperparameter `key` declares (None where its default is None)."""
    f = HYPERPARAMETERS[key]
    kind = f.metadata["kind"]
    if value is None and f.default is None:
        return value
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    elif kind is list:
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
    else:
        ok = isinstance(value, kind)
    if not ok:
        what = {bool: "true or false", int: "a whole number", float: "a number", list: "a list of tags",
                str: "text"}[kind]
        raise ValueError(f"{key} must be {what}, not {value!r}")
    return value


def _frozen(value: Any) -> Any:
    """A list as a tuple (a frozen record holds no list)."""
    return tuple(value) if isinstance(value, list) else value


def _thawed(value: Any) -> Any:
    """A tuple as a list again (TrainConfig and JSON take lists)."""
    return list(value) if isinstance(value, tuple) else value
