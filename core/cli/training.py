"""Training commands: train (on files, or a project as a recorded job), simulate, jobs (list, status, cancel)."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from contextlib import closing
from pathlib import Path

from tqdm import tqdm

from core import distributed, vocab
from core.access import require
from core.cli.common import (CliError, Parents, actor_of, adder, command_line, figure, first_line, labelled, open_store,
                             opened, positive, quiet_transformers, read_corpus, strategies, table, when, whole,
                             writable)
from core.cli.hyperparameters import overrides
from core.config import TrainConfig

JOB_ACTIONS = ("list", "status", "cancel")


def register(sub: argparse._SubParsersAction, parents: Parents) -> None:
    """Add train, simulate and jobs to the parser."""
    add, db, hp = adder(sub, parents), parents.db, parents.hp
    p = add("train", cmd_train, "fine-tune a model on files, or on a project (as a recorded job)", (db, hp))
    p.add_argument("--train", metavar="FILE", help="labelled training file, or a project exported as a Hugging Face "
                   "dataset folder (`export --format hf`: its train split; its validation split is the dev set "
                   "unless --dev is given; its tag set)")
    p.add_argument("--dev", metavar="FILE", help="labelled dev file (picks the best checkpoint)")
    p.add_argument("--out", metavar="DIR", help="output model folder")
    p.add_argument("--project", metavar="NAME", help="train on the project's train/dev splits")
    p.add_argument("--warm-start", action="store_true", help="start from the serving version")
    p.add_argument("--promote", choices=vocab.PROMOTE_POLICIES, help="serve the new version (default: better)")
    p.add_argument("--background", action="store_true", help="run as a background job and print its id")
    g = p.add_argument_group("self-training (with --project)")
    g.add_argument("--self-training", action="store_true", help="then pseudo-label confident unlabelled sentences "
                   "and train on them at a lower weight; kept only when dev F1 does not drop")
    g.add_argument("--pseudo-threshold", type=float, metavar="P", help="every word at least this probable (0.95)")
    g.add_argument("--pseudo-weight", type=positive(float), metavar="W", help="loss weight of a pseudo-label (0.3)")
    g.add_argument("--max-pseudo", type=whole, metavar="N", help="at most N pseudo-labelled sentences")
    g.add_argument("--pseudo-balance", action="store_true", help="entity-free pseudo-labels at most at the "
                   "labelled share")

    p = add("simulate", cmd_simulate, "simulated annotator: active-learning rounds on a labelled pool whose gold "
            "is revealed batch by batch; one learning curve per strategy", (hp,))
    p.add_argument("--pool", required=True, metavar="FILE", help="labelled pool (its tags stay hidden until selected)")
    p.add_argument("--dev", required=True, metavar="FILE", help="labelled dev file, scored every round")
    p.add_argument("--strategies", type=strategies, default=["random", "least_confidence"],
                   metavar="S1,S2,...", help=vocab.STRATEGY_HELP + "; default: random,least_confidence")
    p.add_argument("--seed-size", type=positive(int), default=100, metavar="N",
                   help="random first batch (default 100)")
    p.add_argument("--batch", type=positive(int), default=100, metavar="N", help="sentences revealed per round "
                   "(default 100)")
    p.add_argument("--batch-tokens", type=positive(int), metavar="N", help="reveal up to N words per round instead")
    p.add_argument("--rounds", type=positive(int), default=5, metavar="R", help="trainings per strategy (default 5)")
    p.add_argument("--retrain-from-base", action="store_true",
                   help="train every round from --model again instead of warm-starting from the round before")
    p.add_argument("--mc-passes", type=whole, default=8, metavar="N", help="dropout passes for bald (default 8)")
    p.add_argument("--out", metavar="FILE", help="write the curves as JSON")

    p = add("jobs", cmd_jobs_list, "list jobs (`jobs [PROJECT]`), show one (`jobs status ID`), "
            "cancel one (`jobs cancel ID`)")
    p.set_defaults(project=None)
    p.default_subcommand, p.subcommands = "list", JOB_ACTIONS  # `jobs PROJECT` lists that project's
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    a = actions.add_parser("list", help="list the jobs (of PROJECT), the default", parents=[db])
    a.add_argument("project", nargs="?", metavar="PROJECT")
    for name, func, help in (("status", cmd_job_status, "show a job's status and progress"),
                             ("cancel", cmd_job_cancel, "cancel a queued or running job")):
        a = actions.add_parser(name, help=help, parents=[db])
        a.add_argument("id", type=whole, metavar="ID", help="job id (as `jobs` lists them)")
        a.set_defaults(func=func)


class _Progress:
    """Renders the trainer's event stream as a tqdm bar on stderr (postfix: loss and dev F1)."""

    def __init__(self) -> None:
        self.bar = None
        self.postfix: dict[str, str] = {}

    def __enter__(self) -> "_Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def __call__(self, ev) -> None:
        if ev.kind == "start":
            # under accelerate/torchrun only the main process draws the bar
            quiet = not distributed.is_main()
            self.bar = tqdm(total=ev.total_steps, desc="train", unit="step", file=sys.stderr, dynamic_ncols=True,
                            disable=quiet)
            return
        if self.bar is None:
            return
        if ev.loss is not None:
            self.postfix["loss"] = f"{ev.loss:.4f}"
        if ev.kind == "eval" and ev.scores:
            self.postfix["dev_f1"] = f"{ev.scores['micro']['f1']:.4f}"
        self.bar.set_postfix(self.postfix, refresh=False)
        self.bar.update(ev.step - self.bar.n)


