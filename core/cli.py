"""The `nerloop` command line: projects, import/export, training, evaluation, prediction, models, jobs and the
simulated annotator."""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import Field, fields, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from core import formats, hf_datasets, paths, versions, vocab
from core.access import OWNER, Actor, require
from core.config import TrainConfig, out_of_range
from core.export import EXPORT_FORMATS
from core.formats import FormatError, Sentence
from core.store import NEW_LABEL_HINT, ROLES, ModelVersion, Project, Store, StoreError


class CliError(Exception):
    """A failure reported as one line on stderr, with its exit code (2 bad input, 1 runtime failure)."""

    def __init__(self, message: str, code: int = 2):
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------- small helpers

def _positive(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        return value
    return parse


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, not {text!r}")
    return int(text)


def _freeze(text: str) -> str:
    if text in ("none", "embeddings") or re.fullmatch(r"top-\d+", text):
        return text
    raise argparse.ArgumentTypeError(f"expected none, embeddings or top-K, not {text!r}")


def _labels(text: str) -> list[str]:
    return [label.strip() for label in text.split(",") if label.strip()]


def _first_line(exc: BaseException) -> str:
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def _time(iso: str | None) -> str:
    return (iso or "-")[:19].replace("T", " ")


def _read(path: str, fmt: str | None = None, lines: bool | None = None) -> formats.Corpus:
    try:
        return formats.read(path, fmt=fmt, lines=lines)
    except OSError as e:
        raise CliError(f"{path}: {e.strerror or e}") from None


def _model_dir(path: str) -> str:
    if not (Path(path) / "config.json").is_file():
        what = "no such folder" if not Path(path).exists() else "not a model folder (no config.json)"
        raise CliError(f"{path}: {what}")
    return path


def _command(args: argparse.Namespace) -> str:
    """The nerloop command line being run (for the model card)."""
    return shlex.join(["nerloop", *args.argv])


def _quiet_transformers() -> None:
    """Silence the transformers load reports and progress bars (the CLI draws its own)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _load_tagger(folder: str):
    from core.model import Tagger

    _quiet_transformers()
    return Tagger.load(folder)


def _db_path(args: argparse.Namespace) -> Path:
    """--db, else $NERLOOP_DB, else a legacy ./nerloop.db, else the data folder's; absolute (see core.paths)."""
    return paths.db_path(args.db)


def _store(args: argparse.Namespace, *, create: bool = False) -> Store:
    path = _db_path(args)
    if not create and not path.exists():
        raise CliError(f"no database at {path} (create a project with `nerloop init`, or pass --db)")
    if create and (note := paths.earlier_use(path)):
        print(f"nerloop: note: {note}", file=sys.stderr)
    return Store(path)  # StoreError (damaged, read-only, unopenable): exit code 1, see main


def _actor(args: argparse.Namespace, store: Store) -> Actor:
    """Who the command acts as: the account named by --as (its role is checked by core), else the local owner."""
    name = getattr(args, "as_user", None)
    if name is None:
        return OWNER
    from core import users

    try:
        return users.actor(store, name)
    except KeyError:
        raise CliError(f"--as {name}: no such account (see `nerloop users list`)") from None


@contextlib.contextmanager
def _opened(args: argparse.Namespace) -> Iterator[tuple[Store, Project]]:
    """The store and the project named by args.project (KeyError when there is none); closed on the way out."""
    store = _store(args)
    try:
        yield store, store.project(args.project)
    finally:
        store.close()


def _sentence(row: dict) -> Sentence:
    doc = row.get("document_id")
    return Sentence(list(row["words"]), row.get("tags"), row["text"], list(row["offsets"]),
                    None if doc is None else str(doc))


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
            quiet = os.environ.get("RANK", "0") != "0"
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


def _overrides(args: argparse.Namespace) -> dict:
    """TrainConfig fields given on the command line (the rest keep the trainer's defaults)."""
    return {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name, None) is not None}


def _hp_type(f: Field) -> Callable[[str], Any]:
    """The argparse type of a TrainConfig field: its declared kind, checked against its declared range."""
    kind = f.metadata["kind"]
    if kind is list:
        return _labels
    if f.name == "freeze":
        return _freeze
    if kind is str:
        return str

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {'whole ' if kind is int else ''}number, not {text!r}") \
                from None
        problem = out_of_range(f, value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value
    return parse


def add_hyperparameters(group: argparse._ArgumentGroup) -> None:
    """One option per TrainConfig field, generated from its declaration (help, range, choices, default)."""
    for f in fields(TrainConfig):
        meta, flag = f.metadata, "--" + f.name.replace("_", "-")
        help = f"{meta['help']} (default: {f.default if f.default is not None else 'none'})".replace("%", "%%")
        if meta["kind"] is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help)
            continue
        choices = meta["choices"] if f.name != "freeze" else None
        kind = meta["kind"]
        metavar = ("none|embeddings|top-K" if f.name == "freeze" else "|".join(choices) if choices
                   else "A,B,..." if kind is list else "N" if kind is int else "X" if kind is float else "TEXT")
        group.add_argument(flag, type=_hp_type(f), choices=choices, default=None, metavar=metavar, help=help)


# ---------------------------------------------------------------- commands

def cmd_init(args: argparse.Namespace) -> int:
    store = _store(args, create=True)
    try:
        project_id = store.create_project(args.name, args.labels, actor=_actor(args, store))
    finally:
        store.close()
    print(f"created project {args.name!r} (id {project_id}) with labels: {', '.join(args.labels) or '(none yet)'}")
    return 0


def _stream(path: str, fmt: str | None, lines: bool | None, language: str = "en") -> formats.Stream:
    try:
        return formats.iter_read(path, fmt=fmt, lines=lines, language=language)
    except OSError as e:
        raise CliError(f"{path}: {e.strerror or e}") from None


