"""Model calls that pages and commands share: a version's tagger, the project's serving one, sentences tagged by id,
a version scored on a labelled split."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from core.model import Tagger
from core.report import Labelled
from core.store import ModelVersion, SentenceRow, Store
from core.train import Evaluation, evaluate


def load(folder: str, *, device: str = "auto") -> Tagger:
    """The tagger saved in a version folder ("auto": the best device here)."""
    return Tagger.load(folder, device=device)


def serving(store: Store, project_id: int, *, loader: Callable[[str], Tagger] = load
            ) -> tuple[Tagger | None, ModelVersion | None]:
    """The serving version's tagger (loaded by `loader`, e.g. a cached `load`) and row; no tagger when its folder is
    gone, (None, None) before the first training."""
    model = store.serving(project_id)
    if model is None or not Path(model.folder).exists():
        return None, model
    return loader(model.folder), model


def tag_rows(tagger: Tagger, rows: Sequence[SentenceRow]) -> dict[int, tuple[list[str], list[float]]]:
    """(tags, per-word confidence) of stored sentences by id, predicted in one batch."""
    return {row.id: (list(pred.tags), [float(s) for s in pred.scores])
            for row, pred in zip(rows, tagger.predict([r.words for r in rows]))}


def tag_ids(store: Store, tagger: Tagger, project_id: int, ids: Sequence[int]
            ) -> dict[int, tuple[list[str], list[float]]]:
    """tag_rows of the project's sentences `ids`."""
    return tag_rows(tagger, store.sentences(project_id, ids=list(ids)))


def score(tagger: Tagger, data: Labelled) -> Evaluation:
    """A version's predicted tags and entity-level scores on labelled sentences (core.report.labelled: a split of a
    project), as the Evaluate page and `nerloop evaluate --project` report them."""
    return evaluate(tagger, data.words, data.tags)
