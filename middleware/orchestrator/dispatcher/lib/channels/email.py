"""``email``: the notice as a plain-text e-mail to each address of ``notify.email``, through
the server of ``SMTP_URL`` (smtplib; one connection per message).

``SMTP_URL`` is ``smtp://user:password@host:25`` (no TLS), ``smtp+starttls://…:587``
(STARTTLS, required) or ``smtps://…:465`` (TLS from the first byte); user and password are
optional, percent-encoded when they hold ``@`` or ``:``. The password is registered as a secret: never logged. Empty: no
e-mail, and a job asking for it is refused when created.
"""
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
import smtplib
import ssl
from urllib.parse import unquote

from dispatcher import settings as defaults
from dispatcher.errors import SettingsError
from dispatcher.lib.channels.base import Channel, DeliveryFailed
from dispatcher.lib.notices import email_text
from dispatcher.lib.secrets import registry as secrets, url_setting

PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


@dataclass(frozen=True)
class SmtpServer:
    """Where e-mail goes, read from ``SMTP_URL`` and ``SMTP_FROM``."""

    scheme: str
    host: str
    port: int
    sender: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def shown(self):
        return f"{self.scheme}://{self.host}:{self.port}"


def smtp_server(config):
    """The :class:`SmtpServer` of the settings, or None when ``SMTP_URL`` is empty;
    :class:`SettingsError` naming the setting when one is unusable."""
    parts = url_setting(config, "SMTP_URL", PORTS, "an SMTP URL",
                        "smtp://, smtp+starttls:// or smtps://user:password@host:port")
    if parts is None:
        return None
    sender = config.get("SMTP_FROM", defaults.SMTP_FROM) or ""
    if not isinstance(sender, str) or "@" not in parseaddr(sender)[1]:
        raise SettingsError(f"SMTP_FROM {sender!r} must be an e-mail address, e.g. 'Orchestrator <ops@example.com>'")
    return SmtpServer(parts.scheme, parts.hostname, parts.port or PORTS[parts.scheme], sender,
                      unquote(parts.username) if parts.username else None,
                      unquote(parts.password) if parts.password else None)


class EmailChannel(Channel):
    """``email``: one message per address, subject and text from :func:`~dispatcher.lib.notices.email_text`."""

    name = "email"

    def __init__(self, server, timeout=defaults.NOTIFY_TIMEOUT):
        self.server = server
        self.timeout = float(timeout)

    def message(self, address, body, delivery_id):
        """The e-mail of one notice to one address."""
        subject, text = email_text(body)
        message = EmailMessage()
        message["From"] = self.server.sender
        message["To"] = address
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(idstring=delivery_id, domain=self.server.sender.rsplit("@", 1)[-1]
                                           .strip(">"))
        message["X-Orchestrator-Event"] = body["event"]
        message.set_content(text)
        return message

    def send(self, target, body, delivery_id):
        server = self.server
        message = self.message(target, body, delivery_id)
        try:
            if server.scheme == "smtps":
                smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=self.timeout,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(server.host, server.port, timeout=self.timeout)
            with smtp:
                if server.scheme == "smtp+starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if server.user:
                    smtp.login(server.user, server.password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = ", ".join(f"{code} {reply.decode(errors='replace')}" for code, reply in exc.recipients.values())
            raise DeliveryFailed(f"{server.shown} refused the address: {codes}", retry=False) from None
        except smtplib.SMTPResponseException as exc:
            reply = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
            # 4xx is the server's "try again later"; 5xx is final.
            raise DeliveryFailed(secrets.redact(f"{server.shown} answered {exc.smtp_code} {reply}"),
                                 retry=400 <= exc.smtp_code < 500) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(secrets.redact(f"{server.shown}: {type(exc).__name__}: {exc}")) from None