def cmd_import(args: argparse.Namespace) -> int:
    if args.hidden_gold and args.split not in (None, "unlabeled"):
        raise CliError("import: --hidden-gold imports into the unlabeled split, not --split " + args.split)
    split = "unlabeled" if args.hidden_gold else args.split  # None: train for a labelled file, else unlabeled
    if args.annotator is not None and (args.hidden_gold or not args.annotator.strip()):
        raise CliError("import: --annotator needs a name" if not args.hidden_gold
                       else "import: --annotator and --hidden-gold cannot be used together")
    human = {"source": "human", "annotator": args.annotator.strip()} if args.annotator is not None else {}
    with _opened(args) as (store, project):
        if args.format == hf_datasets.NAME:  # folders: one batch per dataset split, into that split unless --split
            batches = [(s, split or part, f"{path} [{part}]") for path in args.files
                       for part, s in hf_datasets.read(path).items()]
        else:
            batches = [(_stream(path, args.format, args.lines, args.language), split, path) for path in args.files]
        try:  # one transaction for every file, each read a chunk at a time: all of them are imported, or none
            results = store.import_many(project.id, batches, new_labels=args.new_labels,
                                        hidden_gold=args.hidden_gold, actor=_actor(args, store), **human)
        except OSError as e:
            raise CliError(f"{e.filename}: {e.strerror or e}") from None
        except FormatError as e:
            if e.problem.endswith(NEW_LABEL_HINT):
                raise FormatError(e.file, e.line, e.problem.removesuffix(NEW_LABEL_HINT)
                                  + "; --new-labels adds it") from None
            raise
        for (s, split, path), r in zip(batches, results):
            if notes := formats.notes_text(getattr(s, "notes", {})):  # a formats stream's notes (hf: a list)
                print(f"{path}: {notes}")
            if args.hidden_gold:
                print(f"{path}: {r['added']} added, {r['duplicates']} duplicates, {r['hidden']} with hidden gold "
                      "-> unlabeled")
            else:
                print(f"{path}: {r['added']} added, {r['duplicates']} duplicates, {r['annotated']} annotated -> "
                      f"{r.get('split', split)}")
        new = [label for label in store.project(project.id).labels if label not in project.labels]
        if new:
            print(f"new labels added to {project.name!r}: {', '.join(new)}")
    return 0


def cmd_agreement(args: argparse.Namespace) -> int:
    from core import agreement

    with _opened(args) as (store, project):
        result = agreement.project_agreement(store, project.id)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    if not result["pairs"]:
        print(f"no two annotators labelled the same sentence in {project.name!r} (name them with "
              "`nerloop import PROJECT FILE --annotator NAME` or the Annotate page's annotator box)")
        return 0
    print(_table(["a", "b", "sentences", "f1", "kappa"],
                 [[p["a"], p["b"], p["sentences"], _f(p["f1"]), _f(p["kappa"])] for p in result["pairs"]]))
    print()
    print(_table(["a", "b", "label", "f1", "support"],
                 [[p["a"], p["b"], label, _f(c["f1"]), c["support"]]
                  for p in result["pairs"] for label, c in p["per_class"].items()]))
    overall = result["overall"]
    print(f"\noverall (micro over every pair's shared sentences): f1 {_f(overall['f1'])}, "
          f"kappa {_f(overall['kappa'])}")
    return 0


def cmd_team(args: argparse.Namespace) -> int:
    from core import team

    with _opened(args) as (store, project):
        pid = project.id
        if args.overlap is not None or args.copies is not None:
            conf = team.settings(store, pid)
            store.set_overlap(pid, conf["overlap"] if args.overlap is None else args.overlap,
                              conf["copies"] if args.copies is None else args.copies, actor=_actor(args, store))
        if args.assign:
            names = [n.strip() for n in (args.annotators or "").split(",") if n.strip()] or None
            added = team.extend(store, pid, team.pool_order(store, pid, args.strategy), names,
                                actor=_actor(args, store))
            print("assigned: " + ", ".join(f"{a} +{n}" for a, n in added.items()))
        conf, progress = team.settings(store, pid), team.progress(store, pid)
    if args.json:
        print(json.dumps({"settings": conf, "progress": progress}, indent=2))
        return 0
    print(f"overlap {conf['overlap']:.0%}, copies {conf['copies']}")
    print(_table(["annotator", "done", "assigned", "overlapped"],
                 [[p["annotator"], p["done"], p["assigned"], p["overlapped"]] for p in progress])
          if progress else "no queues yet (assign them with --assign)")
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from core import review

    with _opened(args) as (store, project):
        if args.sentence is None:
            items = review.disagreements(store, project.id, reviewed=args.all)
            if args.json:
                print(json.dumps(items, indent=2))
            else:
                print(_table(["id", "annotators", "differ", "reviewed"],
                             [[d["sentence_id"], ",".join(d["annotators"]), len(d["tokens"]), d["reviewed"]]
                              for d in items]) if items else "nothing to review: no disagreement")
            return 0
        if not store.sentences(project.id, ids=[args.sentence]):
            raise CliError(f"project {project.name!r} has no sentence with id {args.sentence}")
        if args.accept is None and args.tags is None:
            for name, tags in review.versions(store, args.sentence).items():
                print(f"{name}\t{' '.join(tags)}")
            return 0
        try:
            if args.accept is not None:
                review.accept(store, args.sentence, args.accept, reviewer=args.reviewer, actor=_actor(args, store))
            else:
                review.adjudicate(store, args.sentence, args.tags.split(), reviewer=args.reviewer,
                                  actor=_actor(args, store))
        except KeyError as e:
            raise CliError(str(e.args[0])) from None
    print(f"sentence {args.sentence}: reviewed label stored (source review) by {args.reviewer}")
    return 0


def cmd_flag(args: argparse.Namespace) -> int:
    with _opened(args) as (store, project):
        if not args.ids:
            rows = store.sentences(project.id, flagged=True)
            print(_table(["id", "split", "tokens", "text"], [[r["id"], r["split"], len(r["words"]), r["text"][:100]]
                                                             for r in rows]) if rows else "no flagged sentences")
            return 0
        found = {r["id"] for r in store.sentences(project.id, ids=args.ids)}
        missing = sorted(set(args.ids) - found)
        if missing:
            raise CliError(f"project {project.name!r} has no sentence with id {', '.join(map(str, missing))}")
        changed = store.flag(args.ids, not args.restore, annotator=args.annotator, actor=_actor(args, store))
    what = "restored" if args.restore else "flagged as junk"
    unchanged = len(set(args.ids)) - len(changed)
    print(f"{len(changed)} sentence(s) {what}" + (f", {unchanged} already were" if unchanged else ""))
    return 0


