"""The resident learner: one process per database, holding the encoder of each project's serving version; after every
save it refits the project's live head (core.live) on every label and publishes its predictions and uncertainty
scores, which the Annotate page reads. `python -m core.learner --db PATH` (the app starts it), `nerloop learn`."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import psutil
import torch

from core import live, metrics, procs, standby
from core.config import DEFAULT
from core.model import Tagger
from core.store import LiveHead, ModelVersion, Store
from core.vocab import JOB_UNFINISHED, label_set

log = logging.getLogger(__spec__.name)  # "core.learner" also when run as `python -m core.learner`
POLL_S = 0.2  # seconds between two looks at the database when there is nothing to do
CHUNK = 16  # pool sentences encoded between two looks for new saves (about 0.4 s on one thread)
RETRY_S = 30.0  # a project whose refit failed is left alone this long
ENCODE_ORDER = "entropy:mnlp"  # after a new version, the pool is encoded again in this ranking's order
SHORT, REPEAT = -1e3, -2e3  # added to the uncertainty of a fragment and of a repeated sentence: ranked last
PUBLISH_S = 5.0  # while the pool is being encoded, predictions are republished at most this often
HOLD_OUT = 5  # without a dev split, every 5th labelled sentence scores the head instead of training it
POLISH = 8  # a refit cut by its deadline is resumed at most this many times (each publishes) before the next save
SAMPLE = 400  # sentences whose features fix a new head's scaling
THREADS = 1  # torch threads of the learner: beside the app and a fine-tune, more threads wait on each other
OFF = "NERLOOP_LIVE"  # "0": the app starts no learner (no live head)
_children: list[psutil.Popen] = []  # learners started by this process, waited for once they end


def enabled() -> bool:
    """Whether the app runs a learner (the NERLOOP_LIVE environment variable is not "0")."""
    return os.environ.get(OFF, "1") != "0"


def states_root(store: Store) -> Path:
    """This database's cached encoder states: `<db folder>/states/<database UUID>`."""
    return store.path.resolve().parent / "states" / store.uuid


def heads_root(store: Store) -> Path:
    """This database's live-head prediction files: `<db folder>/live/<database UUID>`."""
    return store.path.resolve().parent / "live" / store.uuid


def _tag_ids(tags, index: dict[str, int]) -> np.ndarray:
    return np.array([index.get(t, 0) for t in tags], np.int64)


