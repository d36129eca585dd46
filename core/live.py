"""The live head: a light classifier on cached encoder states, refitted after every save (core.learner runs it).

Each word's state is the encoder's last `LAYERS` hidden layers at its first subword, standardised and projected on
`STATE_DIMS` principal axes fixed once per encoder version (`Basis`); a word is described by its state, the mean of
its neighbours' and its casing (the default encoder is uncased). A multinomial logistic regression on those features
is warm-started from the previous fit, and decoded with the constrained IOB2 Viterbi of core.model."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from core.model import Tagger, _allowed_transitions, word_shape

LAYERS = 4  # hidden layers concatenated per word (the last ones)
L2 = 1e-3  # weight decay of the head (mean cross-entropy + L2 * |W|^2)
MAX_ITER = 60  # L-BFGS iterations of a cold fit
WARM_ITER = 15  # and of a warm-started refit
FIT_S = 0.5  # a warm-started refit after a save stops after this many seconds; the learner resumes it when idle
STATE_DIMS = 256  # a word state's size once projected (Basis)
BASIS_SAMPLE = 400  # sentences whose states fix an encoder's Basis
_CASE = 6  # casing features: shape classes 1-4, first word of the sentence, has a digit


@dataclass
class Encoded:
    """Per sentence: word states (words, LAYERS x hidden), casing bits, and the tagger's own label probabilities when
    its head is trained (None for a plain encoder)."""

    states: list[np.ndarray]
    cases: list[np.ndarray]
    probs: list[np.ndarray] | None


def encode(tagger: Tagger, sentences: Sequence[Sequence[str]], *, batch_size: int = 32) -> Encoded:
    """One encoder pass over `sentences`: the states the head reads and, for a trained version, its predictions."""
    sentences = [list(s) for s in sentences]
    cfg = tagger.model.config
    layers = min(LAYERS, cfg.num_hidden_layers + 1)  # hidden_states: the embeddings, then each layer
    cut = layers * cfg.hidden_size
    width = cut + (len(tagger.labels) if tagger.trained else 0)

    def forward(batch):
        out = tagger.model(**batch, output_hidden_states=True)
        parts = list(out.hidden_states[-LAYERS:])
        if tagger.trained:
            parts.append(torch.softmax(out.logits.float(), -1))
        return torch.cat([p.float() for p in parts], -1)

    rows = tagger.per_word(sentences, forward, width, batch_size)
    states = [r[:, :cut] for r in rows]
    return Encoded(states, [case_bits(s) for s in sentences], [r[:, cut:] for r in rows] if tagger.trained else None)


def case_bits(words: Sequence[str]) -> np.ndarray:
    """(words, 6) float32 casing features (the default encoder is uncased): shape classes 1-4 of core.model's
    word_shape, first word of the sentence, has a digit."""
    case = np.zeros((len(words), _CASE), np.float32)
    for i, w in enumerate(words):
        case[i, word_shape(w) - 1] = 1.0
        case[i, 4] = float(i == 0)
        case[i, 5] = float(any(c.isdigit() for c in w))
    return case


def features(states: np.ndarray, case: np.ndarray) -> np.ndarray:
    """(words, F) float32: the word's states, the mean of the previous and next word's (zeros at the edges), its
    casing bits (`case_bits`)."""
    s = np.asarray(states, dtype=np.float32)
    return np.concatenate([s, _neighbours(s), case], 1)


def _neighbours(s: np.ndarray, starts: np.ndarray | None = None) -> np.ndarray:
    """Mean of each row's previous and next row (zeros past the edges); with `starts` (a flat array of several
    sentences), the edges are the sentences' own."""
    prev = np.zeros_like(s)
    nxt = np.zeros_like(s)
    if len(s) > 1:
        prev[1:], nxt[:-1] = s[:-1], s[1:]
    if starts is not None and len(starts):
        first = starts[starts > 0]
        prev[first] = 0
        nxt[first - 1] = 0
    return (prev + nxt) / 2


