"""Model versions and the serving pointer: register, update, promote, roll back."""
from __future__ import annotations

import json
from typing import Any

from core.access import OWNER, Actor, require
from core.store.base import MODEL_STATUSES, StoreBase
from core.store.records import ModelVersion
from core.store.shared import check_choice, now

_MODEL_FIELDS = {"folder", "base_model", "parent_id", "params", "metrics", "status"}


class ModelRows(StoreBase):
    """Model versions and the serving pointer."""

    def add_model(self, project_id: int, *, folder: str, base_model: str,
                  parent_id: int | None = None, params: dict | None = None,
                  metrics: dict | None = None, status: str = "ready") -> int:
        check_choice(status, MODEL_STATUSES, "model status")
        with self._write():
            self.project(project_id)
            n = self.db.execute("SELECT COUNT(*) FROM models WHERE project_id = ?",
                                [project_id]).fetchone()[0]
            return self._insert("models", {
                "project_id": project_id, "name": f"v{n + 1}", "folder": str(folder),
                "base_model": base_model, "parent_id": parent_id,
                "params": json.dumps(params or {}), "metrics": json.dumps(metrics or {}),
                "created": now(), "status": status})

    def update_model(self, model_id: int, **fields: Any) -> None:
        self._update("models", model_id, fields, _MODEL_FIELDS, MODEL_STATUSES)

    def model(self, model_id: int) -> ModelVersion:
        return ModelVersion.from_row(self._one("models", model_id))

    def models(self, project_id: int) -> list[ModelVersion]:
        return [ModelVersion.from_row(r) for r in self._rows("SELECT * FROM models WHERE project_id = ? ORDER BY id",
                                                             [project_id])]

    def promote(self, model_id: int, *, actor: Actor = OWNER, job_id: int | None = None) -> None:
        """Serve `model_id` for its project (it must be ready) and record it in promotions (admins only; audited,
        with the training job that promoted it by policy, when one did)."""
        require(actor, "promote")  # the role before any lookup
        self.authorize(actor, "promote", self.model(model_id).project_id)
        with self._write():
            model = self.model(model_id)
            if model.status != "ready":
                raise ValueError(f"model {model_id} is {model.status}, only ready models can be promoted")
            self._serve(model.project_id, model_id, "promote")
            by_job = {} if job_id is None else {"job_id": job_id}
            self.add_audit(actor, "promote", project_id=model.project_id, model_id=model_id, model=model.name,
                           **by_job)

    def _serve(self, project_id: int, model_id: int, action: str) -> None:
        self.db["projects"].update(project_id, {"serving_model_id": model_id})
        self._insert("promotions", {"project_id": project_id, "model_id": model_id,
                                    "action": action, "created": now()})

    def _serving_stack(self, project_id: int) -> list[int]:
        """Replay promotions: a promote pushes a version, a rollback pops the current one."""
        stack: list[int] = []
        for r in self._rows("SELECT model_id, action FROM promotions WHERE project_id = ? "
                            "ORDER BY id", [project_id]):
            if r["action"] == "rollback":
                stack.pop()
            elif not stack or stack[-1] != r["model_id"]:
                stack.append(r["model_id"])
        return stack

    def rollback(self, project_id: int, *, actor: Actor = OWNER) -> int:
        """Serve the version served before the current one again (admins only; audited); returns its model id."""
        self.authorize(actor, "rollback", project_id)
        with self._write():
            stack = self._serving_stack(project_id)
            if len(stack) < 2:
                raise ValueError(f"project {project_id} has no earlier served model to roll "
                                 "back to")
            self._serve(project_id, stack[-2], "rollback")
            self.add_audit(actor, "rollback", project_id=project_id, model_id=stack[-2], replaced=stack[-1])
            return stack[-2]

    def serving(self, project_id: int) -> ModelVersion | None:
        model_id = self.project(project_id).serving_model_id
        return None if model_id is None else self.model(model_id)

    def promotions(self, project_id: int) -> list[dict]:
        return self._rows("SELECT * FROM promotions WHERE project_id = ? ORDER BY id",
                          [project_id])
