"""Commands on trained models: models (list, promote, roll back), evaluate, predict."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

from core import forgetting, formats, versions, vocab
from core.cli.common import (CliError, Parents, actor_of, adder, as_sentence, figure, labelled, load_tagger, model_dir,
                             open_store, opened, positive, project_model, quiet_transformers, read_corpus, table,
                             when)
from core.formats import Sentence
from core.store import ModelVersion, SentenceRow


def register(sub: argparse._SubParsersAction, parents: Parents) -> None:
    """Add evaluate, predict and models to the parser."""
    add = adder(sub, parents)
    p = add("evaluate", cmd_evaluate, "entity-level scores of a model on labelled data")
    model_or_project = p.add_mutually_exclusive_group()
    model_or_project.add_argument("--model", metavar="DIR", help="trained model folder")
    p.add_argument("--data", metavar="FILE", help="labelled file")
    model_or_project.add_argument("--project", metavar="NAME", help="evaluate on a project split")
    p.add_argument("--split", choices=("dev", "test"), help="project split (default: test)")
    p.add_argument("--model-id", type=int, metavar="N", help="project model version (default: serving)")
    p.add_argument("--json", action="store_true", help="print the scores as JSON")

    p = add("predict", cmd_predict, "tag text, a file, or a project's unlabeled sentences")
    p.add_argument("text", nargs="*", metavar="TEXT", help="plain text (split into sentences and words)")
    model_or_project = p.add_mutually_exclusive_group()
    model_or_project.add_argument("--model", metavar="DIR", help="trained model folder")
    model_or_project.add_argument("--project", metavar="NAME", help="use the project's serving model")
    p.add_argument("--file", metavar="FILE", help="input file (conll, jsonl or text)")
    output = p.add_mutually_exclusive_group()
    output.add_argument("--format", choices=("conll", "jsonl"), help="output format (default: [text](LABEL) lines)")
    output.add_argument("--json", action="store_true", help="JSONL: text and scored character spans")
    p.add_argument("--store", action="store_true", help="with --project alone: store as model annotations")
    p.add_argument("--batch-size", type=positive(int), default=64, metavar="N")

    p = add("models", cmd_models, "list model versions; promote one; roll back to the previous one; add a model "
            "folder trained elsewhere (`models add PROJECT FOLDER`)")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("action", nargs="?", metavar="promote ID | rollback | add FOLDER")
    p.add_argument("id", nargs="?", help=argparse.SUPPRESS)
    p.add_argument("--promote", choices=vocab.PROMOTE_POLICIES, help="with add: serve the added version (default: "
                   "better, as a training job)")


MODELS_USAGE = ("models: use `models PROJECT`, `models PROJECT promote ID`, `models PROJECT rollback` or "
                "`models add PROJECT FOLDER`")


def cmd_models(args: argparse.Namespace) -> int:
    if args.project == "add" and args.action not in (None, "promote", "rollback", "add") and args.id:
        args.project, args.action = args.action, "add"  # `models add PROJECT FOLDER`
    if args.action not in (None, "promote", "rollback", "add") or (args.action in ("promote", "add")) != bool(args.id):
        raise CliError(MODELS_USAGE)
    if args.promote and args.action != "add":
        raise CliError("models: --promote goes with add")
    if args.action == "promote" and not args.id.isdigit():
        raise CliError(f"models: promote takes a model id (as `models PROJECT` lists them), not {args.id!r}")
    if args.action == "add":
        return _add(args)
    with opened(args, "review") as (store, project):
        versions.cleanup(store)  # a version saved by a killed job is listed (registered), its leftovers removed
        if args.action == "promote":
            model = project_model(store, project, int(args.id))
            store.promote(model.id, actor=actor_of(args, store))
            print(f"now serving {model.name} (id {model.id}) for {project.name!r}")
        elif args.action == "rollback":
            model = store.model(store.rollback(project.id, actor=actor_of(args, store)))
            print(f"rolled back: now serving {model.name} (id {model.id}) for {project.name!r}")
        else:
            serving = project.serving_model_id
            rows = [["*" if m.id == serving else "", m.id, m.name, when(m.created), figure(m.dev_f1),
                     m.status, m.parent_id or "-", m.base_model] for m in store.models(project.id)]
            print(table(["", "id", "name", "created", "dev F1", "status", "parent", "base"], rows)
                  if rows else f"project {project.name!r} has no models yet")
    return 0


def _add(args: argparse.Namespace) -> int:
    """`models add PROJECT FOLDER`: register a model folder trained elsewhere as a version of the project."""
    from core import adopt

    with opened(args, "train") as (store, project):
        quiet_transformers()
        added = adopt.add(store, project.id, args.id, policy=args.promote or "better", actor=actor_of(args, store))
    model = added.model
    lineage = f"parent {added.parent.name}" if added.parent else "no parent in this project"
    print(f"added {args.id} as {model.name} (id {model.id}) of {project.name!r}: dev micro F1 {figure(added.dev_f1)} "
          f"on the project's dev split, {lineage}; {'promoted to serving' if added.promoted else 'not promoted'}; "
          f"folder {model.folder}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from core import predict, report
    from core.train import evaluate

    if not (args.model or args.project):
        raise CliError("evaluate: give either --model DIR --data FILE, or --project NAME")
    if args.model:
        if not args.data or args.split or args.model_id is not None:
            raise CliError("evaluate: --model needs --data FILE (--split and --model-id go with --project)")
        sentences = labelled(args.data)
        tagger = load_tagger(model_dir(args.model))
        scores = evaluate(tagger, [s.words for s in sentences], [s.tags for s in sentences]).scores
        rows, serving = None, None
    else:
        if args.data:
            raise CliError("evaluate: --data goes with --model, not --project")
        with opened(args, "review") as (store, project):
            split = args.split or "test"
            data = report.labelled(store, project.id, split)  # what the Evaluate page scores
            if not data.ids:
                other = "dev" if split == "test" else "test"
                raise CliError(f"project {project.name!r} has no labelled {split} sentences (try --split {other})")
            model = project_model(store, project, args.model_id)
            serving, models = store.serving(project.id), store.models(project.id)

        def score_of(version: ModelVersion) -> dict:
            return predict.score(load_tagger(model_dir(version.folder)), data).scores

        scores = score_of(model)
        rows = forgetting.versus_serving(model, scores, serving, models, score_of)
    if args.json:
        print(json.dumps({**_scores_json(scores), **({"classes": rows} if rows is not None else {})}, indent=2))
    else:
        print(_scores_table(scores) + ("" if rows is None else "\n\n" + _class_table(rows, serving)))
    return 0


def _class_table(rows: list[dict], serving: ModelVersion | None) -> str:
    """Per class: F1, against the serving version, and the forgetting (best earlier dev F1 minus now)."""
    def pts(v: float | None) -> str:
        return "-" if v is None else f"{v:+.2f}"

    body = [[r["class"], figure(r["f1"]), "-" if r["serving_f1"] is None else figure(r["serving_f1"]),
             pts(r["delta"]), pts(r["forgetting"])] for r in rows]
    head = ["label", "f1", f"serving ({serving.name if serving else 'none'})", "change (pt)", "forgetting (pt)"]
    return table(head, body) + "\nforgetting: the best dev F1 an earlier version recorded minus this one's"


def _scores_json(scores: dict) -> dict:
    keep = ("precision", "recall", "f1")
    return {"micro": {k: scores["micro"][k] for k in keep},
            "macro": {k: scores["macro"][k] for k in keep},
            "per_class": {label: {k: row[k] for k in (*keep, "support")} for label, row in scores["per_class"].items()},
            "accuracy": scores["accuracy"]}


def _scores_table(scores: dict) -> str:
    rows = [[label, figure(r["precision"]), figure(r["recall"]), figure(r["f1"]), r["support"]]
            for label, r in sorted(scores["per_class"].items())]
    support = sum(r["support"] for r in scores["per_class"].values())
    for name in ("micro", "macro"):
        r = scores[name]
        rows.append([name, figure(r["precision"]), figure(r["recall"]), figure(r["f1"]), support])
    return (table(["label", "precision", "recall", "f1", "support"], rows)
            + f"\ntoken accuracy {scores['accuracy']:.4f} on {scores['sentences']} sentences")


def cmd_predict(args: argparse.Namespace) -> int:
    if not (args.model or args.project):
        raise CliError("predict: give either --model DIR or --project NAME")
    if args.text and args.file:
        raise CliError("predict: give TEXT or --file, not both")
    if args.store and (args.text or args.file or not args.project):
        raise CliError("predict: --store goes with --project alone (it tags the project's unlabeled sentences)")
    if not (args.text or args.file or args.project):
        raise CliError("predict: give TEXT, --file FILE, or --project NAME")
    rows: list[SentenceRow] = []
    model_id = None
    if args.project:
        with opened(args, "train" if args.store else "annotate") as (store, project):
            model = project_model(store, project, None)
            model_id = model.id
            if not (args.text or args.file):
                rows = store.sentences(project.id, split="unlabeled")
                if not rows:
                    raise CliError(f"project {project.name!r} has no unlabeled sentences to tag")
        folder = model.folder
    else:
        folder = args.model
    if args.file:
        sentences = read_corpus(args.file).sentences
    elif args.text:
        sentences = [s for i, text in enumerate(args.text, 1)
                     for s in formats.loads(text, name=f"<text {i}>", fmt="text").sentences]
    else:
        sentences = [as_sentence(r) for r in rows]
    tagger = load_tagger(model_dir(folder))
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


def _store_predictions(args: argparse.Namespace, rows: list[SentenceRow], preds: list, model_id: int) -> int:
    """Append the predictions as source=model annotations, skipping sentences this model already tagged."""
    store = open_store(args)
    try:
        done = store.tagged_by(model_id, [r.id for r in rows])
        new = [(row.id, p.tags) for row, p in zip(rows, preds) if row.id not in done]
        store.annotate_many(new, source="model", model_id=model_id, annotator="nerloop predict")
    finally:
        store.close()
    added, skipped = len(new), len(rows) - len(new)
    print(f"stored {added} model annotations (model id {model_id}); {skipped} sentences already had one")
    return 0