@dataclass
class ProjectLearner:
    """The live head of one project: the encoder it reads, the cached states, the head, what it has seen."""

    store: Store
    project_id: int
    load: Callable[[str, list[str] | None], Tagger] = lambda name, labels: Tagger.load(name, labels=labels,
                                                                                     device="cpu")
    encoder: str | None = None  # "v<id>" of the version it reads, or "base"
    model: ModelVersion | None = None
    tagger: Tagger | None = None
    cache: live.StateCache | None = None
    head: live.Head | None = None
    fitted: tuple | None = None  # the project's stamp at the last refit
    published: float = 0.0
    base_f1: dict = field(default_factory=dict)  # dev sentence ids -> the version's F1 on them
    rows: dict = field(default_factory=dict)  # sentence id -> its rows as the current head reads them
    tagged: tuple = ((), (), set())  # (stamp, the sentences the head pre-tags, the repeats among them) at that stamp
    first: list = field(default_factory=list)  # pool sentences to encode before the others (the last ranking's)
    data: tuple | None = None  # (train, dev) of the last refit
    polished: int = 0  # refits resumed since the last save
    labelled: dict = field(default_factory=dict)  # sentence id -> its labelled row as last read

    # -- the encoder ---------------------------------------------------------------------------

    def _sync_encoder(self) -> bool:
        """Follow the serving version: load its encoder and its state cache when it changed; True when it did."""
        serving = self.store.serving(self.project_id)
        if serving is not None and not Path(serving.folder).exists():
            serving = None
        key = f"v{serving.id}" if serving is not None else "base"
        if key == self.encoder:
            return False
        labels = label_set(self.store.project(self.project_id).labels)
        self.first = self._last_ranking()
        self.tagger = self.load(serving.folder, None) if serving is not None else self.load(DEFAULT, labels)
        self.encoder, self.model, self.head, self.fitted, self.base_f1, self.rows = key, serving, None, None, {}, {}
        self.cache = live.StateCache(states_root(self.store) / str(self.project_id) / key)
        log.info("project %s: live head on %s (%d sentences' states cached)", self.project_id,
                 serving.name if serving else "the base encoder", len(self.cache.states))
        return True

    def _last_ranking(self) -> list[int]:
        """The pool as the latest head ranked it (most uncertain first), so that a new encoder's states come first
        for the sentences active learning serves next; empty without a head."""
        head = self.store.live_head(self.project_id)
        if head is None or not Path(head.file).is_file():
            return []
        return live.Predictions.read(head.file).ranked(ENCODE_ORDER, self.store.sentence_ids(self.project_id,
                                                                                           ("unlabeled",)))

    def _words(self, ids: list[int]) -> list[list[str]]:
        rows = {r.id: r.words for r in self.store.sentences(self.project_id, ids=ids)}
        return [rows[i] for i in ids]

    # -- one step ------------------------------------------------------------------------------

    def step(self) -> str:
        """Refit after new labels ("fitted"), else go on with a refit its deadline cut ("polished"), else encode a
        chunk of the pool ("encoded"), else "idle"."""
        self._sync_encoder()
        stamp = self.store.stamp(self.project_id)
        if stamp != self.fitted:
            train, dev = self._training_data()
            self.fitted, self.polished = stamp, 0
            if train:
                self.refit(train, dev)
                return "fitted"
        if self.head is not None and self.head.cut and self.data is not None and self.polished < POLISH:
            self.polished += 1  # the save's refit was published at its deadline: resume it while idle
            self.refit(*self.data)
            return "polished"
        ids = self._to_tag()
        missing = self.cache.missing(list(dict.fromkeys(self.first + ids)))[:CHUNK]
        if missing:
            self.cache.ensure(self.tagger, missing, self._words)
            if self.head is not None and (time.monotonic() - self.published > PUBLISH_S
                                          or not self.cache.missing(ids)):
                self.publish(ids)
            return "encoded"
        return "idle"

    def _training_data(self) -> tuple[list, list]:
        """versions.training_data, a sentence read from the store again only when its annotation changed."""
        labelled = self.store.labelled_ids(self.project_id, ("train", "dev"))
        stale = [i for i, _, a in labelled if i not in self.labelled or self.labelled[i].annotation_id != a]
        for start in range(0, len(stale), 5000):
            self.labelled.update((r.id, r) for r in self.store.sentences(self.project_id,
                                                                         ids=stale[start:start + 5000]))
        return ([self.labelled[i] for i, split, _ in labelled if split == "train"],
                [self.labelled[i] for i, split, _ in labelled if split == "dev"])

    def _to_tag(self) -> list[int]:
        """The sentences the head pre-tags: the unlabelled pool first, then train (dev and test are for scoring);
        looked up again only when the project's stamp changed."""
        stamp = self.store.stamp(self.project_id)
        if self.tagged[0] != stamp:
            self.tagged = (stamp, self.store.sentence_ids(self.project_id, ("unlabeled", "train")),
                           self.store.repeats(self.project_id))
        return list(self.tagged[1])

    def refit(self, train, dev) -> LiveHead:
        """Refit the head on every labelled train sentence (warm-started, for at most FIT_S seconds: `step` resumes a
        cut fit when nothing else waits), score it, publish its predictions."""
        started = time.perf_counter()
        self.data = (train, dev)
        labels = label_set(self.store.project(self.project_id).labels)
        index = {t: i for i, t in enumerate(labels)}
        held_out = not dev
        if held_out:  # no dev split: a share of the labels scores the head
            dev = [r for k, r in enumerate(train) if k % HOLD_OUT == HOLD_OUT - 1]
            train = [r for k, r in enumerate(train) if k % HOLD_OUT != HOLD_OUT - 1] or train
        need = [r.id for r in train] + [r.id for r in dev]
        todo = need
        if self.cache.basis is None:  # the first sentences encoded fix the basis: a full sample of them
            todo = list(dict.fromkeys(need + self.first + self._to_tag()))[:max(len(need), live.BASIS_SAMPLE)]
        self.cache.ensure(self.tagger, todo, self._words)
        if self.head is None or self.head.labels != labels:
            ids = list(dict.fromkeys(need + list(self.cache.states)))[:SAMPLE]
            sample = np.concatenate([live.features(self.cache.states[i], self.cache.cases[i]) for i in ids])
            self.head = live.Head.standardised_on(labels, sample)
            self.rows = {}
        x = self._projected([r.id for r in train])
        y = torch.from_numpy(np.concatenate([_tag_ids(r.tags, index) for r in train]))
        self.head.fit_projected(x, y, seconds=live.FIT_S if self.head.weight is not None else None)
        dev_f1 = base_f1 = None
        if dev:
            logp = self.head.log_probs_many([self.cache.states[r.id] for r in dev],
                                            [self.cache.cases[r.id] for r in dev])
            paths = self.head.decode(logp, [len(r.words) for r in dev])
            dev_f1 = metrics.micro_f1([r.tags for r in dev], [[labels[j] for j in p] for p in paths])
            base_f1 = self._base_f1(dev)
        fit_s = time.perf_counter() - started
        file, predicted = self.publish(self._to_tag(), write_row=False)
        head_id, old = self.store.add_live_head(
            self.project_id, model_id=self.model.id if self.model else None, encoder=self.encoder,
            annotation_id=self.fitted[2], train_sentences=len(train), dev_sentences=len(dev), held_out=int(held_out),
            dev_f1=dev_f1, base_f1=base_f1, fit_seconds=round(fit_s, 3), predicted=predicted, file=str(file))
        for name in old:
            Path(name).unlink(missing_ok=True)
        log.info("project %s: live head %s on %d labelled sentences, dev F1 %s (%s: %s), fitted in %.2f s",
                 self.project_id, head_id, len(train), "-" if dev_f1 is None else f"{dev_f1:.4f}",
                 self.model.name if self.model else "no version", "-" if base_f1 is None else f"{base_f1:.4f}",
                 fit_s)
        return self.store.live_head(self.project_id)

    def _projected(self, ids: list[int]) -> torch.Tensor:
        """The head's input rows of sentences (features standardised and projected), each sentence's computed once
        per head."""
        for i in ids:
            if i not in self.rows:
                self.rows[i] = self.head.project(live.features(self.cache.states[i], self.cache.cases[i]))
        return torch.cat([self.rows[i] for i in ids])

    def _base_f1(self, dev) -> float | None:
        """The serving version's own F1 on the same sentences (from the probabilities cached with their states);
        None on the base encoder."""
        if self.model is None or not self.tagger.trained:
            return None
        key = tuple(r.id for r in dev)
        if key not in self.base_f1:
            pred = [self.tagger.decode(self.cache.probs[r.id]).tags for r in dev]
            self.base_f1 = {key: metrics.micro_f1([r.tags for r in dev], pred)}
        return self.base_f1[key]

    def publish(self, ids: list[int], *, write_row: bool = True) -> tuple[Path, int]:
        """Write the head's predictions of every cached sentence of `ids` (label probabilities, uncertainty) to a
        new file; with `write_row`, also record it as a live head like the last one (same fit, more sentences)."""
        from core.active import MIN_WORDS, PoolScores

        done = [i for i in ids if i in self.cache]
        states = [self.cache.states[i] for i in done]
        logp = self.head.log_probs_many(states, [self.cache.cases[i] for i in done])
        lengths = [len(s) for s in states]
        probs = np.exp(logp)
        cuts = np.cumsum(lengths)[:-1]
        scores = PoolScores.from_probs(np.split(probs, cuts) if done else [])
        # as core.active.suggest: fragments after every longer sentence, repeated words after everything
        self._to_tag()
        behind = np.array([REPEAT if i in self.tagged[2] else SHORT if n < MIN_WORDS else 0.0
                           for i, n in zip(done, lengths)])
        folder = heads_root(self.store) / str(self.project_id)
        file = live.write_predictions(folder / f"head-{time.time_ns()}.npz", done, lengths, probs, self.head.labels,
                                      {k: v + behind for k, v in scores.values.items()})
        self.published = time.monotonic()
        if write_row and (last := self.store.live_head(self.project_id)) is not None and \
                last.encoder == self.encoder:
            fields = {k: getattr(last, k) for k in ("model_id", "encoder", "annotation_id", "train_sentences",
                                                   "dev_sentences", "dev_f1", "base_f1", "fit_seconds")}
            _, old = self.store.add_live_head(self.project_id, **fields, held_out=int(last.held_out),
                                              predicted=len(done), file=str(file))
            for name in old:
                Path(name).unlink(missing_ok=True)
        return file, len(done)