@dataclass
class Basis:
    """The projection of one encoder's word states: standardised, then onto their principal axes (completed by
    random orthogonal ones when the sample has fewer rows than `STATE_DIMS`)."""

    mean: np.ndarray
    scale: np.ndarray
    axes: np.ndarray  # (hidden x layers, dims)

    @classmethod
    def fit(cls, sample: np.ndarray, dims: int = STATE_DIMS, *, seed: int = 0) -> "Basis":
        sample = np.asarray(sample, np.float32)
        mean, scale = sample.mean(0), sample.std(0)
        scale = np.where(scale > 1e-6, scale, 1.0).astype(np.float32)
        dims = min(dims, sample.shape[1])
        z = torch.from_numpy((sample - mean) / scale)
        _, _, v = torch.linalg.svd(z, full_matrices=False)
        axes = v[:dims].T
        if axes.shape[1] < dims:  # too few rows: random directions orthogonal to the found ones
            extra = torch.randn(axes.shape[0], dims - axes.shape[1], generator=torch.Generator().manual_seed(seed))
            axes = torch.linalg.qr(torch.cat([axes, extra], 1))[0]
        return cls(mean.astype(np.float32), scale, axes.contiguous().numpy())

    def __call__(self, states: np.ndarray) -> np.ndarray:
        """(words, dims) float32 projected states."""
        z = (torch.from_numpy(np.asarray(states, np.float32)) - torch.from_numpy(self.mean)) / torch.from_numpy(
            self.scale)
        return (z @ torch.from_numpy(self.axes)).numpy()

    def save(self, path: Path) -> None:
        tmp = path.parent / f".{path.name}.tmp.npz"
        np.savez(tmp, mean=self.mean, scale=self.scale, axes=self.axes)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> "Basis":
        with np.load(path) as data:
            return cls(data["mean"], data["scale"], data["axes"])


