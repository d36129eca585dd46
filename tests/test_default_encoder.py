"""A few checks with the real default encoder (the packaged MiniLM) on a handful of sentences."""
from __future__ import annotations

from pathlib import Path

from core import formats
from core.model import Tagger, resolve
from core.train import TrainConfig, run

DATA = Path(__file__).parent / "data"
LABELS = ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


def test_default_loads_offline_with_alignment():
    tagger = Tagger.load("default", labels=LABELS, device="cpu")
    assert Path(resolve("default")).is_dir()
    params = sum(p.numel() for p in tagger.model.parameters())
    assert 22_000_000 < params < 23_500_000 and tagger.shape and tagger.max_len == 512
    words = ["Zyxwquorn", "visited", "Qwertzuiopland", "."]
    tags = ["B-PER", "O", "B-LOC", "O"]
    pieces = tagger.pieces([words])[0]
    assert len(pieces[0]) > 1 and len(pieces[2]) > 1  # rare names split into several subwords
    (win,) = tagger.windows([words], [tags])
    labelled = [(i, lab) for i, lab in enumerate(win.labels) if lab != -100]
    assert [i for i, _ in labelled] == win.first_piece
    assert [tagger.labels[lab] for _, lab in labelled] == tags
    pred = tagger.predict([words, ["a"] * 600])  # a long sentence is windowed, not truncated
    assert len(pred[0].tags) == 4 and len(pred[1].tags) == 600


def test_default_fine_tunes_and_saves_a_pipeline_folder(tmp_path):
    from transformers import pipeline

    train = formats.read(DATA / "sample.conll").sentences
    cfg = TrainConfig(epochs=1, min_steps=60, lr=1e-4, batch_size=16, device="cpu", seed=3, labels=LABELS)
    out = tmp_path / "v1"
    last = run(cfg, train, train[:15], out)
    assert last.kind == "saved" and (out / "model.safetensors").exists() and (out / "metrics.json").exists()
    assert last.scores["micro"]["f1"] > 0.5  # 60 steps are enough to learn the sample's entities
    tagger = Tagger.load(str(out), device="cpu")
    assert tagger.labels == LABELS and tagger.shape
    nlp = pipeline("token-classification", model=str(out), device=-1)
    found = nlp(train[0].text)
    assert isinstance(found, list) and all(f["entity"] in LABELS for f in found)