def _labelled(path: str) -> list[Sentence]:
    sentences = _read(path).sentences
    for s in sentences:
        if s.tags is None:
            raise FormatError(path, s.line, "sentence has no labels (training and evaluation data must be labelled)")
    return sentences


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
    return _train_files(args)


def _train_files(args: argparse.Namespace) -> int:
    from core.train import train

    cfg = TrainConfig(**_overrides(args))
    train_data = _labelled(args.train)
    dev_data = _labelled(args.dev) if args.dev else []
    _quiet_transformers()
    last = None
    try:
        with _Progress() as progress:
            for last in train(cfg, train_data, dev_data, args.out, about={"command": _command(args)}):
                progress(last)
    except Exception as e:
        raise CliError(f"training failed: {_first_line(e)}", 1) from None
    f1 = last.scores["micro"]["f1"] if last.scores else None
    dev = f"dev micro F1 {f1:.4f} (best step {last.info['best_step']} of {last.step})" if f1 is not None \
        else f"no dev set ({last.step} steps)"
    if os.environ.get("RANK", "0") == "0":
        print(f"{dev}; model saved to {last.path}")
    return 0


def _train_project(args: argparse.Namespace) -> int:
    from core import jobs

    with _opened(args) as (store, project):
        train_rows, _ = versions.training_data(store, project.id)
        if not train_rows:
            raise CliError(f"project {project.name!r} has no labelled train sentences "
                           "(import some with `nerloop import PROJECT FILE --split train`)")
        params = {**_overrides(args), "warm_start": args.warm_start, "promote": args.promote or "better",
                  "command": _command(args)}
        if args.self_training:
            params.update(self_training=True, pseudo_balance=args.pseudo_balance, **{
                k: v for k, v in (("pseudo_threshold", args.pseudo_threshold), ("pseudo_weight", args.pseudo_weight),
                                  ("max_pseudo", args.max_pseudo)) if v is not None})
        if args.background:
            job_id = jobs.start(store, project.id, params, actor=_actor(args, store))
            print(f"started job {job_id} (follow it with `nerloop jobs status {job_id}`)")
            return 0
        job_id = jobs.create(store, project.id, params, actor=_actor(args, store))
        print(f"job {job_id}: training {project.name!r} in this process", file=sys.stderr)
        _quiet_transformers()
        try:
            with _Progress() as progress:
                result = jobs.execute(store, job_id, progress=progress)
        except Exception as e:
            raise CliError(f"job {job_id} failed: {_first_line(e)}", 1) from None
        model = store.model(result["model_id"])
        f1 = model.dev_f1
        print(f"job {job_id} done: model {model.name} (id {model.id}), dev micro F1 {_f(f1)}, "
              f"{'promoted to serving' if result['promoted'] else 'not promoted'}; folder {model.folder}")
    return 0


def _scores_json(scores: dict) -> dict:
    keep = ("precision", "recall", "f1")
    return {"micro": {k: scores["micro"][k] for k in keep},
            "macro": {k: scores["macro"][k] for k in keep},
            "per_class": {label: {k: row[k] for k in (*keep, "support")} for label, row in scores["per_class"].items()},
            "accuracy": scores["accuracy"]}


def _scores_table(scores: dict) -> str:
    rows = [[label, _f(r["precision"]), _f(r["recall"]), _f(r["f1"]), r["support"]]
            for label, r in sorted(scores["per_class"].items())]
    support = sum(r["support"] for r in scores["per_class"].values())
    for name in ("micro", "macro"):
        r = scores[name]
        rows.append([name, _f(r["precision"]), _f(r["recall"]), _f(r["f1"]), support])
    return (_table(["label", "precision", "recall", "f1", "support"], rows)
            + f"\ntoken accuracy {scores['accuracy']:.4f} on {scores['sentences']} sentences")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from core.train import evaluate

    if bool(args.model) == bool(args.project):
        raise CliError("evaluate: give either --model DIR --data FILE, or --project NAME")
    if args.model:
        if not args.data or args.split or args.model_id is not None:
            raise CliError("evaluate: --model needs --data FILE (--split and --model-id go with --project)")
        sentences = _labelled(args.data)
        tagger = _load_tagger(_model_dir(args.model))
    else:
        if args.data:
            raise CliError("evaluate: --data goes with --model, not --project")
        with _opened(args) as (store, project):
            split = args.split or "test"
            sentences = [_sentence(r) for r in store.sentences(project.id, split=split) if r["tags"] is not None]
            if not sentences:
                other = "dev" if split == "test" else "test"
                raise CliError(f"project {project.name!r} has no labelled {split} sentences (try --split {other})")
            model = _project_model(store, project, args.model_id)
        tagger = _load_tagger(_model_dir(model.folder))
    scores = evaluate(tagger, [s.words for s in sentences], [s.tags for s in sentences]).scores
    print(json.dumps(_scores_json(scores), indent=2) if args.json else _scores_table(scores))
    return 0


def _project_model(store: Store, project: Project, model_id: int | None) -> ModelVersion:
    """The version `model_id` of the project, or its serving version."""
    if model_id is None:
        model = store.serving(project.id)
        if model is None:
            raise CliError(f"project {project.name!r} has no serving model "
                           f"(train one, or `nerloop models {project.name} promote ID`)")
        return model
    model = store.model(model_id)
    if model.project_id != project.id:
        raise CliError(f"model {model_id} belongs to another project")
    return model


def _markup(s: Sentence) -> str:
    out, pos = [], 0
    for a, b, label in formats.spans(s.tags):
        start, end = s.offsets[a][0], s.offsets[b - 1][1]
        out += [s.text[pos:start], f"[{s.text[start:end]}]({label})"]
        pos = end
    return "".join(out) + s.text[pos:]


def _span_record(s: Sentence, scores: list[float]) -> dict:
    found = [{"start": s.offsets[a][0], "end": s.offsets[b - 1][1], "label": label,
              "text": s.text[s.offsets[a][0]:s.offsets[b - 1][1]], "score": round(sum(scores[a:b]) / (b - a), 4)}
             for a, b, label in formats.spans(s.tags)]
    return {"text": s.text, "spans": found}


