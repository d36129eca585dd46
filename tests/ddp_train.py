"""Launched by test_train under torch.distributed.run: train the tiny model on a CoNLL file, rank 0 saves.

Usage: ddp_train.py MODEL OUT DATA
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import formats  # noqa: E402
from core.train import TrainConfig, run  # noqa: E402


def main(model: str, out: str, data: str) -> None:
    torch.set_num_threads(1)
    sentences = formats.read(data).sentences
    cfg = TrainConfig(model=model, min_steps=6, epochs=1, batch_size=8, lr=1e-3, device="cpu", patience=0)  # all 6 steps
    last = run(cfg, sentences[:40], sentences[40:], out)
    assert last.kind == "saved", last.kind


if __name__ == "__main__":
    main(*sys.argv[1:4])