def cmd_train(args: argparse.Namespace) -> int:
    if args.project:
        bad = [flag for flag, v in (("--train", args.train), ("--dev", args.dev), ("--out", args.out)) if v]
        if bad:
            raise CliError(f"train: {', '.join(bad)} cannot be used with --project")
        return _train_project(args)
    bad = [flag for flag, v in (("--warm-start", args.warm_start), ("--promote", args.promote),
                                ("--background", args.background), ("--self-training", args.self_training)) if v]
    if bad:
        raise CliError(f"train: {', '.join(bad)} needs --project")
    if not args.train or not args.out:
        raise CliError("train: give --train FILE and --out DIR, or --project NAME")
    options = distributed.unstarted_cpu_processes()
    if options:  # `accelerate launch --cpu --num_processes N` started only this process
        return distributed.relaunch(options, args.argv)
    return _train_files(args)


def _train_files(args: argparse.Namespace) -> int:
    from core.train import train

    cfg = TrainConfig(**overrides(args))
    train_data, dev_data, labels = training_files(args.train, args.dev)
    if labels and not cfg.labels:
        cfg.labels = labels
    quiet_transformers()
    if not distributed.is_main():  # the first process alone logs the plan, the evaluations and the save
        logging.getLogger().setLevel(logging.WARNING)
    last = None
    try:
        with _Progress() as progress:
            for last in train(cfg, train_data, dev_data, args.out, about={"command": command_line(args)}):
                progress(last)
    except Exception as e:
        raise CliError(f"training failed: {first_line(e)}", 1) from None
    f1 = last.scores["micro"]["f1"] if last.scores else None
    dev = f"dev micro F1 {f1:.4f} (best step {last.info['best_step']} of {last.step})" if f1 is not None \
        else f"no dev set ({last.step} steps)"
    if distributed.is_main():
        print(f"{dev}; model saved to {last.path}")
    return 0


def training_files(train: str, dev: str | None) -> tuple[list, list, list[str] | None]:
    """Train and dev sentences from files, or from a project exported as a Hugging Face `datasets` folder (its train
    split, and its validation split unless `dev` is given), with the folder's tag set (its ClassLabel names: the
    project's) when it has one."""
    from core.formats import hf

    corpus = read_corpus(train) if Path(train).is_dir() or train.lower().endswith(".zip") else None
    if corpus is None or corpus.fmt != "hf":
        return labelled(train), labelled(dev) if dev else [], None
    dev_rows = labelled(dev) if dev else [s for s in corpus.sentences if s.split == "dev" and s.tags is not None]
    rows = [s for s in corpus.sentences if s.split == "train" and s.tags is not None]
    if not rows:
        raise CliError(f"{train}: the dataset has no labelled train split")
    return rows, dev_rows, hf.tag_names(train)