def cmd_predict(args: argparse.Namespace) -> int:
    if bool(args.model) == bool(args.project):
        raise CliError("predict: give either --model DIR or --project NAME")
    if args.text and args.file:
        raise CliError("predict: give TEXT or --file, not both")
    if args.store and (args.text or args.file or not args.project):
        raise CliError("predict: --store goes with --project alone (it tags the project's unlabeled sentences)")
    if args.json and args.format:
        raise CliError("predict: give --json or --format, not both")
    if not (args.text or args.file or args.project):
        raise CliError("predict: give TEXT, --file FILE, or --project NAME")
    rows: list[dict] = []
    model_id = None
    if args.project:
        with _opened(args) as (store, project):
            model = _project_model(store, project, None)
            model_id = model.id
            if not (args.text or args.file):
                rows = store.sentences(project.id, split="unlabeled")
                if not rows:
                    raise CliError(f"project {project.name!r} has no unlabeled sentences to tag")
        folder = model.folder
    else:
        folder = args.model
    if args.file:
        sentences = _read(args.file).sentences
    elif args.text:
        sentences = [s for i, text in enumerate(args.text, 1)
                     for s in formats.loads(text, name=f"<text {i}>", fmt="text").sentences]
    else:
        sentences = [_sentence(r) for r in rows]
    tagger = _load_tagger(_model_dir(folder))
    preds = tagger.predict([s.words for s in sentences], batch_size=args.batch_size)
    tagged = [replace(s, tags=p.tags) for s, p in zip(sentences, preds)]
    if args.store:
        return _store_predictions(args, rows, preds, model_id)
    if args.format:
        sys.stdout.write(formats.dumps(tagged, args.format))
    elif args.json:
        for s, p in zip(tagged, preds):
            print(json.dumps(_span_record(s, p.scores), ensure_ascii=False))
    else:
        for s in tagged:
            print(_markup(s))
    return 0


def _store_predictions(args: argparse.Namespace, rows: list[dict], preds: list, model_id: int) -> int:
    """Append the predictions as source=model annotations, skipping sentences this model already tagged."""
    store = _store(args)
    try:
        done = store.tagged_by(model_id, [r["id"] for r in rows])
        new = [(row["id"], p.tags) for row, p in zip(rows, preds) if row["id"] not in done]
        store.annotate_many(new, source="model", model_id=model_id, annotator="nerloop predict")
    finally:
        store.close()
    added, skipped = len(new), len(rows) - len(new)
    print(f"stored {added} model annotations (model id {model_id}); {skipped} sentences already had one")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from core import export

    if args.predictions and args.format not in (None, *export.PREDICTING):
        raise CliError(f"export: --predictions needs one of {', '.join(export.PREDICTING)}, not {args.format}")
    if args.format == hf_datasets.NAME:
        return _export_hf(args)
    try:
        fmt = export.export_format(args.out, args.format)
    except ValueError as e:
        raise CliError(f"{e}; pass --format" if args.format is None else str(e)) from None
    if args.predictions and fmt not in export.PREDICTING:
        raise CliError(f"export: --predictions needs one of {', '.join(export.PREDICTING)}, not {fmt}")
    with _opened(args) as (store, project):
        model = _project_model(store, project, None) if args.predictions else None
        tagger = _load_tagger(_model_dir(model.folder)) if model else None
        out = export.export_annotations(store, project.id, splits=[args.split] if args.split else vocab.SPLITS,
                                        fmt=fmt, scheme=args.scheme, unlabeled=args.unlabeled, tagger=tagger,
                                        model_name=model.name if model else "", actor=_actor(args, store))
    if not out.written:
        raise CliError(f"nothing to export: project {project.name!r} has no "
                       f"{'' if args.unlabeled else 'annotated '}sentences{' in ' + args.split if args.split else ''}")
    try:
        formats.write_atomic(args.out, out.data)
    except OSError as e:
        raise CliError(f"{args.out}: {e.strerror or e}", 2 if isinstance(e, FileNotFoundError) else 1) from None
    print(f"wrote {out.written} sentences to {args.out} ({out.left_out} without annotations left out)")
    return 0


def _export_hf(args: argparse.Namespace) -> int:
    """`export --format hf`: a DatasetDict folder, one dataset split per project split (dev as validation)."""
    if args.scheme != "iob2":
        raise CliError("export: the hf format writes IOB2 tags (ner_tags names); --scheme does not apply")
    with _opened(args) as (store, project):
        actor = _actor(args, store)
        require(actor, "export")
        every = store.sentences(project.id, split=args.split)
        store.add_audit(actor, "export", project_id=project.id, format="hf", split=args.split)
    rows = [r for r in every if args.unlabeled or r["tags"] is not None]
    if not rows:
        raise CliError(f"nothing to export: project {project.name!r} has no "
                       f"{'' if args.unlabeled else 'annotated '}sentences{' in ' + args.split if args.split else ''}")
    by_split: dict[str, list[Sentence]] = {}
    for row in rows:
        by_split.setdefault(row["split"], []).append(_sentence(row))
    _writable(args.out)
    try:
        hf_datasets.write(by_split, vocab.label_set(project.labels), args.out)
    except OSError as e:
        raise CliError(f"{args.out}: {e.strerror or e}", 1) from None
    sizes = ", ".join(f"{hf_datasets.SPLIT_NAMES.get(k, k)} {len(v)}" for k, v in by_split.items())
    print(f"wrote {len(rows)} sentences to {args.out} as a Hugging Face DatasetDict ({sizes}; "
          f"{len(every) - len(rows)} without annotations left out)")
    return 0


def cmd_export_model(args: argparse.Namespace) -> int:
    from core import onnx_model

    store = _store(args)
    try:
        actor = _actor(args, store)
        require(actor, "export")
        model = _version(store, store.project(args.project) if args.project else None, args.version)
        store.add_audit(actor, "export", project_id=model.project_id, model_id=model.id, format="onnx")
    finally:
        store.close()
    folder = _model_dir(model.folder)
    _writable(args.onnx)
    _quiet_transformers()
    try:
        onnx_model.export(folder, args.onnx)
    except RuntimeError as e:
        raise CliError(str(e), 1) from None
    print(f"wrote {args.onnx}: model {model.name} (id {model.id}) as ONNX; its tokenizer and labels are in "
          f"{folder}")
    return 0