# ---------------------------------------------------------------- the process

def run(store: Store, *, project: int | None = None, parent: int | None = None, once: bool = False,
        load=None, keep_standby: bool = False) -> int:
    """Serve every project (or one) until the parent process ends (or, with `once`, until nothing is left to do);
    with `keep_standby`, keep a standby job process ready while no job runs (core.standby). Returns the number of
    refits."""
    learners: dict[int, ProjectLearner] = {}
    failed: dict[int, float] = {}  # project id -> when it may be tried again
    refits = 0
    while parent is None or procs.alive(parent):
        if keep_standby and not store.jobs(status=list(JOB_UNFINISHED)):
            standby.keep(store)
        busy = False
        for p in store.projects():
            if (project is not None and p.id != project) or failed.get(p.id, 0.0) > time.monotonic():
                continue
            if p.id not in learners:
                learners[p.id] = ProjectLearner(store, p.id, **({"load": load} if load else {}))
            try:
                done = learners[p.id].step()
            except Exception:  # one project's trouble stops neither the others nor the process
                log.exception("project %s: the live head could not be refitted; trying again in %.0f s", p.id,
                              RETRY_S)
                learners.pop(p.id, None)
                failed[p.id] = time.monotonic() + RETRY_S
                done = "failed"
            refits += done == "fitted"
            busy = busy or done in ("fitted", "polished", "encoded")
        if not busy:
            if once:
                break
            time.sleep(POLL_S)
    return refits


