"""E-mail of a fixed Japanese text, handed to the SMTP server of ``SMTP_HOST``.

Plumbing only, below every domain: the account duties (an invitation), the account services (a
set-password link) and the notifications' delivery (a new-notice mail) all send this way.  The
text is always the caller's constant with at most a link in it, never a name or another personal
value (README, "Dangerous constructs").
"""
from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app


def fixed_message(to_address: str, subject: str, body: str) -> EmailMessage:
    """A message of a fixed Japanese text (the caller's constant), from ``SMTP_FROM``."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = current_app.config["SMTP_FROM"]
    message["To"] = to_address
    message["Message-ID"] = make_msgid(domain="teichaku")
    # base64: 7-bit clean for any relay (no 8BITMIME needed)
    message.set_content(body, cte="base64")
    return message


def send_now(message: EmailMessage) -> None:
    """Hand one message to the SMTP server of ``SMTP_HOST`` (the caller checked it is set)."""
    cfg = current_app.config
    with smtplib.SMTP(cfg["SMTP_HOST"], cfg["SMTP_PORT"], timeout=10) as smtp:
        smtp.send_message(message)
