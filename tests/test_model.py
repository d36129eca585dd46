"""Tests for core.model: subword alignment, windows over long sentences, word shape, save/reload, decoding."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from core.model import SHAPE_TYPES, Tagger, _allowed_transitions, viterbi, word_shape

LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
# Words the tiny WordPiece vocabulary splits into several pieces, mixed with known ones.
WORDS = ["Zyxwvut-Qqq", "visited", "Qqzzkk", "Paris", "on", "Kkqqzz", "."]
TAGS = ["B-PER", "O", "B-LOC", "I-LOC", "O", "B-PER", "O"]
SENTENCE = "John visited Paris on Monday .".split()


@pytest.fixture(scope="module")
def tagger(tiny_model) -> Tagger:
    """The tiny BERT with a fresh head; shape rows made distinct so the shape feature changes the output."""
    t = Tagger.load(tiny_model, labels=LABELS, device="cpu")
    emb = t.model.base_model.embeddings.token_type_embeddings
    with torch.no_grad():
        emb.weight.add_(torch.randn(emb.weight.shape, generator=torch.Generator().manual_seed(0)))
    return t


@pytest.fixture(scope="module")
def saved(tagger, tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("saved") / "model"
    tagger.save(folder)
    return str(folder)


def test_alignment_labels_first_subword_only(tagger):
    pieces = tagger.pieces([WORDS])[0]
    assert len(pieces) == len(WORDS)
    assert len(pieces[0]) > 1 and len(pieces[2]) > 1 and len(pieces[5]) > 1  # really split into subwords
    (win,) = tagger.windows([WORDS], [TAGS])
    ids, labels = win.input_ids, win.labels
    assert len(labels) == len(ids) == sum(map(len, pieces)) + 2
    assert ids[0] == tagger.tokenizer.cls_token_id and ids[-1] == tagger.tokenizer.sep_token_id
    assert labels[0] == labels[-1] == -100
    firsts = set(win.first_piece)
    for w, pos in enumerate(win.first_piece):
        assert labels[pos] == tagger.label2id[TAGS[w]]
        assert ids[pos : pos + len(pieces[w])] == pieces[w]
    assert all(lab == -100 for pos, lab in enumerate(labels) if pos not in firsts)
    assert sum(lab != -100 for lab in labels) == len(WORDS)


def test_empty_word_becomes_unk(tagger):
    pieces = tagger.pieces([["Paris", "", "."]])[0]
    assert pieces[1] == [tagger.tokenizer.unk_token_id]


def long_sentence(n: int) -> list[str]:
    vocab = ["Paris", "Zyxwvut", "the", "Qqzzkk-Lmn", "visited", ",", "Kkqqzz", "London"]
    return [vocab[i % len(vocab)] for i in range(n)]


def test_windows_partition_a_long_sentence(tagger):
    words = long_sentence(400)
    tags = ["B-LOC" if i % 5 == 0 else "O" for i in range(len(words))]
    wins = tagger.windows([words], [tags], max_len=32)
    assert len(wins) > 5
    owned = []
    for w in wins:
        assert len(w.input_ids) <= 32
        assert len(w.first_piece) == len(w.words)
        assert w.owned.start >= w.words.start and w.owned.stop <= w.words.stop
        assert sum(lab != -100 for lab in w.labels) == len(w.owned)
        owned.extend(w.owned)
    assert owned == list(range(len(words)))  # every word owned by exactly one window, in order
    assert any(a.words.stop > b.words.start for a, b in zip(wins, wins[1:]))  # windows overlap (context)


def test_predict_long_sentence_is_not_truncated(tagger):
    words = long_sentence(400)
    assert sum(map(len, tagger.pieces([words])[0])) > tagger.max_len
    short, long_, empty = tagger.predict([SENTENCE, words, []], batch_size=4)
    assert len(long_.tags) == len(long_.scores) == len(words)
    assert long_.probs.shape == (len(words), len(LABELS))
    np.testing.assert_allclose(long_.probs.sum(1), 1.0, rtol=1e-4)
    assert len(short.tags) == len(SENTENCE) and empty.tags == [] and empty.probs.shape == (0, len(LABELS))
    for p in (short, long_):
        assert valid_iob2(p.tags)
        assert p.scores == pytest.approx([p.probs[i, LABELS.index(t)] for i, t in enumerate(p.tags)])


@pytest.mark.parametrize(
    "word,shape",
    [("paris", 1), ("123", 1), ("--", 1), ("", 1), ("Paris", 2), ("A", 2), ("Élan", 2), ("NASA", 3),
     ("U.S.", 3), ("iPhone", 4), ("McDonald", 4), ("eBay", 4)],
)
def test_word_shape(word, shape):
    assert word_shape(word) == shape


def test_shape_ids_go_in_token_type_ids(tagger, tiny_model):
    assert tagger.shape and tagger.model.config.nerloop_shape
    assert tagger.model.base_model.embeddings.token_type_embeddings.num_embeddings == SHAPE_TYPES
    pieces = tagger.pieces([WORDS])[0]
    batch = tagger.collate(tagger.windows([WORDS]))
    expected = [0] + [word_shape(w) for w, p in zip(WORDS, pieces) for _ in p] + [0]
    assert batch["token_type_ids"][0].tolist() == expected
    assert len(set(expected)) >= 4
    with torch.inference_mode():
        plain = {**batch, "token_type_ids": torch.zeros_like(batch["token_type_ids"])}
        assert not torch.allclose(tagger.model(**batch).logits, tagger.model(**plain).logits)

    no_shape = Tagger.load(tiny_model, labels=LABELS, device="cpu", shape=False)
    assert not no_shape.shape and "token_type_ids" not in no_shape.collate(no_shape.windows([WORDS]))


def test_save_reload_same_labels_shape_and_predictions(tagger, saved):
    again = Tagger.load(saved, device="cpu")
    assert again.labels == LABELS and again.shape and again.model.config.nerloop_shape
    assert again.model.config.type_vocab_size == SHAPE_TYPES
    sentences = [SENTENCE, WORDS, long_sentence(300)]
    for a, b in zip(tagger.predict(sentences), again.predict(sentences)):
        assert a.tags == b.tags
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-6)


def test_saved_folder_runs_in_a_transformers_pipeline(saved):
    from transformers import pipeline

    pipe = pipeline("token-classification", model=saved, ignore_labels=[])
    out = pipe(" ".join(SENTENCE))
    assert [o["word"] for o in out] == SENTENCE
    # the pipeline feeds token type 0 (no shape): it must agree with the model run the same way
    again = Tagger.load(saved, device="cpu")
    enc = again.tokenizer(" ".join(SENTENCE), return_tensors="pt")
    with torch.inference_mode():
        best = again.model(**enc).logits[0, 1:-1].argmax(-1).tolist()
    assert [o["entity"] for o in out] == [LABELS[i] for i in best]


def valid_iob2(tags: list[str]) -> bool:
    prev = "O"
    for t in tags:
        if t.startswith("I-") and prev[2:] != t[2:]:
            return False
        prev = t
    return True


def test_viterbi_never_outputs_invalid_iob2():
    start, trans = _allowed_transitions(LABELS)
    rng = np.random.default_rng(0)
    for _ in range(400):
        logp = np.log(rng.dirichlet(np.ones(len(LABELS)) * 0.3, size=int(rng.integers(1, 15))))
        path = viterbi(logp, start, trans)
        assert len(path) == len(logp)
        assert valid_iob2([LABELS[j] for j in path])


def test_viterbi_is_the_best_valid_path():
    start, trans = _allowed_transitions(LABELS)
    rng = np.random.default_rng(1)
    for _ in range(30):
        logp = np.log(rng.dirichlet(np.ones(len(LABELS)), size=4))
        valid = [p for p in itertools.product(range(len(LABELS)), repeat=4) if valid_iob2([LABELS[j] for j in p])]
        best = max(valid, key=lambda p: sum(logp[t, j] for t, j in enumerate(p)))
        assert viterbi(logp, start, trans) == list(best)


def test_viterbi_equals_argmax_when_argmax_is_valid():
    start, trans = _allowed_transitions(LABELS)
    rng = np.random.default_rng(2)
    checked = 0
    for _ in range(300):
        logp = np.log(rng.dirichlet(np.ones(len(LABELS)), size=int(rng.integers(1, 10))))
        greedy = logp.argmax(1).tolist()
        if valid_iob2([LABELS[j] for j in greedy]):
            assert viterbi(logp, start, trans) == greedy
            checked += 1
    assert checked > 30


def test_new_label_set_keeps_shared_classifier_rows(tagger, saved):
    new = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
    warm = Tagger.load(saved, labels=new, device="cpu")
    assert warm.labels == new and warm.model.config.num_labels == len(new)
    old_w, old_b = tagger.model.classifier.weight, tagger.model.classifier.bias
    new_w, new_b = warm.model.classifier.weight, warm.model.classifier.bias
    for lab in ("O", "B-PER", "I-PER"):
        i, j = LABELS.index(lab), new.index(lab)
        assert torch.equal(new_w[j], old_w[i]) and torch.equal(new_b[j], old_b[i])
    enc_old, enc_new = tagger.model.base_model.embeddings, warm.model.base_model.embeddings
    assert torch.equal(enc_old.word_embeddings.weight, enc_new.word_embeddings.weight)
    assert torch.equal(enc_old.token_type_embeddings.weight, enc_new.token_type_embeddings.weight)


def test_plain_encoder_needs_a_label_set(tiny_model):
    with pytest.raises(ValueError, match="label set"):
        Tagger.load(tiny_model, device="cpu")
