"""The current learned models of this process: loaded once, re-checked now and then.

``CurrentModels`` keeps the model of each kind that is ``current`` in ``learned_models``;
it asks the database which version is current at most every ``recheck_s`` seconds and loads
the bytes only when the version changed, so a promotion reaches every worker within that time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from agents.learned import LearnedModelError, RouteInput, RouterModel, TextModel
from dispatch.city.routing import RoutingDecision, RoutingInput
from dispatch.i18n import explain
from dispatch.learning.models import LearnedModelRecord
from dispatch.learning.training import Kind, load_model

LEARNED_MIN_CONFIDENCE = 0.6
"""Below it the learned model does not decide (the next stage does)."""


class LearnedRouter:
    """The learned (category, district, text) → agency model as a routing step."""

    def __init__(self, model: RouterModel, version: int, min_confidence: float = LEARNED_MIN_CONFIDENCE):
        self.model, self.version, self.min_confidence = model, version, min_confidence

    def choose(self, item: RoutingInput, *, exclude: frozenset[str] = frozenset()) -> RoutingDecision | None:
        prediction = self.model.predict([RouteInput(item.category, item.district, item.text)])[0]
        if prediction.confidence < self.min_confidence or prediction.label in exclude:
            return None
        return RoutingDecision(
            method="learned", agency=prediction.label, confidence=round(prediction.confidence, 3),
            model=f"router v{self.version}",
            reason=explain.LEARNED_CHOSE(version=self.version, agency=prediction.label,
                                         confidence=prediction.confidence))


class CurrentModels:
    def __init__(self, factory: sessionmaker[Session], *, recheck_s: float = 300.0) -> None:
        self._factory, self._recheck_s = factory, recheck_s
        self._lock = threading.Lock()
        self._models: dict[str, tuple[int, TextModel | RouterModel]] = {}
        self._checked = -float("inf")

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < self._recheck_s:
            return
        self._checked = now
        try:
            with self._factory() as db:
                versions = dict(db.execute(select(LearnedModelRecord.kind, LearnedModelRecord.version)
                                           .where(LearnedModelRecord.status == "current")).tuples().all())
                for kind, version in versions.items():
                    if self._models.get(kind, (None,))[0] != version:
                        record = db.scalar(select(LearnedModelRecord).where(
                            LearnedModelRecord.kind == kind, LearnedModelRecord.version == version))
                        if record is not None:
                            self._models[kind] = (version, load_model(record))
                for kind in set(self._models) - set(versions):
                    del self._models[kind]
        except (SQLAlchemyError, LearnedModelError):
            return  # no table yet, or a model this process cannot load: run without it

    def get(self, kind: Kind) -> tuple[int, TextModel | RouterModel] | None:
        with self._lock:
            self._refresh()
            return self._models.get(kind)

    def router(self) -> LearnedRouter | None:
        found = self.get("agency")
        if found is None or not isinstance(found[1], RouterModel):
            return None
        return LearnedRouter(found[1], found[0])

    def category_predictor(self) -> Callable[[str], tuple[str, float]] | None:
        """``text → (category, calibrated confidence)`` for the classifier chain, or None."""
        found = self.get("category")
        if found is None or not isinstance(found[1], TextModel):
            return None
        model = found[1]

        def predict(text: str) -> tuple[str, float]:
            prediction = model.predict([text])[0]
            return prediction.label, prediction.confidence

        return predict