@dataclass
class Head:
    """Multinomial logistic regression over standardised word features, for one label set."""

    labels: list[str]
    mean: np.ndarray
    scale: np.ndarray
    weight: torch.Tensor | None = None  # (F, C)
    bias: torch.Tensor | None = None  # (C,)
    fits: int = 0
    cut: bool = False  # the last fit stopped at its deadline, before L-BFGS had converged or used its iterations
    _masks: tuple[np.ndarray, np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._masks = _allowed_transitions(self.labels)

    @classmethod
    def standardised_on(cls, labels: Sequence[str], sample: np.ndarray) -> "Head":
        """A head whose feature scaling is fixed from `sample` (rows of `features`), so that warm starts stay
        comparable: centred; the projected states share one scale (their principal axes keep their variances, so
        the L2 penalty shrinks the weak ones most), each casing bit its own."""
        sample = np.asarray(sample, np.float32)
        scale = sample.std(0)
        states = sample.shape[1] - _CASE
        scale[:states] = np.sqrt(np.mean(scale[:states] ** 2))
        return cls(list(labels), sample.mean(0).astype(np.float32),
                   np.where(scale > 1e-6, scale, 1.0).astype(np.float32))

    def _x(self, x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy((np.asarray(x, np.float32) - self.mean) / self.scale)

    def fit(self, x: np.ndarray, y: np.ndarray, *, l2: float = L2, max_iter: int | None = None,
            seconds: float | None = None) -> "Head":
        """Fit on feature rows `x` and label ids `y`, from the previous weights when there are any (warm start);
        stops after `max_iter` L-BFGS iterations (default: MAX_ITER cold, WARM_ITER warm) or `seconds`."""
        xt, yt = self._x(x), torch.from_numpy(np.asarray(y, np.int64))
        return self.fit_projected(xt, yt, l2=l2, max_iter=max_iter, seconds=seconds)

    def fit_projected(self, xt: torch.Tensor, yt: torch.Tensor, *, l2: float = L2, max_iter: int | None = None,
                      seconds: float | None = None) -> "Head":
        """`fit` on rows already standardised (`project`)."""
        c = len(self.labels)
        warm = self.weight is not None
        w = (self.weight.clone() if warm else torch.zeros(xt.shape[1], c)).requires_grad_(True)
        b = (self.bias.clone() if warm else torch.zeros(c)).requires_grad_(True)
        iters = max_iter or (WARM_ITER if warm else MAX_ITER)
        opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=iters, history_size=10, line_search_fn="strong_wolfe")
        deadline = None if seconds is None else time.monotonic() + seconds
        self.cut = False

        def closure():
            opt.zero_grad()
            if deadline is not None and time.monotonic() > deadline:
                # out of time: a zero gradient ends L-BFGS here
                self.cut = True
                loss = (w * 0).sum() + (b * 0).sum()
                loss.backward()
                return loss
            loss = torch.nn.functional.cross_entropy(xt @ w + b, yt) + l2 * (w * w).sum()
            loss.backward()
            return loss

        if len(yt):
            opt.step(closure)
        self.weight, self.bias = w.detach(), b.detach()
        self.fits += 1
        return self

    def raw(self) -> tuple[np.ndarray, np.ndarray]:
        """The fitted head as weights on unscaled features: logits = features @ W + b."""
        w = self.weight.numpy() / self.scale[:, None]
        return w.astype(np.float32), (self.bias.numpy() - self.mean @ w).astype(np.float32)

    def log_probs_many(self, states: Sequence[np.ndarray], cases: Sequence[np.ndarray], *,
                       chunk: int = 2000) -> np.ndarray:
        """Flat (words, C) log-probabilities of many sentences from their states and casing bits, without building
        their feature rows: the features are linear in the states."""
        w, b = self.raw()
        d = states[0].shape[1] if len(states) else 0
        both = torch.from_numpy(np.concatenate([w[:d], w[d:2 * d]], 1))  # the word's own states, its neighbours'
        c = len(self.labels)
        out = []
        for k in range(0, len(states), chunk):
            part = states[k:k + chunk]
            lengths = np.array([len(x) for x in part])
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int)
            uv = (torch.from_numpy(np.concatenate(part)).float() @ both).numpy()
            logits = uv[:, :c] + _neighbours(uv[:, c:], starts) + np.concatenate(cases[k:k + chunk]) @ w[2 * d:] + b
            out.append(torch.log_softmax(torch.from_numpy(logits), -1).numpy())
        return np.concatenate(out) if out else np.zeros((0, c), np.float32)

    def project(self, x: np.ndarray) -> torch.Tensor:
        """Feature rows standardised as the head reads them."""
        return self._x(x)

    def log_probs(self, x: np.ndarray) -> np.ndarray:
        """(rows, C) log-probabilities of feature rows."""
        if self.weight is None:
            return np.full((len(x), len(self.labels)), -np.log(len(self.labels)), np.float32)
        with torch.no_grad():
            return torch.log_softmax(self._x(x) @ self.weight + self.bias, -1).numpy()

    def decode(self, logp: np.ndarray, lengths: Sequence[int]) -> list[list[int]]:
        """Best IOB2-valid label ids per sentence of flat (rows, C) log-probabilities, all sentences at once."""
        return viterbi_many(logp, lengths, *self._masks)


