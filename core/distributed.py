"""Several processes as one training run (torchrun, `accelerate launch`): the device and precision, each process's
rows of a batch, dev predictions gathered, and the CPU processes that `accelerate launch --cpu` asks for but does not
start."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import TrainConfig

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)
PRECISIONS = ("no", "bf16", "fp16")
_WORLD_VARS = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")  # torchrun's, then MPI's


def _true(text: str | None) -> bool:
    return (text or "").strip().lower() in ("1", "true", "yes")


def processes() -> int:
    """How many processes the launcher started for this run (1 without a launcher)."""
    return max([int(os.environ[v]) for v in _WORLD_VARS if os.environ.get(v, "").isdigit()] or [1])


def is_main() -> bool:
    """Whether this is the run's first process (the one that prints and writes), before any Accelerator exists."""
    return os.environ.get("RANK", os.environ.get("PMI_RANK", "0")) == "0"


def precision(asked: str, cuda: bool) -> str:
    """The mixed precision to train in: `asked`, or for `auto` accelerate's (ACCELERATE_MIXED_PRECISION, which
    `accelerate launch --mixed_precision` and `accelerate config` set), else bf16 on a GPU that has it, fp16 on an
    older GPU, none on a CPU. fp16 needs a GPU: on a CPU it falls back to none."""
    import torch

    if asked == "auto":
        asked = os.environ.get("ACCELERATE_MIXED_PRECISION") or (
            ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "no")
    if asked not in PRECISIONS:
        log.warning("mixed precision %r is not one nerloop trains in (%s): training in full precision", asked,
                    ", ".join(PRECISIONS))
        return "no"
    if asked == "fp16" and not cuda:
        log.warning("fp16 mixed precision needs a GPU: training in full precision on the CPU")
        return "no"
    return asked


def accelerator(cfg: TrainConfig) -> Any:
    """The Accelerator of a run: a GPU when `cfg.device` allows and the launcher did not ask for the CPU
    (ACCELERATE_USE_CPU), the precision of `precision`; several processes join one run (gloo on CPU, nccl on GPU)."""
    import torch
    from accelerate import Accelerator

    cuda = cfg.device != "cpu" and not _true(os.environ.get("ACCELERATE_USE_CPU")) and torch.cuda.is_available()
    return Accelerator(mixed_precision=precision(cfg.mixed_precision, cuda), cpu=not cuda)


def my_rows(batch: dict[str, torch.Tensor], acc: Any) -> tuple[dict[str, torch.Tensor], float]:
    """This process's rows of a batch that every process holds whole (rows rank, rank + n, ...; padding trimmed to
    their longest), on its device, and the factor of its loss that makes the processes' averaged gradients the whole
    batch's: n times its share of the batch's labelled tokens (0 for a process left without a row, which still runs
    one so that the gradients are synchronised)."""
    import torch

    n, rank = acc.num_processes, acc.process_index
    if n > 1:
        rows = torch.arange(rank, batch["input_ids"].shape[0], n)
        total = max(1, int((batch["labels"] != -100).sum()))
        part = {k: v[rows if len(rows) else torch.tensor([0])] for k, v in batch.items()}
        keep = int(part["attention_mask"].sum(1).max())
        batch = {k: (v[:, :keep] if v.dim() >= 2 else v).contiguous() for k, v in part.items()}
        share = n * int((batch["labels"] != -100).sum()) / total if len(rows) else 0.0
    else:
        share = 1.0
    return {k: v.to(acc.device, non_blocking=True) for k, v in batch.items()}, share


def mean(acc: Any, value: torch.Tensor) -> torch.Tensor:
    """The mean of a scalar over the processes (with `my_rows`' factors, the whole batch's loss)."""
    return value if acc.num_processes == 1 else acc.reduce(value.detach().clone(), "mean")


def predict(acc: Any, tagger: Any, words: list[list[str]], batch_size: int = 64) -> list[list[str]]:
    """The tags of every sentence, each process predicting every n-th one; every process gets them all."""
    n, rank = acc.num_processes, acc.process_index
    mine = [p.tags for p in tagger.predict(words[rank::n], batch_size=batch_size)] if words[rank::n] else []
    if n == 1:
        return mine
    from accelerate.utils import gather_object

    out: list[list[str]] = [[] for _ in words]
    for r, part in enumerate(gather_object([mine])):
        out[r::n] = part
    return out


def agree(acc: Any, value: Any) -> Any:
    """The first process's `value` on every process (so that they all take the same decision)."""
    if acc.num_processes == 1:
        return value
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([value])[0]


def _launch_options() -> Any | None:
    """`accelerate launch`'s options as its command line gave them, read from this process's parent; None when the
    parent is not `accelerate launch`."""
    import psutil

    try:
        cmd = psutil.Process(os.getppid()).cmdline()
    except psutil.Error:
        return None
    at = next((i for i, word in enumerate(cmd) if word == "accelerate.commands.launch"
               or (word == "launch" and i and "accelerate" in Path(cmd[i - 1]).name)), None)
    if at is None:
        return None
    from accelerate.commands.launch import launch_command_parser

    try:
        options = launch_command_parser().parse_args(cmd[at + 1:])
    except SystemExit:
        return None
    if options.num_processes is None and options.config_file:
        from accelerate.commands.config import load_config_from_file

        options.num_processes = load_config_from_file(options.config_file).num_processes
    return options


def unstarted_cpu_processes() -> list[str] | None:
    """torchrun's options for the processes that `accelerate launch --cpu --num_processes N` asked for: without
    mpirun it starts one process, telling it only MASTER_ADDR; None when this process was not launched so."""
    if not _true(os.environ.get("ACCELERATE_USE_CPU")) or "MASTER_ADDR" not in os.environ or processes() > 1:
        return None
    options = _launch_options()
    n, machines = (options.num_processes or 1, options.num_machines or 1) if options else (1, 1)
    if n <= 1:
        log.warning("accelerate launch started one CPU process and its command line could not be read: "
                    "training in this process alone")
        return None
    if machines == 1:
        return ["--standalone", "--nproc_per_node", str(n)]
    return ["--nnodes", str(machines), "--node_rank", str(options.machine_rank or 0), "--nproc_per_node",
            str(max(1, n // machines)), "--master_addr", os.environ["MASTER_ADDR"],
            "--master_port", os.environ.get("MASTER_PORT", "29500")]


def relaunch(options: list[str], argv: list[str]) -> int:
    """Run `nerloop ARGV` in the processes of torchrun `options` (one run, gloo on the CPU), this process their
    agent; 0 when they all succeed, else 1 (each failed process has said why)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    log.info("accelerate launch started one CPU process: torchrun %s starts the run's processes", " ".join(options))
    try:
        run(get_args_parser().parse_args([*options, "-m", "core.cli", *argv]))
    except ChildFailedError as e:
        log.error("the run's processes failed: %s", ", ".join(f"rank {r}" for r in sorted(e.failures)))
        return 1
    return 0
