"""E-mail channel: one plain-text message per delivery over SMTP (smtplib)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from pydantic import BaseModel, Field

from dispatch.delivery.base import PermanentDeliveryError, TicketMessage, TransientDeliveryError


class SmtpConfig(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    sender: str = "cityloop@localhost"
    username: str = ""
    password: str = ""
    starttls: bool = False
    timeout_s: float = Field(default=10.0, gt=0, le=120)


def compose(message: TicketMessage, *, sender: str, recipient: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"] = sender, recipient
    notice = f"{message.notice}: " if message.notice else ""
    # one line: a title from a citizen or an LLM must not add headers
    mail["Subject"] = " ".join(f"[{message.reference}] {notice}{message.title}".split())[:200]
    # Receivers and our own retries recognise a repeat by this header.
    mail["Message-ID"] = f"<{message.idempotency_key}@cityloop>"
    lines = [*([message.notice, ""] if message.notice else []),
             f"Ticket {message.reference} for {message.agency}", "",
             f"Category: {message.category}", f"Priority: {message.priority}",
             f"District: {message.district or '-'}", f"Title: {message.title}"]
    if message.url:
        lines.append(f"Link: {message.url}")
    mail.set_content("\n".join(lines))
    return mail


class EmailChannel:
    name = "email"

    def __init__(self, *, config: SmtpConfig, recipient: str) -> None:
        self.config = config
        self.recipient = recipient

    def send(self, message: TicketMessage) -> None:
        cfg = self.config
        mail = compose(message, sender=cfg.sender, recipient=self.recipient)
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