def _version(store: Store, project: Project | None, version: str) -> ModelVersion:
    """A model version by id, or by name (v2) within --project."""
    if version.isdigit():
        model = store.model(int(version))
        if project is not None and model.project_id != project.id:
            raise CliError(f"model {version} belongs to another project")
        return model
    if project is None:
        raise CliError(f"export-model: {version!r} is not a model id; a version name (v2) needs --project")
    found = [m for m in store.models(project.id) if m.name == version]
    if not found:
        raise CliError(f"project {project.name!r} has no model version {version!r} (see `nerloop models "
                       f"{project.name}`)")
    return found[0]


def cmd_models(args: argparse.Namespace) -> int:
    if (args.action == "promote") != (args.id is not None):
        raise CliError("models: use `models PROJECT`, `models PROJECT promote ID` or `models PROJECT rollback`")
    with _opened(args) as (store, project):
        versions.cleanup(store)  # a version saved by a killed job is listed (registered), its leftovers removed
        if args.action == "promote":
            model = _project_model(store, project, args.id)
            store.promote(model.id, actor=_actor(args, store))
            print(f"now serving {model.name} (id {model.id}) for {project.name!r}")
        elif args.action == "rollback":
            model = store.model(store.rollback(project.id, actor=_actor(args, store)))
            print(f"rolled back: now serving {model.name} (id {model.id}) for {project.name!r}")
        else:
            serving = project.serving_model_id
            rows = [["*" if m.id == serving else "", m.id, m.name, _time(m.created), _f(m.dev_f1),
                     m.status, m.parent_id or "-", m.base_model] for m in store.models(project.id)]
            print(_table(["", "id", "name", "created", "dev F1", "status", "parent", "base"], rows)
                  if rows else f"project {project.name!r} has no models yet")
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    from core import jobs

    words = args.args
    action = words[0] if len(words) == 2 and words[0] in ("status", "cancel") else None
    if len(words) > 2 or (len(words) == 2 and action is None):
        raise CliError("jobs: use `jobs [PROJECT]`, `jobs status ID` or `jobs cancel ID`")
    if action and not words[1].isdigit():
        raise CliError(f"jobs {action}: job id must be a number, not {words[1]!r}")
    store = _store(args)
    try:
        if action == "cancel":
            jobs.cancel(store, int(words[1]), actor=_actor(args, store))
            print(f"job {words[1]}: {store.job(int(words[1])).status}")
        elif action == "status":
            job = jobs.status(store, int(words[1]))
            p = job.progress
            lines = [("job", job.id), ("project", store.project(job.project_id).name),
                     ("status", job.status), ("created", _time(job.created)),
                     ("started", _time(job.started)), ("ended", _time(job.ended)),
                     ("progress", f"{p['step']}/{p['total_steps']} steps, epoch {p['epoch']:.2f}"),
                     ("loss", _f(p["loss"])), ("dev F1", _f(p["dev_f1"])),
                     ("model id", job.model_id or "-"), ("log", job.log_path or "-"),
                     ("error", job.error or "-")]
            print("\n".join(f"{k:<9} {v}" for k, v in lines))
        else:
            project_id = store.project(words[0]).id if words else None
            names = {p.id: p.name for p in store.projects()}
            rows = []
            for job in store.jobs(project_id):
                job = jobs.status(store, job.id)
                p = job.progress
                rows.append([job.id, names[job.project_id], job.status, _time(job.created),
                             f"{p['step']}/{p['total_steps']}", _f(p["loss"]), _f(p["dev_f1"]),
                             job.model_id or "-"])
            print(_table(["id", "project", "status", "created", "steps", "loss", "dev F1", "model"], rows)
                  if rows else "no jobs")
    finally:
        store.close()
    return 0


