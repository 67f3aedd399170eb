"""The message catalogs stay in step with the pages: every string the templates and the web
layer mark for translation is in ``messages.pot`` and has a Chinese translation with the
same placeholders. Extraction runs Babel's own extractor with ``babel.cfg``, as
``pybabel extract`` does, so a new ``{{ _("…") }}`` without a translation fails here.

Also the language a reader gets (their setting, the city's default, ``Accept-Language``),
names from the city file per language, dates and numbers per locale, and the e-mail text.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from dispatch import i18n
from dispatch.city.config import load_city
from dispatch.delivery.base import TicketMessage
from dispatch.delivery.email import compose

ROOT = Path(__file__).resolve().parents[3]
CFG = ROOT / "dispatch" / "i18n" / "babel.cfg"
POT = i18n.LOCALES_DIR / "messages.pot"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
CITIES = ROOT / "cityloop" / "cities"


def _extracted() -> dict[str, list[str]]:
    """msgid → where it is used, from the templates and Python files babel.cfg names."""
    method_map, options_map = parse_mapping_cfg(CFG.open())
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                found.setdefault(msgid, []).append(f"{filename}:{lineno}")
    return found


@pytest.fixture(scope="module")
def extracted() -> dict[str, list[str]]:
    return _extracted()


def test_the_templates_are_extracted(extracted: dict[str, list[str]]) -> None:
    where = {w.split(":")[0] for places in extracted.values() for w in places}
    for template in ("templates/inbox/base.html", "templates/inbox/ticket.html",
                     "templates/inbox/dashboard.html", "templates/inbox/ask.html",
                     "templates/inbox/login.html", "templates/inbox/error.html",
                     "templates/hotline/chat.html", "templates/index.html"):
        assert template in where, f"no string extracted from {template}"
    assert not any(w.startswith("templates/documents/") for w in where)
    assert "Sign in" in extracted and "Acknowledge" in extracted


def test_every_marked_string_is_in_the_catalog(extracted: dict[str, list[str]]) -> None:
    pot = {m.id for m in read_po(POT.open("rb")) if m.id}
    missing = {msgid: places[:2] for msgid, places in extracted.items() if msgid not in pot}
    assert not missing, ("strings missing from messages.pot (run pybabel extract, see "
                         f"dispatch/i18n/__init__.py): {missing}")
    stale = pot - set(extracted)
    assert not stale, f"messages.pot has strings nothing uses any more: {sorted(stale)}"


@pytest.mark.parametrize("language", [lang for lang in i18n.LANGUAGES if lang != i18n.DEFAULT])
def test_every_string_is_translated(extracted: dict[str, list[str]], language: str) -> None:
    po = read_po((i18n.LOCALES_DIR / language / "LC_MESSAGES" / "messages.po").open("rb"),
                 locale=language)
    untranslated, fuzzy, bad = [], [], []
    for msgid in extracted:
        message = po.get(msgid)
        strings = (message.string if isinstance(message.string, tuple) else (message.string,)
                   ) if message is not None else ("",)
        if message is None or not all(strings):
            untranslated.append(msgid)
            continue
        if message.fuzzy:
            fuzzy.append(msgid)
        wanted = sorted(PLACEHOLDER.findall(msgid))
        if any(sorted(PLACEHOLDER.findall(s)) != wanted for s in strings):
            bad.append(msgid)
    assert not untranslated, f"{language}: no translation (empty msgstr) for {untranslated}"
    assert not fuzzy, f"{language}: fuzzy translations are not used: {fuzzy}"
    assert not bad, f"{language}: placeholders differ from the msgid in {bad}"
    # the compiled catalog answers with the translation
    assert i18n.gettext(language, "Sign in") == po.get("Sign in").string


def test_chinese_catalog_speaks_the_12345_workflow() -> None:
    shown = [i18n.label("zh", i18n.STATUS_LABELS, s)
             for s in ("triage", "open", "acknowledged", "in_progress", "resolved")]
    assert shown == ["受理", "派单", "签收", "办理", "办结"]
    assert i18n.label("zh", i18n.ACTION_LABELS, "callback") == "回访"
    assert i18n.label("en", i18n.STATUS_LABELS, "in_progress") == "in_progress"  # unchanged
    assert i18n.label("zh", i18n.STATUS_LABELS, "no-such-status") == "no-such-status"


@pytest.mark.parametrize(("user", "city", "header", "expected"), [
    ("zh", "en", "en-US,en;q=0.9", "zh"),        # the user's own setting first
    (None, "zh", "en-US,en;q=0.9", "zh"),        # then the city's default
    (None, None, "fr-FR, zh-CN;q=0.8, en;q=0.5", "zh"),  # then Accept-Language by quality
    (None, None, "zh;q=0, en", "en"),            # q=0 means "not this one"
    (None, None, "fr, de", "en"),                # nothing supported: English
    ("xx", None, None, "en"),                    # an unknown setting is ignored
    (None, None, "zh_Hans_CN", "zh"),
])
def test_language_resolution(user: str | None, city: str | None, header: str | None,
                             expected: str) -> None:
    assert i18n.resolve(user_language=user, city_language=city, accept_language=header) == expected


def test_a_city_that_names_no_language_lets_the_browser_choose() -> None:
    riverton, jiangcheng = load_city(CITIES / "riverton.yaml"), load_city(CITIES / "jiangcheng.yaml")
    assert i18n.city_language(riverton) is None
    assert i18n.city_language(jiangcheng) == "zh"


def test_names_per_language_from_the_city_file() -> None:
    riverton, jiangcheng = load_city(CITIES / "riverton.yaml"), load_city(CITIES / "jiangcheng.yaml")
    agency = riverton.agencies[0]
    assert agency.names.get("zh")
    assert i18n.CityNames(riverton, "zh").agency(agency.code) == agency.names["zh"]
    assert i18n.CityNames(riverton, "en").agency(agency.code) == agency.code  # as always
    street = jiangcheng.category("zhandao_jingying")
    assert street is not None
    assert i18n.CityNames(jiangcheng, "zh").category(street.code) == "占道经营"
    assert i18n.CityNames(jiangcheng, "en").category(street.code) == "Street vending"
    assert i18n.CityNames(jiangcheng, "zh").category("unknown_code") == "unknown_code"


def test_dates_and_numbers_per_locale() -> None:
    moment = datetime(2026, 3, 5, 6, 7, tzinfo=UTC)
    assert i18n.format_when(moment, "zh", "Asia/Shanghai") == "2026年3月5日 14:07"
    assert i18n.format_when(moment, "en", "UTC").startswith("Mar 5, 2026")
    assert i18n.format_when(moment, "en", "UTC").endswith(" UTC")
    assert i18n.format_number(1234567, "en") == "1,234,567"
    assert i18n.format_share(0.875, "zh", 1) == "87.5%"
    assert i18n.format_when(None, "zh") == "—"


def _message(notice: str | None = None) -> TicketMessage:
    return TicketMessage(idempotency_key="k1", ticket_id=7, reference="JC-2026-000007",
                         routing_seq=1, agency="chengguan", category="zhandao_jingying",
                         priority="high", title="人行道上有人摆摊", district="laocheng",
                         url="http://127.0.0.1/tickets/7", notice=notice)


def test_email_in_the_city_language() -> None:
    jiangcheng = load_city(CITIES / "jiangcheng.yaml")
    notice = "SLA escalation level 2: overdue since 2026-03-05 06:07 UTC, priority high"
    mail = compose(_message(notice), sender="a@b.example", recipient="c@d.example", city=jiangcheng)
    body = mail.get_content()
    assert "派给城市管理综合执法局的工单 JC-2026-000007" in body
    assert "类别：占道经营" in body and "优先级：高" in body and "区域：老城区" in body
    assert "超时升级第 2 级" in mail["Subject"] and "Category" not in body
    english = compose(_message(notice), sender="a@b.example", recipient="c@d.example")
    assert "Ticket JC-2026-000007 for chengguan" in english.get_content()
    assert english["Subject"].startswith("[JC-2026-000007] SLA escalation level 2")