def _train_project(args: argparse.Namespace) -> int:
    from core import jobs, retrain

    if distributed.processes() > 1 or distributed.unstarted_cpu_processes():
        raise CliError("train --project runs in one process: to train in several, export the project "
                       "(`nerloop export PROJECT --format hf --out DIR`), train on it with --train DIR --out MODEL, "
                       "then `nerloop models add PROJECT MODEL`")
    with opened(args, "train") as (store, project):
        try:
            retrain.check(store, project.id)  # the rules of the Train page: one job at a time, labelled train data
        except ValueError as exc:
            raise CliError(f"train: project {project.name!r}: {exc}") from None
        params = {**overrides(args), "warm_start": args.warm_start, "promote": args.promote or "better",
                  "command": command_line(args)}
        if args.self_training:
            params.update(self_training=True, pseudo_balance=args.pseudo_balance, **{
                k: v for k, v in (("pseudo_threshold", args.pseudo_threshold), ("pseudo_weight", args.pseudo_weight),
                                  ("max_pseudo", args.max_pseudo)) if v is not None})
        if args.background:
            job_id = retrain.start(store, project.id, params, actor=actor_of(args, store))
            print(f"started job {job_id} (follow it with `nerloop jobs status {job_id}`)")
            return 0
        job_id = jobs.create(store, project.id, params, actor=actor_of(args, store))
        print(f"job {job_id}: training {project.name!r} in this process", file=sys.stderr)
        quiet_transformers()
        try:
            with _Progress() as progress:
                result = jobs.execute(store, job_id, progress=progress)
        except Exception as e:
            raise CliError(f"job {job_id} failed: {first_line(e)}", 1) from None
        model = store.model(result["model_id"])
        f1 = model.dev_f1
        print(f"job {job_id} done: model {model.name} (id {model.id}), dev micro F1 {figure(f1)}, "
              f"{'promoted to serving' if result['promoted'] else 'not promoted'}; folder {model.folder}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from core.simulate import SimConfig, run

    if not args.strategies:
        raise CliError("simulate: --strategies is empty")
    if args.retrain_from_base and args.warm_min_steps is not None:
        raise CliError("simulate: --warm-min-steps has no effect with --retrain-from-base (every round uses "
                       "--min-steps)")
    pool, dev = labelled(args.pool), labelled(args.dev)
    train_cfg = TrainConfig(**overrides(args))
    cfg = SimConfig(strategies=args.strategies, seed_size=args.seed_size, batch=args.batch,
                    batch_tokens=args.batch_tokens, rounds=args.rounds, seed=train_cfg.seed,
                    mc_passes=args.mc_passes, train=train_cfg, warm_start=not args.retrain_from_base)
    if args.out:
        writable(args.out)
    quiet_transformers()

    def progress(r) -> None:
        print(f"{r.strategy} round {r.round}/{cfg.rounds}: {r.labelled_sentences} sentences, "
              f"{r.labelled_tokens} tokens labelled, dev micro F1 {r.dev_f1:.4f} ({r.seconds:.0f}s)", flush=True)

    try:
        result = run(pool, dev, cfg, on_round=progress)
    except ValueError:
        raise
    except Exception as e:
        raise CliError(f"simulation failed: {first_line(e)}", 1) from None
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
        print(f"wrote {args.out}")
    return 0


def cmd_jobs_list(args: argparse.Namespace) -> int:
    from core import jobs

    with closing(open_store(args)) as store:
        actor = actor_of(args, store)
        require(actor, "train")
        project_id = store.project(args.project).id if args.project is not None else None
        if project_id is not None:
            store.authorize(actor, "train", project_id)
        names = {p.id: p.name for p in store.projects(actor)}
        rows = []
        for job in (j for j in store.jobs(project_id) if j.project_id in names):
            job = jobs.status(store, job.id)
            p = job.progress
            rows.append([job.id, names[job.project_id], job.status, when(job.created),
                         f"{p['step']}/{p['total_steps']}", figure(p["loss"]), figure(p["dev_f1"]),
                         job.model_id or "-"])
    print(table(["id", "project", "status", "created", "steps", "loss", "dev F1", "model"], rows)
          if rows else "no jobs")
    return 0


def cmd_job_status(args: argparse.Namespace) -> int:
    from core import jobs

    with closing(open_store(args)) as store:
        actor = actor_of(args, store)
        require(actor, "train")
        store.authorize(actor, "train", store.job(args.id).project_id)
        job = jobs.status(store, args.id)
        p = job.progress
        lines = [("job", job.id), ("project", store.project(job.project_id).name),
                 ("status", job.status), ("created", when(job.created)),
                 ("started", when(job.started)), ("ended", when(job.ended)),
                 ("progress", f"{p['step']}/{p['total_steps']} steps, epoch {p['epoch']:.2f}"),
                 ("loss", figure(p["loss"])), ("dev F1", figure(p["dev_f1"])),
                 ("model id", job.model_id or "-"), ("log", job.log_path or "-"),
                 ("error", job.error or "-")]
    print("\n".join(f"{k:<9} {v}" for k, v in lines))
    return 0


def cmd_job_cancel(args: argparse.Namespace) -> int:
    from core import jobs

    with closing(open_store(args)) as store:
        jobs.cancel(store, args.id, actor=actor_of(args, store))
        print(f"job {args.id}: {store.job(args.id).status}")
    return 0
