"""The pages in the reader's language (Riverton, an English city that names no language):
``Accept-Language`` chooses for a stranger, a user's own setting (the header's language
menu, CSRF-protected) beats it; the error page, the hotline page and Open311's service names
follow; English stays the default."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from dispatch.accounts.models import User
from dispatch.core.runtime import get_runtime
from tests.helpers.webauth import login

ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
CJK = re.compile(r"[\u4e00-\u9fff]")


def _language_of(username: str) -> str | None:
    with get_runtime().factory() as db:
        return db.scalar(select(User.language).where(User.username == username))


def test_accept_language_chooses_for_a_stranger(clients: dict[str, TestClient]) -> None:
    anon = clients["anon"]
    english = anon.get("/login").text
    assert '<html lang="en">' in english and "<h1>Sign in</h1>" in english
    chinese = anon.get("/login", headers=ZH).text
    assert '<html lang="zh">' in chinese and "<h1>登录</h1>" in chinese
    assert "Username" not in chinese and "用户名" in chinese
    assert "Sign in" not in chinese
    hotline = anon.get("/hotline", headers=ZH).text
    assert "Riverton 12345 热线" in hotline and "Send" not in hotline
    assert 'data-failed="抱歉，操作未成功，请重试。"' in hotline  # the chat script's words
    assert "Riverton city hotline" in anon.get("/hotline").text
    front = anon.get("/", headers=ZH).text
    assert "常用链接" in front and "园林绿化局" in front  # the agency's zh name from the city file


def test_wrong_password_in_the_readers_language(clients: dict[str, TestClient]) -> None:
    anon = clients["anon"]
    form = anon.get("/login", headers=ZH).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token
    wrong = anon.post("/login", headers=ZH, data={
        "username": "matrix-staff", "password": "not the password", "csrf_token": token.group(1)})
    assert wrong.status_code == 401 and "用户名或密码错误。" in wrong.text


def test_a_users_own_language_wins(clients: dict[str, TestClient]) -> None:
    staff = clients["staff"]
    inbox = staff.get("/inbox", headers=ZH).text  # no setting yet: the browser's choice
    assert "<h1>" in inbox and "工单箱" in inbox and "Sign out" not in inbox
    # the language menu posts with the session's CSRF token, like every form
    refused = staff.post("/language", data={"language": "en", "back": "/inbox"},
                         headers={"X-CSRF-Token": "wrong"}, follow_redirects=False)
    assert refused.status_code == 403
    assert _language_of("matrix-staff") is None
    chosen = staff.post("/language", data={"language": "en", "back": "/dashboard?x=1"},
                        follow_redirects=False)
    assert chosen.status_code == 303 and chosen.headers["location"] == "/dashboard?x=1"
    assert _language_of("matrix-staff") == "en"
    english = staff.get("/inbox", headers=ZH).text  # the setting beats Accept-Language
    assert "Sign out" in english and not CJK.search(english.split("<main>")[0].replace("中文", ""))
    assert staff.post("/language", data={"language": "zh"}, follow_redirects=False
                      ).status_code == 303
    chinese = staff.get("/dashboard").text
    assert "统计看板" in chinese and "Dashboard —" not in chinese
    # an off-site "back" is not followed; an unknown language is refused, naming the field
    away = staff.post("/language", data={"language": "", "back": "//evil.example/"},
                      follow_redirects=False)
    assert away.status_code == 303 and away.headers["location"] == "/inbox"
    assert _language_of("matrix-staff") is None
    bad = staff.post("/language", data={"language": "klingon"}, follow_redirects=False)
    assert bad.status_code == 422 and "language" in bad.text


def test_error_page_in_the_readers_language(clients: dict[str, TestClient]) -> None:
    staff = clients["staff"]
    english = staff.get("/tickets/987654321")
    assert english.status_code == 404 and "ticket 987654321 not found" in english.text
    chinese = staff.get("/tickets/987654321", headers=ZH)
    assert chinese.status_code == 404
    assert "未找到：工单 987654321。" in chinese.text and "not found" not in chinese.text
    assert "返回工单箱" in chinese.text
    csrf = staff.post("/tickets/1/comments", data={"note": "x", "csrf_token": "wrong"},
                      headers={"X-CSRF-Token": "", **ZH})
    assert csrf.status_code == 403 and "安全令牌" in csrf.text and "CSRF" not in csrf.text


def test_open311_service_names_per_locale(clients: dict[str, TestClient]) -> None:
    anon = clients["anon"]
    own = {s["service_code"]: s for s in anon.get("/open311/v2/services.json").json()}
    zh = {s["service_code"]: s for s in anon.get("/open311/v2/services.json?locale=zh_CN").json()}
    by_header = anon.get("/open311/v2/services.json", headers=ZH).json()
    city = get_runtime().city
    named = [c for c in city.categories if c.names.get("zh")]
    assert named, "Riverton's categories have Chinese names"
    for category in named:
        code = category.open311_service_code
        assert own[code]["service_name"] == category.name
        assert zh[code]["service_name"] == category.names["zh"]
    assert [s["service_name"] for s in by_header] == [s["service_name"] for s in zh.values()]
    assert anon.get("/open311/v2/services.json?locale=../../x").status_code == 400


def test_new_user_login(clients: dict[str, TestClient]) -> None:
    """A user signed in with a Chinese browser gets Chinese pages at once."""
    client = clients["anon"]
    login(client, "i18n-admin", "admin")
    learning = client.get("/learning", headers=ZH).text
    assert "<h1>学习</h1>" in learning and "规则建议" in learning


def test_a_refused_form_field_is_named_with_its_limit_in_the_readers_language(
        clients: dict[str, TestClient], tickets: dict[str, int]) -> None:
    """A refusal says which field and why, limit included, in the reader's words."""
    staff = clients["staff"]
    own = tickets["own"]
    long_note = "长" * 4001
    english = staff.post(f"/tickets/{own}/comments", data={"note": long_note})
    assert english.status_code == 422 and "text/html" in english.headers["content-type"]
    assert "note: at most 4000 characters" in english.text
    chinese = staff.post(f"/tickets/{own}/comments", data={"note": long_note}, headers=ZH)
    assert chinese.status_code == 422
    assert "“备注”未被接受：最多 4000 个字符。" in chinese.text and "characters" not in chinese.text
    # the JSON API keeps its JSON answer
    api = staff.post(f"/api/tickets/{own}/acknowledge", json={"actor": "x", "note": long_note})
    assert api.status_code == 422 and api.json()["detail"][0]["field"] == "note"
    empty = staff.post(f"/tickets/{own}/comments", data={"note": "  "}, headers=ZH)
    assert empty.status_code == 422 and "“备注”未被接受：留言不能为空。" in empty.text
    bell = staff.post(f"/tickets/{own}/comments", data={"note": "响铃\x07"}, headers=ZH)
    assert bell.status_code == 422 and "不能含控制字符（位置 2，从 0 起算：U+0007）" in bell.text
