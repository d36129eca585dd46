"""Shared fixtures: a tiny random BERT built offline, and an empty store."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests share bench/_app.py's server
_EXTRA_WORDS = """the a an of in on at to for from by with and or but is was were be been has have had
will would said says say new year years day week month today yesterday Monday Tuesday Wednesday Thursday
Friday Saturday Sunday city town country government company bank team party minister president people
police court market prices report reports news after before during over under into about against between
he she it they we you his her their its this that these those who which what when where why how not no
yes more most less many much some all one two three four five first second last next up down out off
John Mary Paris London Berlin Smith visited met told went came left won lost said announced""".split()


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """The tiny model is far faster on one thread, and the tests do not fight other processes for the cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session", autouse=True)
def nerloop_home(tmp_path_factory):
    """$NERLOOP_HOME in a temporary folder for the whole run (and the processes it starts): no test writes into the
    user's data folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NERLOOP_HOME", str(tmp_path_factory.mktemp("nerloop_home")))
        yield


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Subprocesses (jobs, servers, torchrun) inherit the environment: one thread each, offline."""
    for name, value in {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                        "NERLOOP_LIVE": "0"}.items():  # a test that wants the live learner says so
        monkeypatch.setenv(name, value)


@pytest.fixture(autouse=True)
def main_module(monkeypatch):
    """AppTest installs app.py as sys.modules["__main__"] and leaves it there; a later "spawn" child would then run
    app.py (and write the app's database) before its target. Put pytest's __main__ back after every test."""
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])


@pytest.fixture(autouse=True)
def navigation_mode(monkeypatch):
    """AppTest resets PagesManager.uses_pages_directory before every run, and the pages/ folder beside app.py then
    puts it in legacy multipage mode, where a rerun of Home runs pages/home.py instead of app.py. A server sets the
    flag once and st.navigation clears it for good: keep it cleared, as there."""
    from streamlit.runtime.pages_manager import PagesManager

    init = PagesManager.__init__

    def patched(self, *args, **kwargs):
        init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", patched)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """Folder of a 2-layer, 32-wide random BertModel (seeded: the same weights every run) with a cased WordPiece
    tokenizer (no download)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = [line.split()[0] for f in sorted(DATA.glob("*.conll")) for line in f.read_text().splitlines()
             if line.strip() and not line.startswith("-DOCSTART-")]
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator([" ".join(words), " ".join(_EXTRA_WORDS)] * 3,
                            trainers.WordPieceTrainer(vocab_size=2000, special_tokens=specials))
    tok.post_processor = processors.BertProcessing(("[SEP]", tok.token_to_id("[SEP]")),
                                                   ("[CLS]", tok.token_to_id("[CLS]")))
    tokenizer = BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                  sep_token="[SEP]", mask_token="[MASK]", do_lower_case=False, model_max_length=128)
    folder = tmp_path_factory.mktemp("tiny_bert")
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def store(tmp_path):
    """An empty nerloop database in the test's own folder, closed afterwards."""
    from core.store import Store

    s = Store(tmp_path / "nerloop.db")
    yield s
    s.close()