def viterbi_many(logp: np.ndarray, lengths: Sequence[int], start: np.ndarray, trans: np.ndarray) -> list[list[int]]:
    """core.model.viterbi over many sentences at once: sentences padded to the longest, one step per position."""
    lengths = np.asarray(lengths, int)
    out: list[list[int]] = [[] for _ in lengths]
    if not len(lengths) or lengths.max(initial=0) == 0:
        return out
    n, t_max, c = len(lengths), int(lengths.max()), logp.shape[1]
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    pad = np.zeros((n, t_max, c), np.float64)
    pos = np.arange(t_max)
    valid = pos[None, :] < lengths[:, None]
    rows = (offsets[:, None] + pos[None, :])[valid]
    pad[valid] = logp[rows]
    score = pad[:, 0] + start
    back = np.zeros((n, t_max, c), np.int64)
    for t in range(1, t_max):
        cand = score[:, :, None] + trans[None]
        best = cand.argmax(1)
        new = np.take_along_axis(cand, best[:, None, :], 1)[:, 0] + pad[:, t]
        live = valid[:, t]
        score = np.where(live[:, None], new, score)
        back[:, t] = best
    paths = np.zeros((n, t_max), np.int64)
    cur = score.argmax(1)  # each sentence's best last label; followed back from its own end
    rows = np.arange(n)
    for t in range(t_max - 1, -1, -1):
        inside = t < lengths - 1  # this position is before the sentence's end: step back from t + 1
        if t + 1 < t_max:
            cur = np.where(inside, back[rows, t + 1, cur], cur)
        paths[:, t] = cur
    return [paths[k, :length].tolist() for k, length in enumerate(lengths)]


class StateCache:
    """Projected word states of one encoder version, on disk (chunk files written atomically, the Basis beside them)
    and in memory, by sentence id; each sentence is encoded once per version. The first sentences encoded (up to
    `BASIS_SAMPLE`) fix the Basis. `computed` counts the sentences this instance encoded."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        basis = self.folder / "basis.npz"
        self.basis = Basis.load(basis) if basis.is_file() else None
        if self.basis is None:  # states are only kept with the basis that projected them
            for stale in self.folder.glob("chunk-*.npz"):
                stale.unlink()
        self.states: dict[int, np.ndarray] = {}
        self.cases: dict[int, np.ndarray] = {}
        self.probs: dict[int, np.ndarray] = {}
        self.computed = 0
        for chunk in sorted(self.folder.glob("chunk-*.npz")):
            try:
                self._load(chunk)
            except (OSError, ValueError, KeyError):  # a chunk that cannot be read is encoded again
                chunk.unlink(missing_ok=True)

    def _load(self, chunk: Path) -> None:
        with np.load(chunk) as data:
            ids, offsets, cases = data["ids"], data["offsets"], data["cases"]
            states = data["states"].astype(np.float32)
            probs = data["probs"] if "probs" in data.files else None
        for k, sid in enumerate(ids.tolist()):
            self.states[sid] = states[offsets[k]:offsets[k + 1]]
            self.cases[sid] = cases[offsets[k]:offsets[k + 1]]
            if probs is not None:
                self.probs[sid] = probs[offsets[k]:offsets[k + 1]]

    def __contains__(self, sentence_id: int) -> bool:
        return sentence_id in self.states

    def missing(self, ids: Sequence[int]) -> list[int]:
        return [i for i in ids if i not in self.states]

    def add(self, ids: Sequence[int], encoded: Encoded) -> None:
        """Keep freshly encoded sentences, projected, in memory and in a new chunk file (temp file, then rename); the
        first ones fix the basis."""
        if not ids:
            return
        if self.basis is None:
            self.basis = Basis.fit(np.concatenate(encoded.states))
            self.basis.save(self.folder / "basis.npz")
        encoded = Encoded([self.basis(s) for s in encoded.states], encoded.cases, encoded.probs)
        lengths = [len(s) for s in encoded.states]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        width = encoded.states[0].shape[1] if encoded.states else 0
        arrays = {"ids": np.asarray(ids, np.int64), "offsets": offsets,
                  "states": np.concatenate(encoded.states).astype(np.float16) if sum(lengths) else
                  np.zeros((0, width), np.float16),
                  "cases": np.concatenate(encoded.cases) if sum(lengths) else np.zeros((0, _CASE), np.float32)}
        if encoded.probs is not None:
            arrays["probs"] = np.concatenate(encoded.probs).astype(np.float32) if sum(lengths) else \
                np.zeros((0, 0), np.float32)
        name = f"chunk-{time.time_ns():020d}-{os.getpid()}"
        tmp = self.folder / f".{name}.tmp.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, self.folder / f"{name}.npz")
        for k, sid in enumerate(ids):
            self.states[int(sid)] = encoded.states[k]
            self.cases[int(sid)] = encoded.cases[k]
            if encoded.probs is not None:
                self.probs[int(sid)] = encoded.probs[k]
        self.computed += len(ids)

    def ensure(self, tagger: Tagger, ids: Sequence[int], words: Callable[[list[int]], list[list[str]]], *,
               batch: int = 64) -> int:
        """Encode the sentences of `ids` not cached yet, `batch` at a time (the first `BASIS_SAMPLE` at once while
        there is no basis); returns how many were encoded."""
        todo = self.missing(ids)
        k = 0
        while k < len(todo):
            size = BASIS_SAMPLE if self.basis is None else batch
            chunk = todo[k:k + size]
            self.add(chunk, encode(tagger, words(chunk)))
            k += len(chunk)
        return len(todo)


@dataclass
class Fitted:
    """What a refit produced: the head, its dev F1 and the base version's on the same sentences, sizes and time."""

    head: Head
    dev_f1: float | None
    base_f1: float | None
    train_sentences: int
    dev_sentences: int
    seconds: float
    held_out: bool = False  # no dev split: scored on a held-out share of the labels


