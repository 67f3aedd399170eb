"""E-mail channel: one plain-text message per delivery over SMTP (smtplib)."""

from __future__ import annotations

import re
import smtplib
from email.message import EmailMessage

from pydantic import BaseModel, Field

from dispatch import i18n
from dispatch.city.config import CityConfig
from dispatch.delivery.base import PermanentDeliveryError, TicketMessage, TransientDeliveryError
from dispatch.i18n import N_


class SmtpConfig(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    sender: str = "cityloop@localhost"
    username: str = ""
    password: str = ""
    starttls: bool = False
    timeout_s: float = Field(default=10.0, gt=0, le=120)


SUBJECT_NOTICE = N_("SLA escalation level %(level)s: overdue since %(when)s, priority %(priority)s")
_ESCALATION = re.compile(r"^SLA escalation level (\d+): overdue since (.+), priority (\w+)$")


def _notice(notice: str, language: str) -> str:
    """The outbox writes the escalation notice in English (webhooks carry it as it is); the
    e-mail says it in the city's language."""
    match = _ESCALATION.match(notice)
    if language == i18n.DEFAULT or match is None:
        return notice
    return i18n.gettext(language, SUBJECT_NOTICE, level=match.group(1), when=match.group(2),
                        priority=i18n.label(language, i18n.PRIORITY_LABELS, match.group(3)))


def compose(message: TicketMessage, *, sender: str, recipient: str,
            city: CityConfig | None = None) -> EmailMessage:
    """The e-mail, in the city's language (``city.language``; English without a city)."""
    language = (i18n.supported(city.city.language) if city is not None else None) or i18n.DEFAULT
    names = i18n.CityNames(city, language) if city is not None else None

    def tr(text: str, **values: object) -> str:
        return i18n.gettext(language, text, **values)

    def name(kind: str, code: str | None) -> str:
        if not code:
            return "-"
        return getattr(names, kind)(code) if names is not None else code

    mail = EmailMessage()
    mail["From"], mail["To"] = sender, recipient
    notice_text = _notice(message.notice, language) if message.notice else ""
    notice = f"{notice_text}: " if notice_text else ""
    # one line: a title from a citizen or an LLM must not add headers
    mail["Subject"] = " ".join(f"[{message.reference}] {notice}{message.title}".split())[:200]
    # Receivers and our own retries recognise a repeat by this header.
    mail["Message-ID"] = f"<{message.idempotency_key}@cityloop>"
    lines = [*([notice_text, ""] if notice_text else []),
             tr(N_("Ticket %(reference)s for %(agency)s"), reference=message.reference,
                agency=name("agency", message.agency)), "",
             tr(N_("Category: %(category)s"), category=name("category", message.category)),
             tr(N_("Priority: %(priority)s"),
                priority=i18n.label(language, i18n.PRIORITY_LABELS, message.priority)),
             tr(N_("District: %(district)s"), district=name("district", message.district)),
             tr(N_("Title: %(title)s"), title=message.title)]
    if message.url:
        lines.append(tr(N_("Link: %(url)s"), url=message.url))
    mail.set_content("\n".join(lines))
    return mail


class EmailChannel:
    name = "email"

    def __init__(self, *, config: SmtpConfig, recipient: str,
                 city: CityConfig | None = None) -> None:
        self.config = config
        self.recipient = recipient
        self.city = city  # for the language and the names of the e-mail

    def send(self, message: TicketMessage) -> None:
        cfg = self.config
        mail = compose(message, sender=cfg.sender, recipient=self.recipient, city=self.city)
        try:
            with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s) as smtp:
                if cfg.starttls:
                    smtp.starttls()
                if cfg.username:
                    smtp.login(cfg.username, cfg.password)
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentDeliveryError(f"e-mail to {self.recipient}: refused") from exc
        except smtplib.SMTPResponseException as exc:
            error = PermanentDeliveryError if 500 <= exc.smtp_code < 600 else TransientDeliveryError
            raise error(f"e-mail to {self.recipient}: SMTP {exc.smtp_code}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientDeliveryError(f"e-mail to {self.recipient}: {type(exc).__name__}") from exc
