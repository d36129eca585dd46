"""ONNX export of a model folder (torch.onnx, dynamo exporter) and a Tagger that runs the exported file through
onnxruntime, with the same windows, batching and constrained decoding as the PyTorch one."""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from core.model import Tagger

NEEDED = ("onnx", "onnxscript", "onnxruntime")
OPSET = 18


def missing() -> list[str]:
    """The ONNX packages that are not installed."""
    return [name for name in NEEDED if importlib.util.find_spec(name) is None]


def _require() -> None:
    if gone := missing():
        raise RuntimeError(f"ONNX support needs {', '.join(gone)}: pip install 'nerloop[onnx]'")


class _Logits(nn.Module):
    """The token classifier with positional inputs and the logits as its one output (what the exporter traces)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **extra).logits


def export(folder: str | Path, out: str | Path) -> Path:
    """Write the trained model of `folder` as one ONNX file `out` (atomic); inputs `input_ids`, `attention_mask`
    (and `token_type_ids` when the model has the word-shape feature), dynamic batch and length; output `logits`.
    The labels and the shape flag are stored in the file's metadata; the tokenizer stays in `folder`."""
    _require()
    import onnx

    tagger = Tagger.load(str(folder), device="cpu")
    if not tagger.trained:
        raise ValueError(f"{folder}: not a trained token classifier")
    tagger.model.eval()
    # two sentences of different lengths: padding in the example, so no shape is specialised to it
    example = tagger.collate(tagger.windows([["An", "example", "sentence", "."], ["Short"]]))
    names = list(example)
    dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("length")}
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        program = torch.onnx.export(_Logits(tagger.model).eval(), tuple(example[k] for k in names), input_names=names,
                                    output_names=["logits"], dynamic_shapes={k: dims for k in names},
                                    opset_version=OPSET, dynamo=True, external_data=False, verbose=False)
        model = program.model_proto
        meta = {"nerloop_labels": json.dumps(tagger.labels), "nerloop_shape": json.dumps(tagger.shape),
                "nerloop_max_len": str(tagger.max_len)}
        for key, value in meta.items():
            model.metadata_props.add(key=key, value=value)
        onnx.save(model, str(tmp))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


class _Session(nn.Module):
    """An onnxruntime session in the place of the PyTorch model (Tagger only calls it and switches eval mode)."""

    def __init__(self, path: str | Path, config, threads: int | None):
        super().__init__()
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.config = config
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        labels = json.loads(self.session.get_modelmeta().custom_metadata_map.get("nerloop_labels", "null"))
        if labels is not None and labels != [config.id2label[i] for i in range(config.num_labels)]:
            raise ValueError(f"{path}: its labels {labels} are not those of the model folder it is used with")

    def forward(self, **batch: torch.Tensor) -> SimpleNamespace:
        feeds = {k: batch[k].cpu().numpy() for k in self.inputs}
        return SimpleNamespace(logits=torch.from_numpy(self.session.run(["logits"], feeds)[0]))


def load(path: str | Path, folder: str | Path, *, threads: int | None = None) -> Tagger:
    """A Tagger predicting with the ONNX file `path`; `folder` (the version it was exported from) gives the
    tokenizer and the label set. `threads`: onnxruntime's intra-op threads (default: its own choice)."""
    if "onnxruntime" in missing():
        raise RuntimeError("running an ONNX model needs onnxruntime: pip install 'nerloop[onnx]'")
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(str(folder))
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    return Tagger(_Session(path, config, threads), tokenizer, device=torch.device("cpu"))