def cmd_projects(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        rows = []
        for p in store.projects():
            c = store.counts(p.id)
            serving = store.serving(p.id)
            rows.append([p.id, p.name, ",".join(p.labels) or "-", *(c["by_split"][s] for s in vocab.SPLITS),
                         c["labelled"], c["human"], serving.name if serving else "-"])
    finally:
        store.close()
    print(_table(["id", "name", "labels", *vocab.SPLITS, "labelled", "human", "serving"], rows) if rows else "no projects")
    return 0


def _strategies(text: str) -> list[str]:
    from core.active import parse_strategy

    try:
        return [str(parse_strategy(part)) for part in text.split(",") if part.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def cmd_simulate(args: argparse.Namespace) -> int:
    from core.simulate import SimConfig, run

    if not args.strategies:
        raise CliError("simulate: --strategies is empty")
    if args.retrain_from_base and args.warm_min_steps is not None:
        raise CliError("simulate: --warm-min-steps has no effect with --retrain-from-base (every round uses "
                       "--min-steps)")
    pool, dev = _labelled(args.pool), _labelled(args.dev)
    train_cfg = TrainConfig(**_overrides(args))
    cfg = SimConfig(strategies=args.strategies, seed_size=args.seed_size, batch=args.batch,
                    batch_tokens=args.batch_tokens, rounds=args.rounds, seed=train_cfg.seed,
                    mc_passes=args.mc_passes, train=train_cfg, warm_start=not args.retrain_from_base)
    if args.out:
        _writable(args.out)
    _quiet_transformers()

    def progress(r) -> None:
        print(f"{r.strategy} round {r.round}/{cfg.rounds}: {r.labelled_sentences} sentences, "
              f"{r.labelled_tokens} tokens labelled, dev micro F1 {r.dev_f1:.4f} ({r.seconds:.0f}s)", flush=True)

    try:
        result = run(pool, dev, cfg, on_round=progress)
    except ValueError:
        raise
    except Exception as e:
        raise CliError(f"simulation failed: {_first_line(e)}", 1) from None
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
        print(f"wrote {args.out}")
    return 0


def cmd_suggest(args: argparse.Namespace) -> int:
    from core import active

    with _opened(args) as (store, project):
        serving = store.serving(project.id)
        ids = active.suggest(store, project.id, None if args.tokens and not args.k else args.k or 10,
                             strategy=args.strategy, seed=args.seed, token_budget=args.tokens)
        rows = {r["id"]: r for r in store.sentences(project.id, ids=ids)}
    picked = [rows[i] for i in ids]
    if args.json:
        for r in picked:
            print(json.dumps({"id": r["id"], "tokens": len(r["words"]), "text": r["text"]}, ensure_ascii=False))
        return 0
    by = f"by {serving.name}" if serving else "cold start: no serving version, random order"
    print(f"next {len(picked)} to label ({args.strategy}, {by}; {sum(len(r['words']) for r in picked)} tokens):",
          file=sys.stderr)
    print(_table(["id", "tokens", "text"], [[r["id"], len(r["words"]), r["text"][:100]] for r in picked])
          if picked else "nothing left to label in the unlabeled split")
    return 0


def cmd_reveal(args: argparse.Namespace) -> int:
    from core import simulate

    with _opened(args) as (store, project):
        left, total = store.hidden_gold_left(project.id)
        if not total:
            raise CliError(f"project {project.name!r} has no hidden gold "
                           "(import a labelled pool with `nerloop import PROJECT FILE --hidden-gold`)")
        ids = simulate.demo_round(store, project.id, None if args.tokens and not args.batch else args.batch or 50,
                                  strategy=args.strategy, seed=args.seed if args.seed is not None else total - left,
                                  token_budget=args.tokens)
        left, _ = store.hidden_gold_left(project.id)
    print(f"revealed the gold tags of {len(ids)} sentences ({args.strategy}), now in train; {left} of {total} still "
          f"hidden. Next: `nerloop train --project {project.name} --warm-start`")
    return 0


def _password(args: argparse.Namespace) -> str:
    """The new password: the first line of --password-file, else typed twice at a prompt (never an argument)."""
    if args.password_file:
        try:
            return Path(args.password_file).read_text(encoding="utf-8").split("\n", 1)[0].rstrip("\r")
        except (OSError, UnicodeDecodeError) as e:
            raise CliError(f"{args.password_file}: {getattr(e, 'strerror', None) or e}") from None
    if not sys.stdin.isatty():
        raise CliError("no terminal to type the password in: pass --password-file FILE")
    import getpass

    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise CliError("the two passwords differ")
    return first


def cmd_users(args: argparse.Namespace) -> int:
    from core import users

    store = _store(args, create=args.action == "add")
    try:
        if args.action == "list":
            rows = users.listing(store)
            print(_table(["name", "role", "created"], [[u["name"], u["role"], _time(u["created"])] for u in rows])
                  if rows else "no accounts: the app is single-user and listens on 127.0.0.1 only")
        elif args.action == "add":
            users.add(store, args.name, args.role, _password(args), actor=_actor(args, store))
            print(f"added {args.role} {args.name!r}")
        elif args.action == "passwd":
            if store.user(args.name) is None:
                raise KeyError(f"no user {args.name!r}")
            users.passwd(store, args.name, _password(args), actor=_actor(args, store))
            print(f"changed the password of {args.name!r}")
        elif args.action == "role":
            users.set_role(store, args.name, args.role, actor=_actor(args, store))
            print(f"{args.name!r} is now {args.role}")
        else:
            users.remove(store, args.name, actor=_actor(args, store))
            print(f"removed {args.name!r} (their annotations stay, attributed to them)")
    finally:
        store.close()
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    if (args.project is None) == (not args.all):
        raise CliError("audit: name a PROJECT or pass --all")
    store = _store(args)
    try:
        project_id = None if args.all else store.project(args.project).id
        names = {p.id: p.name for p in store.projects()}
        rows = store.audit(project_id)
    finally:
        store.close()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(_table(["id", "when", "user", "role", "action", "project", "detail"],
                 [[r["id"], _time(r["created"]), r["actor"], r["role"], r["action"],
                   names.get(r["project_id"], "-"), json.dumps(r["detail"], ensure_ascii=False)] for r in rows])
          if rows else "nothing recorded yet")
    return 0


def _writable(path: str) -> None:
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise CliError(f"{path}: no such folder {folder}")


# ---------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    db_help = (f"database file (default: $NERLOOP_DB, else ./{paths.DB_NAME} if there is one, else "
               f"$NERLOOP_HOME/{paths.DB_NAME}; NERLOOP_HOME defaults to ~/.nerloop)")
    parser = argparse.ArgumentParser(prog="nerloop", description="Human-in-the-loop NER: import, train, "
                                     "evaluate, predict and manage model versions.")
    as_help = ("act as this account: its role decides what the command may do, and the audit trail names it "
               "(default: the local owner, an admin)")
    verbose_help = "log what happens (training plan, evaluations, saves, promotion); -vv: debug details"
    parser.add_argument("--db", metavar="PATH", help=db_help)
    parser.add_argument("-v", "--verbose", action="count", default=0, help=verbose_help)
    parser.add_argument("--as", dest="as_user", metavar="NAME", help=as_help)
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument("--db", metavar="PATH", default=argparse.SUPPRESS, help=db_help)
    db.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=verbose_help)
    db.add_argument("--as", dest="as_user", metavar="NAME", default=argparse.SUPPRESS, help=as_help)
    hp = argparse.ArgumentParser(add_help=False)
    add_hyperparameters(hp.add_argument_group("hyperparameters (default: the trainer's)"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, func: Callable, help: str, parents: Sequence = (db,)) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, parents=list(parents))
        p.set_defaults(func=func)
        return p

    p = add("init", cmd_init, "create a project")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--labels", type=_labels, default=[], metavar="PER,LOC,...", help="entity types, comma-separated")

    p = add("import", cmd_import, "import corpus files into a project (all files parse, or nothing is imported)")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--split", choices=vocab.SPLITS, help="default: train for labelled files, else unlabeled")
    p.add_argument("--format", choices=(*formats.FORMATS, hf_datasets.NAME),
                   help="default: from the extension and content; hf: a Hugging Face datasets folder")
    p.add_argument("--language", choices=formats.LANGUAGES, default="en", metavar="CODE",
                   help="plain text: the language whose sentence rules split it (ISO 639-1, default: en)")
    p.add_argument("--hidden-gold", action="store_true", help="demo mode: labelled files become an unlabeled pool "
                   "whose gold tags stay hidden until `nerloop reveal` picks them")
    p.add_argument("--new-labels", action="store_true", help="add entity types the project does not have yet "
                   "(without it, an unknown type stops the import; a project without labels takes the files')")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--lines", dest="lines", action="store_const", const=True, help="plain text: each non-empty line "
                   "is one sentence (default for files that look so)")
    g.add_argument("--split-sentences", dest="lines", action="store_const", const=False,
                   help="plain text: split lines into sentences (default otherwise)")
    p.add_argument("--annotator", metavar="NAME", help="record the files' labels as this person's human labels "
                   "(sentences already in the project get them too), for agreement")

    p = add("team", cmd_team, "shared work: the overlap setting, per-annotator queues over the unlabelled pool "
            "(stored, so they stay stable), progress per annotator")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--overlap", type=float, metavar="SHARE", help="share of sentences labelled by several (0-1)")
    p.add_argument("--copies", type=int, metavar="N", help="annotators per overlapped sentence (default 2)")
    p.add_argument("--assign", action="store_true", help="assign the unassigned pool to the annotators' queues")
    p.add_argument("--annotators", metavar="A,B,...", help="default: the accounts with role annotator, else the "
                   "names that saved labels")
    p.add_argument("--strategy", metavar="S", help="queue order by active learning (" + vocab.STRATEGY_HELP +
                   "); default: in order")
    p.add_argument("--json", action="store_true")

    p = add("review", cmd_review, "review: list the sentences where annotators disagree, show one's versions, or "
            "store the reviewed label (source review, ahead of every human label)")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("sentence", nargs="?", type=int, metavar="SENTENCE_ID")
    p.add_argument("--list", action="store_true", help="list the disagreements (the default without SENTENCE_ID)")
    p.add_argument("--all", action="store_true", help="with --list: the reviewed ones too")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--accept", metavar="ANNOTATOR", help="adopt this annotator's version")
    g.add_argument("--tags", metavar="'B-PER O ...'", help="the reviewed tags, space-separated (IOB2)")
    p.add_argument("--reviewer", default="owner", metavar="NAME", help="who reviews (default: owner)")
    p.add_argument("--json", action="store_true")

    p = add("agreement", cmd_agreement, "inter-annotator agreement: pairwise entity F1 and token kappa on the "
            "sentences two annotators both labelled")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")

    p = add("flag", cmd_flag, "flag sentences as junk: they leave the labelling queue, training and active learning "
            "(--restore brings them back); with no ID, list the flagged ones")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("ids", nargs="*", type=int, metavar="ID", help="sentence ids (as `suggest` and exports show them)")
    p.add_argument("--restore", action="store_true", help="unflag: the sentences come back")
    p.add_argument("--annotator", default="", metavar="NAME", help="who flags (kept in the history)")

    p = add("train", cmd_train, "fine-tune a model on files, or on a project (as a recorded job)", (db, hp))
    p.add_argument("--train", metavar="FILE", help="labelled training file")
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
    g.add_argument("--pseudo-weight", type=_positive(float), metavar="W", help="loss weight of a pseudo-label (0.3)")
    g.add_argument("--max-pseudo", type=_count, metavar="N", help="at most N pseudo-labelled sentences")
    g.add_argument("--pseudo-balance", action="store_true", help="entity-free pseudo-labels at most at the "
                   "labelled share")

    p = add("evaluate", cmd_evaluate, "entity-level scores of a model on labelled data")
    p.add_argument("--model", metavar="DIR", help="trained model folder")
    p.add_argument("--data", metavar="FILE", help="labelled file")
    p.add_argument("--project", metavar="NAME", help="evaluate on a project split")
    p.add_argument("--split", choices=("dev", "test"), help="project split (default: test)")
    p.add_argument("--model-id", type=int, metavar="N", help="project model version (default: serving)")
    p.add_argument("--json", action="store_true", help="print the scores as JSON")

    p = add("predict", cmd_predict, "tag text, a file, or a project's unlabeled sentences")
    p.add_argument("text", nargs="*", metavar="TEXT", help="plain text (split into sentences and words)")
    p.add_argument("--model", metavar="DIR", help="trained model folder")
    p.add_argument("--project", metavar="NAME", help="use the project's serving model")
    p.add_argument("--file", metavar="FILE", help="input file (conll, jsonl or text)")
    p.add_argument("--format", choices=("conll", "jsonl"), help="output format (default: [text](LABEL) lines)")
    p.add_argument("--json", action="store_true", help="JSONL: text and scored character spans")
    p.add_argument("--store", action="store_true", help="with --project alone: store as model annotations")
    p.add_argument("--batch-size", type=_positive(int), default=64, metavar="N")

    p = add("export", cmd_export, "write a project's effective annotations to a file (atomic)")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--out", required=True, metavar="FILE")
    p.add_argument("--format", choices=(*EXPORT_FORMATS, hf_datasets.NAME),
                   help="default: from the extension; hf: a Hugging Face DatasetDict folder (save_to_disk)")
    p.add_argument("--split", choices=vocab.SPLITS, help="default: every split")
    p.add_argument("--scheme", choices=formats.SCHEMES, default="iob2", help="CoNLL tag scheme (default: iob2)")
    p.add_argument("--unlabeled", action="store_true", help="also write sentences without annotations")
    p.add_argument("--predictions", action="store_true",
                   help="give sentences without an annotation the serving model's tags, marked as the model's "
                        "(CoNLL: a source column; JSONL: source and model; Label Studio: predictions with scores)")

    p = add("export-model", cmd_export_model, "write a model version as an ONNX file that onnxruntime runs "
            "(needs nerloop[onnx])")
    p.add_argument("version", metavar="VERSION", help="model id (as `nerloop models PROJECT` lists it), or a version "
                   "name such as v2 with --project")
    p.add_argument("--project", metavar="NAME", help="the project the version belongs to")
    p.add_argument("--onnx", required=True, metavar="OUT", help="ONNX file to write")

    p = add("models", cmd_models, "list model versions; promote one; roll back to the previous one")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("action", nargs="?", choices=("promote", "rollback"), metavar="promote ID | rollback")
    p.add_argument("id", nargs="?", type=int, help=argparse.SUPPRESS)

    p = add("jobs", cmd_jobs, "list jobs (`jobs [PROJECT]`), show one (`jobs status ID`), "
            "cancel one (`jobs cancel ID`)")
    p.add_argument("args", nargs="*", metavar="PROJECT | status ID | cancel ID")

    add("projects", cmd_projects, "list projects with sentence counts")

    p = add("users", cmd_users, "local accounts: add, list, change a password or role, remove")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    pw = argparse.ArgumentParser(add_help=False)
    pw.add_argument("--password-file", metavar="FILE", help="read the password from the file's first line "
                    "(default: a prompt)")
    role = {"choices": ROLES, "metavar": "|".join(ROLES)}
    a = actions.add_parser("add", help="add an account", parents=[db, pw])
    a.add_argument("name", metavar="NAME")
    a.add_argument("--role", required=True, **role)
    actions.add_parser("list", help="list the accounts", parents=[db])
    a = actions.add_parser("passwd", help="set a new password", parents=[db, pw])
    a.add_argument("name", metavar="NAME")
    a = actions.add_parser("role", help="change an account's role", parents=[db])
    a.add_argument("name", metavar="NAME")
    a.add_argument("role", **role)
    a = actions.add_parser("remove", help="remove an account (its annotations stay)", parents=[db])
    a.add_argument("name", metavar="NAME")

    p = add("audit", cmd_audit, "who did what and when: imports, training, promotions, exports, user and project "
            "changes")
    p.add_argument("project", nargs="?", metavar="PROJECT")
    p.add_argument("--all", action="store_true", help="every project's rows, and those of no project (users)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")

    strategy_help = vocab.STRATEGY_HELP
    p = add("suggest", cmd_suggest, "active learning: the unlabelled sentences to label next, by the serving "
            "version's stored uncertainty scores")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--strategy", type=lambda t: _strategies(t)[0], default="entropy", metavar="S",
                   help=strategy_help + " (default: entropy)")
    p.add_argument("-k", type=_positive(int), metavar="N", help="how many sentences (default 10)")
    p.add_argument("--tokens", type=_positive(int), metavar="N", help="at most N words in all")
    p.add_argument("--seed", type=_count, default=0, metavar="N")
    p.add_argument("--json", action="store_true", help="JSONL: id, tokens, text")

    p = add("reveal", cmd_reveal, "demo mode: the simulated annotator reveals the hidden gold of the next batch "
            "(chosen by strategy) and moves it to train")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--strategy", type=lambda t: _strategies(t)[0], default="entropy", metavar="S",
                   help=strategy_help + " (default: entropy)")
    p.add_argument("--batch", type=_positive(int), metavar="N", help="sentences to reveal (default 50)")
    p.add_argument("--tokens", type=_positive(int), metavar="N", help="at most N words in all")
    p.add_argument("--seed", type=_count, metavar="N")

    p = add("simulate", cmd_simulate, "simulated annotator: active-learning rounds on a labelled pool whose gold "
            "is revealed batch by batch; one learning curve per strategy", (hp,))
    p.add_argument("--pool", required=True, metavar="FILE", help="labelled pool (its tags stay hidden until selected)")
    p.add_argument("--dev", required=True, metavar="FILE", help="labelled dev file, scored every round")
    p.add_argument("--strategies", type=_strategies, default=["random", "least_confidence"],
                   metavar="S1,S2,...", help=strategy_help + "; default: random,least_confidence")
    p.add_argument("--seed-size", type=_positive(int), default=100, metavar="N",
                   help="random first batch (default 100)")
    p.add_argument("--batch", type=_positive(int), default=100, metavar="N", help="sentences revealed per round "
                   "(default 100)")
    p.add_argument("--batch-tokens", type=_positive(int), metavar="N", help="reveal up to N words per round instead")
    p.add_argument("--rounds", type=_positive(int), default=5, metavar="R", help="trainings per strategy (default 5)")
    p.add_argument("--retrain-from-base", action="store_true",
                   help="train every round from --model again instead of warm-starting from the round before")
    p.add_argument("--mc-passes", type=_count, default=8, metavar="N", help="dropout passes for bald (default 8)")
    p.add_argument("--out", metavar="FILE", help="write the curves as JSON")

    p = add("patterns", cmd_patterns, "entity patterns (spaCy EntityRuler JSONL) that pre-tag a project's sentences "
            "before its first model: add a file, list, clear, export")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = actions.add_parser("add", help="add a file's patterns (all of them, or none when a line is bad)", parents=[db])
    a.add_argument("project", metavar="PROJECT")
    a.add_argument("file", metavar="FILE", help='JSONL: {"label": LABEL, "pattern": TEXT or [token objects]}')
    for action, help in (("list", "list the patterns"), ("clear", "remove every pattern"),
                         ("export", "print the patterns as EntityRuler JSONL")):
        actions.add_parser(action, help=help, parents=[db]).add_argument("project", metavar="PROJECT")
    return parser


