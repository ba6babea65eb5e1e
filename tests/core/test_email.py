"""Invitation and reset emails through real local servers: a fake Sendamatic (HTTP on
127.0.0.1) and an aiosmtpd sink. The tokens are taken from the delivered mail and redeemed,
so these tests prove the whole path: core -> provider -> mailbox -> login screen's redeem.

When a provider fails, the admin gets the token to hand over in person (never an exception),
and no token ever lands in the log file or the audit log.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest

from labtui.core.actor import Actor
from labtui.core.audit import AuditFilter
from labtui.core.config import Config, EmailConfig, SendamaticConfig, SmtpConfig
from labtui.core.errors import AuthError
from labtui.core.runtime import Core, setup_logging
from labtui.testing.fakes.sendamatic import FakeSendamatic
from labtui.testing.fakes.smtp_sink import SmtpSink, refused_port
from tests.conftest import ADMIN_PASSWORD, MakeCore

SENDER = "Lab Admin <lab@example.org>"
API_KEY = "cred-1234-secret-pass"
# secrets.token_urlsafe(32): 43 URL-safe characters, alone on its line in the mail.
TOKEN_LINE = re.compile(r"^([A-Za-z0-9_-]{40,})\r?$", re.MULTILINE)


def token_in(text: str) -> str:
    found = TOKEN_LINE.findall(text)
    assert len(found) == 1, f"expected exactly one token in the mail, got {found!r}"
    return found[0]


@pytest.fixture
def sendamatic() -> Iterator[FakeSendamatic]:
    with FakeSendamatic(api_key=API_KEY) as fake:
        yield fake


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


def sendamatic_config(fake: FakeSendamatic, api_key: str = API_KEY) -> Config:
    return Config(
        email=EmailConfig(
            provider="sendamatic",
            from_=SENDER,
            sendamatic=SendamaticConfig(base_url=fake.base_url, api_key=api_key),
        )
    )


def smtp_config(port: int) -> Config:
    return Config(email=EmailConfig(provider="smtp", from_=SENDER, smtp=SmtpConfig(host="127.0.0.1", port=port)))


async def started(make_core: MakeCore, config: Config) -> tuple[Core, Actor]:
    core = await make_core(config)
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    return core, (await core.auth.login("admin", ADMIN_PASSWORD)).actor


async def audit_text(core: Core, admin: Actor) -> str:
    rows = await core.audit.page(admin, AuditFilter(), limit=1000)
    assert rows, "the audit log should not be empty"
    return json.dumps([r.as_json() for r in rows])


@pytest.fixture
def log_to_file() -> Iterator[None]:
    """Log at DEBUG to $LABTUI_HOME/labtui.log as the CLI does (setup_logging), then undo it."""
    logger = logging.getLogger("labtui")
    before = list(logger.handlers), logger.level, logger.propagate
    yield
    for handler in logger.handlers:
        if handler not in before[0]:
            handler.close()
    logger.handlers[:] = before[0]
    logger.setLevel(before[1])
    logger.propagate = before[2]


# --- Sendamatic -------------------------------------------------------------------------------


async def test_invitation_via_sendamatic_reaches_the_invitee_and_redeems(
    make_core: MakeCore, sendamatic: FakeSendamatic
) -> None:
    core, admin = await started(make_core, sendamatic_config(sendamatic))

    delivery = await core.users.invite(admin, "carol", "Carol@Example.com", roles=["viewer"])

    # The admin is told it was mailed, and is not handed the token.
    assert delivery.emailed is True
    assert delivery.token is None
    assert "carol@example.com" in delivery.message
    # Sendamatic got exactly one well-formed request with our key.
    assert len(sendamatic.messages) == 1 and sendamatic.refused == []
    sent = sendamatic.messages[0]
    assert sent.to == ["carol@example.com"]
    assert sent.sender == SENDER
    assert sent.headers["x-api-key"] == API_KEY
    assert "invitation" in sent.subject.lower()
    assert "carol" in sent.text_body
    token = token_in(sent.text_body)

    # The invitee redeems the token from the mail and can log in with the new password.
    result = await core.auth.redeem_invite(token, "carol-pass-123")
    assert result.actor.username == "carol"
    assert (await core.auth.login("carol", "carol-pass-123")).actor.username == "carol"
    # Single use.
    with pytest.raises(AuthError):
        await core.auth.redeem_invite(token, "carol-pass-456")


async def test_admin_reset_via_sendamatic_mails_the_user(make_core: MakeCore, sendamatic: FakeSendamatic) -> None:
    core, admin = await started(make_core, sendamatic_config(sendamatic))
    await core.users.create(admin, "dave", "dave-pass-123", roles=["viewer"], email="dave@example.com")
    dave = next(u for u in await core.users.list(admin) if u.username == "dave")

    delivery = await core.users.admin_reset(admin, dave.id)

    assert (delivery.emailed, delivery.token) == (True, None)
    assert [m.to for m in sendamatic.messages] == [["dave@example.com"]]
    token = token_in(sendamatic.messages[0].text_body)
    await core.auth.redeem_reset(token, "dave-new-pass-1")
    assert (await core.auth.login("dave", "dave-new-pass-1")).actor.username == "dave"


async def test_wrong_api_key_falls_back_to_showing_the_token(make_core: MakeCore, sendamatic: FakeSendamatic) -> None:
    core, admin = await started(make_core, sendamatic_config(sendamatic, api_key="not-the-key"))

    delivery = await core.users.invite(admin, "erin", "erin@example.com", roles=["viewer"])

    assert delivery.emailed is False
    assert delivery.token  # shown to the admin instead
    assert "email failed" in delivery.message.lower()
    assert "401" in delivery.message
    assert "not-the-key" not in delivery.message
    assert sendamatic.messages == [] and sendamatic.refused == [401]
    # The shown token is the real one.
    assert (await core.auth.redeem_invite(delivery.token, "erin-pass-123")).actor.username == "erin"


async def test_sendamatic_unreachable_falls_back(make_core: MakeCore) -> None:
    fake = FakeSendamatic(api_key=API_KEY).start()
    config = sendamatic_config(fake)
    fake.stop()  # nothing listens on that port any more
    core, admin = await started(make_core, config)

    delivery = await core.users.invite(admin, "fred", "fred@example.com", roles=["viewer"])

    assert delivery.emailed is False and delivery.token
    assert "email failed" in delivery.message.lower() and "unreachable" in delivery.message.lower()


async def test_forgot_password_with_a_refusing_provider_raises_nothing(
    make_core: MakeCore, sendamatic: FakeSendamatic
) -> None:
    core, admin = await started(make_core, sendamatic_config(sendamatic, api_key="not-the-key"))
    await core.users.create(admin, "gina", "gina-pass-123", roles=["viewer"], email="gina@example.com")

    await core.users.forgot_password("gina@example.com")

    assert sendamatic.refused == [401] and sendamatic.messages == []


# --- SMTP -------------------------------------------------------------------------------------


async def test_self_service_reset_via_smtp_arrives_and_redeems(make_core: MakeCore, smtp_sink: SmtpSink) -> None:
    core, admin = await started(make_core, smtp_config(smtp_sink.port))
    await core.users.create(admin, "bob", "bob-old-pass-1", roles=["viewer"], email="bob@example.com")
    old_session = await core.auth.login("bob", "bob-old-pass-1")

    await core.users.forgot_password("BOB@example.com")

    assert len(smtp_sink.messages) == 1
    mail = smtp_sink.messages[0]
    assert mail["To"] == "bob@example.com"
    assert mail["From"] == SENDER
    assert "reset" in str(mail["Subject"]).lower()
    assert smtp_sink.envelopes[0] == ("lab@example.org", ["bob@example.com"])
    token = token_in(smtp_sink.text(0))

    result = await core.auth.redeem_reset(token, "bob-new-pass-1")
    assert result.actor.username == "bob"
    assert (await core.auth.login("bob", "bob-new-pass-1")).actor.username == "bob"
    with pytest.raises(AuthError):
        await core.auth.login("bob", "bob-old-pass-1")
    # A reset ends the sessions opened with the old password, and the token is single use.
    assert await core.auth.resume(old_session.token) is None
    with pytest.raises(AuthError):
        await core.auth.redeem_reset(token, "bob-newer-pass-2")


async def test_forgot_password_by_username_mails_the_address_on_file(make_core: MakeCore, smtp_sink: SmtpSink) -> None:
    core, admin = await started(make_core, smtp_config(smtp_sink.port))
    await core.users.create(admin, "hank", "hank-pass-123", roles=["viewer"], email="hank@example.com")

    await core.users.forgot_password("hank")

    assert [m["To"] for m in smtp_sink.messages] == ["hank@example.com"]


async def test_invitation_via_smtp(make_core: MakeCore, smtp_sink: SmtpSink) -> None:
    core, admin = await started(make_core, smtp_config(smtp_sink.port))

    delivery = await core.users.invite(admin, "ivy", "ivy@example.com", roles=["operator"])

    assert (delivery.emailed, delivery.token) == (True, None)
    token = token_in(smtp_sink.text(0))
    assert (await core.auth.redeem_invite(token, "ivy-pass-1234")).actor.username == "ivy"


@pytest.mark.parametrize("provider", ["sendamatic", "smtp"])
async def test_forgot_password_for_unknown_address_sends_nothing(
    make_core: MakeCore, sendamatic: FakeSendamatic, smtp_sink: SmtpSink, provider: str
) -> None:
    config = sendamatic_config(sendamatic) if provider == "sendamatic" else smtp_config(smtp_sink.port)
    core, admin = await started(make_core, config)
    await core.users.create(admin, "jack", "jack-pass-123", roles=["viewer"], email="jack@example.com")

    assert await core.users.forgot_password("nobody@example.com") is None
    assert await core.users.forgot_password("nobody") is None

    assert sendamatic.messages == [] and sendamatic.refused == []
    assert smtp_sink.messages == []
    # The request is audited (without saying more to the asker).
    rows = await core.audit.page(admin, AuditFilter(action="password_reset.requested"))
    assert [r.detail for r in rows] == [{"matched": False}, {"matched": False}]


async def test_smtp_server_down_falls_back(make_core: MakeCore) -> None:
    sock, port = refused_port()
    try:
        core, admin = await started(make_core, smtp_config(port))
        await core.users.create(admin, "kate", "kate-pass-123", roles=["viewer"], email="kate@example.com")

        await core.users.forgot_password("kate@example.com")  # must not raise
        invited = await core.users.invite(admin, "liam", "liam@example.com", roles=["viewer"])
        kate = next(u for u in await core.users.list(admin) if u.username == "kate")
        reset = await core.users.admin_reset(admin, kate.id)  # retires the self-service token
    finally:
        sock.close()

    for delivery in (invited, reset):
        assert delivery.emailed is False and delivery.token
        assert "email failed" in delivery.message.lower()
        assert f"127.0.0.1:{port}" in delivery.message
    assert (await core.auth.redeem_invite(invited.token, "liam-pass-123")).actor.username == "liam"
    assert (await core.auth.redeem_reset(reset.token, "kate-new-pass-1")).actor.username == "kate"


async def test_provider_none_shows_the_token(make_core: MakeCore, sendamatic: FakeSendamatic) -> None:
    core, admin = await started(make_core, Config(email=EmailConfig(provider="none")))

    delivery = await core.users.invite(admin, "mona", "mona@example.com", roles=["viewer"])

    assert delivery.emailed is False and delivery.token
    assert "email is off" in delivery.message.lower()
    assert sendamatic.messages == []


# --- Secrets stay out of the log and the audit ------------------------------------------------


async def test_no_token_in_log_or_audit(
    make_core: MakeCore, sendamatic: FakeSendamatic, smtp_sink: SmtpSink, log_to_file: None
) -> None:
    # Mail through Sendamatic, through SMTP, and fail once each way: every path that handles a token.
    core, admin = await started(make_core, sendamatic_config(sendamatic))
    setup_logging(core.paths, "DEBUG")
    tokens: list[str] = []

    await core.users.invite(admin, "nina", "nina@example.com", roles=["viewer"])
    tokens.append(token_in(sendamatic.messages[-1].text_body))
    await core.users.forgot_password("nina")  # invited, not active yet: nothing sent
    await core.auth.redeem_invite(tokens[-1], "nina-pass-123")
    await core.users.forgot_password("nina@example.com")
    tokens.append(token_in(sendamatic.messages[-1].text_body))
    await core.auth.redeem_reset(tokens[-1], "nina-pass-456")

    # Other processes on the same data dir (same database and log) mail through SMTP.
    smtp_core = await make_core(smtp_config(smtp_sink.port))
    smtp_admin = (await smtp_core.auth.login("admin", ADMIN_PASSWORD)).actor
    await smtp_core.users.invite(smtp_admin, "omar", "omar@example.com", roles=["viewer"])
    tokens.append(token_in(smtp_sink.text(-1)))

    sock, port = refused_port()
    try:
        down_core = await make_core(smtp_config(port))
        down_admin = (await down_core.auth.login("admin", ADMIN_PASSWORD)).actor
        failed = await down_core.users.invite(down_admin, "pia", "pia@example.com", roles=["viewer"])
    finally:
        sock.close()
    assert failed.token
    tokens.append(failed.token)
    # A refused token attempt is audited too.
    with pytest.raises(AuthError):
        await core.auth.redeem_invite(tokens[0], "again-pass-123")

    log_text = core.paths.log.read_text()
    assert "email to pia@example.com failed" in log_text  # the log did record the events...
    audit = await audit_text(core, admin)
    assert "user.invite" in audit and "user.password_reset" in audit and "token.refused" in audit
    assert len(set(tokens)) == 4
    for token in tokens:  # ...but never a token
        assert token not in log_text
        assert token not in audit
    assert API_KEY not in log_text and API_KEY not in audit
