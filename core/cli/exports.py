"""Export commands: a project's annotations in a registry format (a file, or a folder such as hf's), a model version
to ONNX."""
from __future__ import annotations

import argparse
from pathlib import Path

from core import formats, vocab
from core.access import require
from core.cli.common import (CliError, Parents, actor_of, adder, available, load_tagger, model_dir, open_store,
                             opened, project_model, quiet_transformers, writable)
from core.export import EXPORT_FORMATS
from core.store import ModelVersion, Project, Store

ZIP = b"PK\x03\x04"  # what a zip starts with: a text format's export of several documents (webanno)


def register(sub: argparse._SubParsersAction, parents: Parents) -> None:
    """Add export and export-model to the parser."""
    add = adder(sub, parents)
    p = add("export", cmd_export, "write a project's effective annotations to a file (atomic)")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--out", metavar="FILE",
                   help="default: PROJECT-SPLITS.EXT in the current folder, named after what is in it as the app "
                        "names it (e.g. news-train-dev.conll; -predicted with --predictions)")
    p.add_argument("--format", choices=EXPORT_FORMATS,
                   help="default: from the extension of --out, else conll; hf: a Hugging Face DatasetDict folder "
                        "(save_to_disk), or a zip of one when FILE ends in .zip")
    p.add_argument("--split", choices=vocab.SPLITS, action="append",
                   help="a split to export, repeated for several (default: the splits that hold annotations, gold or "
                        "human; every split with --unlabeled or --predictions)")
    p.add_argument("--scheme", choices=formats.SCHEMES,
                   help="CoNLL tag scheme (default: the imported CoNLL files' own, else iob2)")
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


def cmd_export(args: argparse.Namespace) -> int:
    from core import export

    if args.predictions and args.format not in (None, *export.PREDICTING):
        raise CliError(f"export: --predictions needs one of {', '.join(export.PREDICTING)}, not {args.format}")
    try:
        fmt = export.export_format(args.out, args.format) if args.out else args.format or "conll"
    except ValueError as e:
        raise CliError(f"{e}; pass --format" if args.format is None else str(e)) from None
    available(fmt)
    if args.predictions and fmt not in export.PREDICTING:
        raise CliError(f"export: --predictions needs one of {', '.join(export.PREDICTING)}, not {fmt}")
    everything = args.unlabeled or args.predictions
    with opened(args, "export") as (store, project):
        splits = args.split or (vocab.SPLITS if everything else export.default_splits(store, project.id))
        model = project_model(store, project, None) if args.predictions else None
        tagger = load_tagger(model_dir(model.folder)) if model else None
        out = export.export_annotations(store, project.id, splits=splits, fmt=fmt, scheme=args.scheme,
                                        unlabeled=args.unlabeled, tagger=tagger,
                                        model_name=model.name if model else "", actor=actor_of(args, store))
        written = export.written_splits(store, project.id, splits, everything=everything)
        path = args.out or export.download_name(store, project.id, project.name, written, fmt,
                                                predicted=tagger is not None)
    if not out.written:
        raise CliError(f"nothing to export: project {project.name!r} has no "
                       f"{'' if args.unlabeled else 'annotated '}sentences"
                       + (f" in {', '.join(args.split)}" if args.split else ""))
    if out.data.startswith(ZIP) and not formats.get(fmt).binary and not path.lower().endswith(".zip"):
        if args.out:  # webanno: several documents are a zip of one .tsv each
            raise CliError(f"{path}: the export holds several documents, a zip of one file each: pass "
                           f"--format {fmt} --out NAME.zip")
        path = str(Path(path).with_suffix(".zip"))
    unpack = formats.get(fmt).folder and not path.lower().endswith(".zip")  # hf: a save_to_disk folder
    try:
        if unpack:
            writable(path)
            formats.write_folder(path, out.data, fmt)
        else:
            formats.write_atomic(path, out.data)
    except OSError as e:
        raise CliError(f"{path}: {e.strerror or e}", 2 if isinstance(e, FileNotFoundError) else 1) from None
    print(f"wrote {out.written} sentences of {', '.join(written)} to {path}"
          f"{f' (a {fmt} folder)' if unpack else ''} ({out.left_out} without annotations left out)")
    if out.lost:
        print(f"not in a {fmt} file (kept in the project; export in their own format to write them back): "
              f"{formats.kept_text(out.lost)}")
    if out.dropped:
        print(f"not written, gone with what they were on: {formats.kept_text(out.dropped)}")
    return 0


def cmd_export_model(args: argparse.Namespace) -> int:
    from core import onnx_model

    store = open_store(args)
    try:
        actor = actor_of(args, store)
        require(actor, "export")
        model = _version(store, store.open_project(args.project, actor) if args.project else None, args.version)
        store.authorize(actor, "export", model.project_id)
        store.add_audit(actor, "export", project_id=model.project_id, model_id=model.id, format="onnx")
    finally:
        store.close()
    folder = model_dir(model.folder)
    writable(args.onnx)
    quiet_transformers()
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