def cmd_patterns(args: argparse.Namespace) -> int:
    from core import patterns

    with _opened(args) as (store, project):
        if args.action == "add":
            try:
                text = Path(args.file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise CliError(f"{args.file}: {getattr(e, 'strerror', None) or e}") from None
            r = patterns.add_to_project(store, project.id, text, name=args.file, actor=_actor(args, store))
            print(f"{args.file}: {r['added']} added, {r['duplicates']} duplicates skipped; {project.name!r} has "
                  f"{store.patterns_stamp(project.id)[0]} patterns")
        elif args.action == "list":
            rules = store.patterns(project.id)
            rows = [[r.label, json.dumps(r.to_json()["pattern"], ensure_ascii=False)] for r in rules]
            print(_table(["label", "pattern"], rows) if rows else "no patterns")
        elif args.action == "clear":
            removed = store.clear_patterns(project.id, actor=_actor(args, store))
            print(f"removed {removed} patterns from {project.name!r}")
        else:
            sys.stdout.write(patterns.dumps(store.patterns(project.id)))
    return 0


def _log_to_stderr(level: int) -> None:
    """Log at `level` and above, on stderr unless a handler is set up already."""
    root = logging.getLogger()
    root.setLevel(level)
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (0 ok, 1 runtime failure, 2 usage or bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.verbose:  # else warnings only, on stderr (logging's last resort)
        _log_to_stderr(logging.INFO if args.verbose == 1 else logging.DEBUG)
    try:
        return args.func(args)
    except CliError as e:
        message, code = str(e), e.code
    except FormatError as e:
        message, code = str(e), 2
    except (StoreError, PermissionError) as e:
        message, code = str(e), 1
    except (KeyError, ValueError) as e:
        message, code = _first_line(e), 2
    except KeyboardInterrupt:
        message, code = "interrupted", 130
    except Exception as e:
        message, code = f"{type(e).__name__}: {_first_line(e)}", 1
    print(f"nerloop: error: {message}", file=sys.stderr)
    return code