def write_predictions(path: Path, ids: Sequence[int], lengths: Sequence[int], probs: np.ndarray,
                      labels: Sequence[str], uncertainty: dict[str, np.ndarray]) -> Path:
    """A head's predictions of many sentences in one file (temp file, then rename): each word's label
    probabilities (decoded when a sentence is read: publishing skips a Viterbi pass over the whole pool), and
    sentence uncertainty scores by core.active key."""
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    tmp = path.parent / f".{path.name}.tmp.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(tmp, ids=np.asarray(ids, np.int64), offsets=offsets, probs=np.asarray(probs, np.float16),
             labels=np.asarray(json.dumps(list(labels))),
             **{f"u:{k}": np.asarray(v, np.float32) for k, v in uncertainty.items()})
    os.replace(tmp, path)
    return path


@dataclass
class Predictions:
    """A head's predictions file, read back: per sentence id its best IOB2 tags (decoded when asked) and their
    probabilities; uncertainty scores."""

    labels: list[str]
    index: dict[int, int]
    offsets: np.ndarray
    probs: np.ndarray
    uncertainty: dict[str, np.ndarray]

    @classmethod
    def read(cls, path: str | Path) -> "Predictions":
        with np.load(path) as data:
            ids = data["ids"].tolist()
            unc = {k[2:]: data[k] for k in data.files if k.startswith("u:")}
            return cls(json.loads(str(data["labels"])), {int(i): k for k, i in enumerate(ids)}, data["offsets"],
                       data["probs"], unc)

    def get(self, sentence_id: int) -> tuple[list[str], list[float]] | None:
        k = self.index.get(sentence_id)
        if k is None:
            return None
        probs = self.probs[self.offsets[k]:self.offsets[k + 1]].astype(np.float32)
        with np.errstate(divide="ignore"):
            [path] = viterbi_many(np.log(probs), [len(probs)], *_allowed_transitions(self.labels))
        return [self.labels[j] for j in path], [float(probs[n, j]) for n, j in enumerate(path)]

    def ranked(self, key: str, pool: Sequence[int]) -> list[int]:
        """The ids of `pool` this file scored, most uncertain first by `key` (a core.active column)."""
        values = self.uncertainty.get(key)
        if values is None:
            return []
        scored = [(float(values[self.index[i]]), i) for i in pool if i in self.index]
        return [i for _, i in sorted(scored, key=lambda p: (-p[0], p[1]))]
