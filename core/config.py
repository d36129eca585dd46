"""Hyperparameters declared once (no torch here: the CLI builds its options from them without loading it)."""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import Field, dataclass, field, fields
from typing import Any

DEFAULT = "default"  # the packaged encoder (core.model)
FREEZE_CHOICES = ("none", "embeddings", *(f"top-{k}" for k in range(1, 13)))  # the page's; any top-K is valid
DEVICES = ("auto", "cpu", "cuda")
MIXED_PRECISIONS = ("auto", "no", "bf16", "fp16")


def param(default: Any, help: str, *, low: float | None = None, high: float | None = None,
          choices: Sequence[str] | None = None, page: str = "advanced", label: str = "", kind: type | None = None,
          scale: float = 1.0, unit: str = "", fmt: str | None = None, step: float | None = None) -> Any:
    """A TrainConfig field and its declaration, read by the CLI (core.cli) and the Train page (pages/train.py): help
    text, inclusive range, choices, where the page shows it (`main` or `advanced`), its label there, the value type
    when the default is None, a page unit (the page shows value / scale, in `unit`), number format and step."""
    meta = {"help": help, "low": low, "high": high, "choices": tuple(choices) if choices else None, "page": page,
            "label": label, "kind": kind or type(default), "scale": scale, "unit": unit, "fmt": fmt,
            "step": step}
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    """Hyperparameters, declared once: the defaults are the ones the app and `nerloop train` use, and each field's
    metadata (see `param`) generates its CLI option and its Train page widget."""

    model: str = param(DEFAULT, "encoder: `default` (the packaged MiniLM), a Hugging Face id or a folder (an earlier "
                       "version's folder warm-starts)", page="main", label="Base model (folder or Hugging Face id)")
    epochs: int = param(3, "epochs at least (small data gets more: see min_steps)", low=1, page="main",
                        label="Epochs (at least)")
    # lr: 1e-4 against 5e-5 on CoNLL-2003 (bench/conll.py --small-data, bench/results/conll-small-2026-12-07-*):
    # 50 sentences in 252 steps +0.28 / +0.57 pt (seeds 42 / 1) over 400 steps at 5e-5; see docs/benchmarks.md
    lr: float = param(1e-4, "encoder learning rate", low=0.0, page="main", label="Learning rate",
                      fmt="%.1e", step=1e-5)
    head_lr: float = param(1e-3, "learning rate of the classifier head and word-shape embedding (freshly "
                           "initialised)", low=0.0, label="Head learning rate", fmt="%.1e", step=1e-4)
    batch_size: int = param(16, "sentences per batch", low=1, page="main", label="Batch size")
    max_batch_tokens: int = param(2048, "a longer padded batch is split into pieces whose gradients add up (memory)",
                                  low=1, label="Tokens per batch piece")
    weight_decay: float = param(0.01, "AdamW weight decay", low=0.0, label="Weight decay")
    warmup: float = param(0.1, "fraction of steps with a linear warm-up, then linear decay to 0", low=0.0, high=1.0,
                          label="Warm-up fraction")
    max_grad_norm: float = param(1.0, "gradient clipping norm", low=0.0, label="Gradient clipping", step=0.1)
    dropout: float | None = param(None, "dropout of the encoder (empty: the model's own)", low=0.0, high=1.0,
                                  kind=float, label="Dropout")
    min_steps: int = param(1200, "small data, cold start: a step floor of at most this many steps (more epochs); "
                           "0: none", low=0, page="main", label="Step floor (at most)")
    floor_epochs: float = param(25.0, "that floor: this many epochs, within [floor_low, min_steps]; 0: min_steps "
                                "flat", low=0.0, label="Floor epochs")
    # floor_low: at lr 5e-5, 250 lost 1.2 pt on CoNLL-2003 at 50 sentences against the 1,200 steps before issue 10;
    # at lr 1e-4, 250 steps beat 400 at 5e-5 (the first model serves within 120 s on 2 cores)
    floor_low: int = param(250, "the floor's lower bound (the tiniest sets still get this many steps)", low=0,
                           label="Floor lower bound (steps)")
    # warm_min_steps: after 20 more labels (70), 60 steps scored best on 1,000 held-out CoNLL-2003 dev sentences of
    # 150, 100, 60, 40, 30 (seeds 42 and 1: 0.692 / 0.637 against 0.675 / 0.608 at 150; bench/warm.py)
    warm_min_steps: int = param(60, "the floor when warm-starting from a trained version (the interactive loop)",
                                low=0, label="Warm-start floor (steps)")
    evals_per_epoch: int = param(1, "dev evaluations per epoch (large data)", low=1, label="Evaluations per epoch")
    min_eval_interval: int = param(250, "steps between dev evaluations at the least (large data)", low=1,
                                   label="Steps between evaluations (at least)")
    small_evals: int = param(6, "dev evaluations over a cold run that the floor lengthened (small data); 0: as large "
                             "data", low=0, label="Evaluations of a small-data run")
    patience: int = param(3, "dev evaluations without improvement before stopping (never in the first half of a "
                          "run)", low=0, label="Patience (evaluations)")
    time_budget: float = param(300.0, "seconds of training (dev evaluation not counted): the step time is measured "
                               "after warm-up and again at every dev evaluation, and the floor's extra steps are "
                               "re-aimed at what fits (never below `epochs` nor `budget_min_steps`, never above the "
                               "plan); 0: no budget", low=0.0, page="main", label="Time budget",
                               scale=60.0, unit="minutes")
    # budget_min_steps: 100 steps at lr 1e-4 scored 0.649 on CoNLL-2003 dev at 50 sentences (400 at 5e-5: 0.662; the
    # live-head probe of issue 20: 0.47); at 5e-5, 100 steps scored 0.579
    budget_min_steps: int = param(100, "the time budget never cuts a run below this many steps (nor below `epochs`)",
                                  low=0, label="Budget floor (steps)")
    class_tolerance: float = param(0.02, "promotion by policy `better`: refused when a class of the serving version "
                                   "loses more dev F1 than this (0.02: 2 points)", low=0.0, high=1.0, page="main",
                                   label="Per-class tolerance", scale=0.01, unit="points", fmt="%.1f", step=0.5)
    freeze: str = param("none", "none | embeddings | top-K (train only the top K layers and the head)",
                        choices=FREEZE_CHOICES, page="main", label="Freeze")
    shape: bool = param(True, "word-shape (casing) feature through token types, where the model has them",
                        label="Word-shape feature")
    shape_dropout: float = param(0.1, "share of sentences trained without shape, so plain pipelines still work",
                                 low=0.0, high=1.0, label="Shape dropout")
    seed: int = param(42, "random seed", low=0, label="Seed")
    device: str = param("auto", "auto (a GPU when there is one), cpu or cuda", choices=DEVICES, label="Device")
    mixed_precision: str = param("auto", "auto (accelerate launch's --mixed_precision when given, else bf16 on a GPU "
                                 "that has it, fp16 on an older one, none on a CPU), no, bf16 or fp16 (a GPU only)",
                                 choices=MIXED_PRECISIONS, label="Mixed precision")
    labels: list[str] | None = param(None, "the tag set, comma-separated, O first (empty: every tag seen in the "
                                     "data; a project's: its types)", kind=list, label="Tag set")

    def __post_init__(self) -> None:
        check_freeze(self.freeze)
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        if self.mixed_precision not in MIXED_PRECISIONS:
            raise ValueError(f"mixed_precision must be one of {', '.join(MIXED_PRECISIONS)}, "
                             f"not {self.mixed_precision!r}")
        for f in fields(self):
            problem = out_of_range(f, getattr(self, f.name))
            if problem:
                raise ValueError(f"{f.name} {problem}")


def check_freeze(text: str) -> str:
    """`text` when it is a freeze setting (none, embeddings or top-K), else ValueError; the one check of it (the
    config, the trainer, the CLI's option)."""
    if text in ("none", "embeddings") or re.fullmatch(r"top-[0-9]+", text):
        return text
    raise ValueError(f"freeze must be none, embeddings or top-K, not {text!r}")


def out_of_range(f: Field, value: Any) -> str | None:
    """Why `value` is outside the declared range of TrainConfig field `f`, or None."""
    low, high = f.metadata["low"], f.metadata["high"]
    if value is None or isinstance(value, (str, list)):
        return None
    if low is not None and value < low:
        if low == 0:
            return f"must not be negative, not {value}"
        return f"must be positive, not {value}" if low == 1 and f.metadata["kind"] is int else \
            f"must be at least {low:g}, not {value}"
    if high is not None and value > high:
        return f"must be at most {high:g}, not {value}"
    return None
