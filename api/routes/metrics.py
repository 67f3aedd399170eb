"""GET /metrics: Prometheus' text format (see ``dispatch.metrics``). Not signed in, like
every Prometheus exporter: publish it on the internal network only (README, Metrics)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.deps import RuntimeDep
from dispatch.core.celery_app import all_queues, queue_depths
from dispatch.metrics.exposition import CONTENT_TYPE_LATEST, MetricsPage

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, rt: RuntimeDep) -> Response:
    page: MetricsPage | None = getattr(request.app.state, "metrics_page", None)
    if page is None:
        page = MetricsPage(engine=rt.engine, queues=lambda: all_queues(rt.city), depths=queue_depths)
        request.app.state.metrics_page = page
    return Response(page.render(), media_type=CONTENT_TYPE_LATEST)
