"""The dashboard and the CSV export: staff see their own agency's figures, rows and pins
only; dispatchers see every agency; SLA compliance and the daily trend follow what was
done; the CSV is safe to open in a spreadsheet; map popups get text, not HTML."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from api.app import create_app
from api.config import ApiConfig
from api.web import STATIC_DIR
from dispatch.core.runtime import get_runtime
from dispatch.tickets.dashboard import safe_cell
from dispatch.tickets.models import Ticket
from tests.helpers.pages import XSS, assert_only_vendored_scripts
from tests.helpers.tickets import make_ticket
from tests.helpers.webauth import login


def _json(html: str, element_id: str) -> Any:
    found = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html, re.DOTALL)
    assert found, element_id
    return json.loads(found.group(1))


def _card(html: str, key: str) -> dict[str, int]:
    block = re.search(rf'<div class="card" id="by-{key}">(.*?)</div>', html, re.DOTALL)
    assert block
    return {name: int(n) for name, n in re.findall(r"<tr><td>([^<]+)</td><td>(\d+)</td></tr>",
                                                  block.group(1))}


def _csv(client: TestClient, query: str) -> list[dict[str, str]]:
    response = client.get(f"/tickets.csv?{query}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    return list(csv.DictReader(io.StringIO(response.text)))


def _post(client: TestClient, path: str) -> None:
    response = client.post(path, follow_redirects=False,
                           data={"csrf_token": client.headers["X-CSRF-Token"]})
    assert response.status_code == 303, response.text


def test_figures_follow_the_work_and_the_agency(clients: dict[str, TestClient],
                                                tickets: dict[str, int]) -> None:
    staff, dispatcher = clients["staff"], clients["dispatcher"]
    own, other = tickets["own"], tickets["other"]
    _post(staff, f"/tickets/{own}/actions/acknowledge")
    _post(staff, f"/tickets/{own}/actions/resolve")
    with get_runtime().factory() as db, db.begin():
        db.execute(update(Ticket).where(Ticket.id == other)
                   .values(sla_due_at=datetime.now(UTC) - timedelta(hours=1)))

    mine = staff.get("/dashboard").text
    assert _card(mine, "agency") == {}  # the only landscaping ticket is resolved
    assert _card(mine, "category") == {}
    assert [p["id"] for p in _json(mine, "map-data")["pins"]] == []
    assert re.search(r'id="compliance">100\s?%</strong>\s*<small>\(1 of 1\)', mine)
    assert 'id="overdue">0</strong> of 0 open' in mine
    trend = _json(mine, "trend-data")
    assert len(trend["days"]) == 30 and trend["days"][-1] == datetime.now(UTC).date().isoformat()
    assert (trend["created"][-1], trend["resolved"][-1], sum(trend["created"])) == (1, 1, 1)

    everything = dispatcher.get("/dashboard").text
    assert _card(everything, "agency") == {"sanitation": 1, "triage": 1}
    assert _card(everything, "status") == {"open": 1, "triage": 1}
    assert _card(everything, "category") == {"exposed_garbage": 1, "fallen_tree": 1}
    pins = {p["id"] for p in _json(everything, "map-data")["pins"]}
    assert pins == {other, tickets["triage"]}
    assert 'id="overdue">1</strong> of 1 open' in everything
    assert _json(everything, "trend-data")["created"][-1] == 3
    only_garbage = dispatcher.get("/dashboard?category=exposed_garbage").text
    assert _card(only_garbage, "agency") == {"sanitation": 1}
    assert_only_vendored_scripts(everything)


def test_csv_rows_are_scoped_filtered_and_formula_safe(clients: dict[str, TestClient],
                                                       tickets: dict[str, int]) -> None:
    formula = '=HYPERLINK("http://evil.example","click")'
    with get_runtime().factory() as db, db.begin():
        db.execute(update(Ticket).where(Ticket.id == tickets["other"]).values(title=formula))
    staff_rows = _csv(clients["staff"], "status=all")
    assert [int(r["id"]) for r in staff_rows] == [tickets["own"]]
    all_rows = _csv(clients["dispatcher"], "status=all")
    assert [int(r["id"]) for r in all_rows] == sorted(tickets[k] for k in ("own", "other", "triage"))[::-1]
    by_id = {int(r["id"]): r for r in all_rows}
    assert by_id[tickets["other"]]["title"] == "'" + formula
    assert by_id[tickets["triage"]]["agency"] == ""
    assert [int(r["id"]) for r in _csv(clients["dispatcher"], "agency=sanitation")] == [tickets["other"]]
    assert _csv(clients["dispatcher"], "status=resolved") == []
    for cell, safe in (("=1+2", "'=1+2"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
                       ("\t=1", "'\t=1"), ("plain -1", "plain -1"), (None, ""), (7, "7")):
        assert safe_cell(cell) == safe


def test_map_popups_get_text_not_html(clients: dict[str, TestClient]) -> None:
    ticket_id = make_ticket(clients["anon"], "A tree fell on the path", address=XSS)
    html = clients["dispatcher"].get("/dashboard").text
    assert "<script>alert" not in html and "<img src=x" not in html
    pin = next(p for p in _json(html, "map-data")["pins"] if p["id"] == ticket_id)
    assert "<script>alert" in pin["title"]  # the raw text travels as JSON data ...
    script = (STATIC_DIR / "maps.js").read_text()
    assert "innerHTML" not in script and "textContent = pin.title" in script  # ... and as text
    ticket_page = clients["dispatcher"].get(f"/tickets/{ticket_id}").text
    assert "<script>alert" not in ticket_page
    assert _json(ticket_page, "map-data")["pins"][0]["title"] == pin["title"]


def test_tiles_only_when_configured(app_config: ApiConfig, clients: dict[str, TestClient]) -> None:
    default = clients["dispatcher"].get("/dashboard").text
    assert _json(default, "map-data")["tiles"] == ""  # no external host by default
    assert "http" not in json.dumps(_json(default, "map-data"))
    tiles = "https://tiles.riverton.example/{z}/{x}/{y}.png"
    config = app_config.model_copy(update={"map_tile_url": tiles, "map_attribution": "© Riverton"})
    with TestClient(create_app(config)) as client:
        login(client, "tile-viewer", "staff", "landscaping")
        data = _json(client.get("/dashboard").text, "map-data")
    assert (data["tiles"], data["attribution"]) == (tiles, "© Riverton")
    assert data["districts"]["features"] and data["center"] == [41.6, -93.6]


def test_the_csv_link_exports_what_the_figures_count(clients: dict[str, TestClient],
                                                     tickets: dict[str, int]) -> None:
    """The figures do not filter by search text or SLA state: neither does their CSV link."""
    page = clients["dispatcher"].get("/dashboard?agency=sanitation&q=nothing-matches&sla=breached").text
    link = re.search(r'<a id="csv" href="/tickets.csv\?([^"]*)"', page)
    assert link is not None
    query = link.group(1).replace("&amp;", "&")
    assert "agency=sanitation" in query and "q=" not in query and "sla=" not in query
    assert [int(r["id"]) for r in _csv(clients["dispatcher"], query)] == [tickets["other"]]


def test_a_chinese_reader_exports_chinese_columns_and_names(clients: dict[str, TestClient],
                                                            tickets: dict[str, int]) -> None:
    """Chinese column names, labels and the city's Chinese names, behind a byte-order mark so
    a spreadsheet reads UTF-8; still formula-safe. An English reader keeps the codes."""
    formula = "=1+2"
    with get_runtime().factory() as db, db.begin():
        db.execute(update(Ticket).where(Ticket.id == tickets["other"]).values(title=formula))
    response = clients["dispatcher"].get("/tickets.csv?status=all",
                                         headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert response.status_code == 200
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert list(rows[0]) == ["工单ID", "工单编号", "受理时间", "状态", "优先级", "类别", "区域", "部门",
                             "经办人", "标题", "办理时限", "时限状态"]
    by_id = {int(r["工单ID"]): r for r in rows}
    assert by_id[tickets["other"]]["标题"] == "'" + formula
    assert by_id[tickets["triage"]]["状态"] == "受理" and by_id[tickets["triage"]]["部门"] == ""
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", by_id[tickets["own"]]["受理时间"])
    assert not re.search(r"[a-z]{3,}", by_id[tickets["own"]]["部门"] + by_id[tickets["own"]]["状态"])
    english = _csv(clients["dispatcher"], "status=all")
    assert english[0].keys() >= {"id", "status", "agency"} and not english[0]["id"].startswith("\ufeff")
    # a script asks for the codes whatever the reader's language
    scripted = clients["dispatcher"].get("/tickets.csv?status=all&codes=1",
                                         headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert scripted.text.startswith("id,reference,") and by_id.keys() == {
        int(r["id"]) for r in csv.DictReader(io.StringIO(scripted.text))}