def serving_head(store: Store, project_id: int) -> LiveHead | None:
    """The live head that pre-tags the project's sentences: its latest, when it sits on the serving version (on the
    base encoder while none serves), its dev F1 is at least that version's, and its predictions file is there."""
    head = store.live_head(project_id)
    if head is None or not head.better or not Path(head.file).is_file():
        return None
    serving = store.serving(project_id)
    return head if head.model_id == (serving.id if serving else None) else None


def running(store: Store) -> int | None:
    """The PID of the learner serving this database, or None."""
    claim = store.learner_claim()
    return claim["pid"] if claim and procs.alive(claim["pid"], claim.get("started")) else None


def ensure(store: Store, *, parent: int | None = None) -> int:
    """Start the database's learner unless one runs, or one started here is still starting (it claims the database
    once it has loaded); its log: <db folder>/logs/<UUID>/learner.log. Returns its PID. A learner that ended is
    waited for here, so none stays a zombie."""
    starting = procs.reap(_children)
    if (pid := running(store)) is not None:
        return pid
    if starting:  # started by this process, not claimed yet: still importing and loading
        return starting[-1].pid
    log_file = store.path.resolve().parent / "logs" / store.uuid / "learner.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "core.learner", "--db", str(store.path.resolve()), "--standby"]
    if parent is not None:
        argv += ["--parent", str(parent)]
    proc = procs.spawn(argv, log_file=log_file, cwd=Path(__file__).resolve().parents[1],
                       env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    _children.append(proc)
    log.info("learner started: process %s, log %s", proc.pid, log_file)
    return proc.pid


def stop(store: Store) -> bool:
    """Stop the database's learner; whether one was running."""
    claim = store.learner_claim()
    if not claim:
        return False
    stopped = procs.stop(claim["pid"], claim.get("started"))
    procs.reap(_children)
    return stopped


def serve(db: str, *, project: int | None = None, parent: int | None = None, once: bool = False,
          keep_standby: bool = False) -> int:
    """Claim the database (one learner per database: 1 when another one runs), then `run`."""
    store = Store(db)
    me, started = os.getpid(), procs.start_time()
    if not store.claim_learner(me, started, free=lambda c: not procs.alive(c.get("pid"), c.get("started"))):
        log.info("another learner serves %s: not starting", db)
        return 1
    try:
        refits = run(store, project=project, parent=parent, once=once, keep_standby=keep_standby)
        log.info("learner stopped after %d refits", refits)
    finally:
        standby.stop_all()
        store.release_learner(me)
        store.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.learner", description=__doc__)
    ap.add_argument("--db", required=True)
    ap.add_argument("--parent", type=int, help="stop when this process ends (the app's server)")
    ap.add_argument("--project", type=int, help="only this project")
    ap.add_argument("--once", action="store_true", help="stop when nothing is left to do")
    ap.add_argument("--standby", action="store_true", help="keep a training job process loaded and waiting")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(THREADS)  # at the app's priority: a refit is what the annotator waits for
    return serve(args.db, project=args.project, parent=args.parent, once=args.once, keep_standby=args.standby)


if __name__ == "__main__":
    sys.exit(main())
