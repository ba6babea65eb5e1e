"""DNS through the Cloudflare API v4, against a fake Cloudflare on 127.0.0.1: paging, changes,
validation before the API, Cloudflare's own error text, permissions and the audit log."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from labtui import cli
from labtui.core.actor import Actor
from labtui.core.audit import AuditFilter
from labtui.core.config import CloudflareConfig, Config, load_config
from labtui.core.dns import DnsError, DnsNotConfigured, DnsRecordSpec
from labtui.core.errors import PermissionDenied, ValidationError
from labtui.core.runtime import Core, Paths
from labtui.testing.fakes.cloudflare import DEFAULT_TOKEN, ZONE_ID, ZONE_NAME, FakeCloudflare
from tests.conftest import ADMIN_PASSWORD, MakeCore, add_user


@pytest.fixture
def fake() -> Iterator[FakeCloudflare]:
    with FakeCloudflare() as server:
        yield server


def dns_config(fake: FakeCloudflare, **overrides: object) -> Config:
    values: dict[str, object] = {
        "base_url": fake.base_url,
        "api_token": DEFAULT_TOKEN,
        "zone_id": ZONE_ID,
        "timeout_seconds": 5.0,
    }
    values.update(overrides)
    return Config(cloudflare=CloudflareConfig(**values))  # type: ignore[arg-type]


@pytest.fixture
async def dns_core(make_core: MakeCore, fake: FakeCloudflare) -> Core:
    return await make_core(dns_config(fake))


@pytest.fixture
async def boss(dns_core: Core) -> Actor:
    await dns_core.auth.create_admin("admin", ADMIN_PASSWORD)
    return (await dns_core.auth.login("admin", ADMIN_PASSWORD)).actor


async def audit_rows(core: Core, admin: Actor, action: str) -> list[dict[str, object]]:
    rows = await core.audit.page(admin, AuditFilter(action=action), limit=50)
    return [{"target": r.target, **r.detail} for r in rows]


async def test_list_follows_result_info_across_pages(dns_core: Core, boss: Actor, fake: FakeCloudflare) -> None:
    fake.max_per_page = 7  # Cloudflare caps per_page; labtui must follow the pages
    for i in range(20):
        fake.add_record("A", f"host{i:02d}", f"192.0.2.{i + 1}")
    fake.add_record("TXT", "@", "v=spf1 -all")
    records = await dns_core.dns.list(boss)
    assert len(records) == 21
    assert records[0].name == ZONE_NAME and records[0].type == "TXT" and records[0].ttl_text == "auto"
    assert [r.name for r in records[1:4]] == [f"host0{i}.{ZONE_NAME}" for i in range(3)]
    pages = [path for method, path in fake.requests if method == "GET" and "/dns_records" in path]
    assert len(pages) == 3 and all(f"page={n}" in p for n, p in zip((1, 2, 3), pages, strict=True))
    assert dns_core.dns.zone_name == ZONE_NAME  # learned from GET /zones/{id}


async def test_create_update_delete_hit_the_api_and_are_audited(
    dns_core: Core, boss: Actor, fake: FakeCloudflare
) -> None:
    made = await dns_core.dns.create(boss, DnsRecordSpec("a", "WWW", "192.0.2.10", 300, True))
    assert (made.type, made.name, made.content, made.ttl, made.proxied) == (
        "A",
        f"www.{ZONE_NAME}",
        "192.0.2.10",
        300,
        True,
    )
    assert fake.find("www", "A")[0]["content"] == "192.0.2.10"

    changed = await dns_core.dns.update(boss, made.id, DnsRecordSpec("A", "www", "192.0.2.11", 1, False))
    assert changed.id == made.id and changed.content == "192.0.2.11" and fake.find("www")[0]["ttl"] == 1

    txt = await dns_core.dns.create(boss, DnsRecordSpec("TXT", "_acme-challenge", "token-value"))
    gone = await dns_core.dns.delete(boss, txt.id)
    assert gone.content == "token-value" and fake.find("_acme-challenge") == []

    created = await audit_rows(dns_core, boss, "dns.create")
    assert {(r["name"], r["type"], r["content"]) for r in created} == {
        (f"www.{ZONE_NAME}", "A", "192.0.2.10"),
        (f"_acme-challenge.{ZONE_NAME}", "TXT", "token-value"),
    }
    updated = await audit_rows(dns_core, boss, "dns.update")
    assert updated[0]["content"] == "192.0.2.11" and updated[0]["before"] == {
        "type": "A",
        "name": f"www.{ZONE_NAME}",
        "content": "192.0.2.10",
    }
    deleted = await audit_rows(dns_core, boss, "dns.delete")
    assert deleted[0]["target"] == f"dns:_acme-challenge.{ZONE_NAME}"
    everything = json.dumps([await audit_rows(dns_core, boss, a) for a in ("dns.create", "dns.update", "dns.delete")])
    assert DEFAULT_TOKEN not in everything
    # The token went only in the Authorization header.
    assert fake.auth_headers == {f"Bearer {DEFAULT_TOKEN}"}


async def test_point_creates_then_updates_the_a_record(dns_core: Core, boss: Actor, fake: FakeCloudflare) -> None:
    first = await dns_core.dns.point(boss, "app", "198.51.100.7")
    again = await dns_core.dns.point(boss, f"app.{ZONE_NAME}", "198.51.100.8")
    assert again.id == first.id and [r["content"] for r in fake.find("app", "A")] == ["198.51.100.8"]
    v6 = await dns_core.dns.point(boss, "app", "2001:db8::8")
    assert v6.type == "AAAA" and len(fake.find("app")) == 2
    assert [r["via"] for r in await audit_rows(dns_core, boss, "dns.update")] == ["point"]
    with pytest.raises(ValidationError, match="not an IP address"):
        await dns_core.dns.point(boss, "app", "app.example.org")


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        (DnsRecordSpec("MX", "mail", "10 mx.example.org"), "type", "one of A, AAAA, CNAME, TXT"),
        (DnsRecordSpec("A", "www", "2001:db8::1"), "content", "IPv4 address"),
        (DnsRecordSpec("AAAA", "www", "192.0.2.1"), "content", "IPv6 address"),
        (DnsRecordSpec("CNAME", "www", "not a host!"), "content", "host name"),
        (DnsRecordSpec("A", "bad name", "192.0.2.1"), "name", "not a DNS name"),
        (DnsRecordSpec("A", "", "192.0.2.1"), "name", "needs a name"),
        (DnsRecordSpec("TXT", "t", ""), "content", "needs some text"),
        (DnsRecordSpec("A", "www", "192.0.2.1", ttl=30), "ttl", "1 (auto) or 60 to 86400"),
        (DnsRecordSpec("A", "www", "192.0.2.1", ttl=86401), "ttl", "1 (auto) or 60 to 86400"),
        (DnsRecordSpec("TXT", "t", "hello", proxied=True), "proxied", "can be proxied"),
    ],
)
async def test_bad_input_is_refused_before_the_api(
    dns_core: Core, boss: Actor, fake: FakeCloudflare, spec: DnsRecordSpec, field: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)) as caught:
        await dns_core.dns.create(boss, spec)
    assert caught.value.field == field
    assert not [m for m, _ in fake.requests if m == "POST"]


async def test_cloudflare_errors_reach_the_user(dns_core: Core, boss: Actor, fake: FakeCloudflare) -> None:
    fake.add_record("A", "www", "192.0.2.10")
    with pytest.raises(DnsError, match=r"Cloudflare refused: Record already exists\. \(81057\)") as caught:
        await dns_core.dns.create(boss, DnsRecordSpec("A", "www", "192.0.2.10"))
    assert caught.value.codes == (81057,)
    with pytest.raises(DnsError, match=r"A, AAAA, or CNAME record with that host already exists\. \(81053\)"):
        await dns_core.dns.create(boss, DnsRecordSpec("CNAME", "www", "elsewhere.example.org"))
    with pytest.raises(DnsError, match=r"Record does not exist\. \(81044\)"):
        await dns_core.dns.delete(boss, "0" * 32)
    fake.fail_status = 502
    with pytest.raises(DnsError, match="Cloudflare failed with HTTP 502.*try again later"):
        await dns_core.dns.list(boss)
    fake.fail_status = None
    assert not await audit_rows(dns_core, boss, "dns.create")  # refusals changed nothing


async def test_bad_token_timeout_and_unreachable(make_core: MakeCore, fake: FakeCloudflare, tmp_path: Path) -> None:
    admin = Actor.system("test")
    bad = await make_core(dns_config(fake, api_token="wrong-token-xyz"))
    with pytest.raises(DnsError, match=r"Cloudflare refused: Authentication error \(10000\)") as caught:
        await bad.dns.list(admin)
    assert "wrong-token-xyz" not in str(caught.value)

    slow = await make_core(dns_config(fake, timeout_seconds=0.2))
    fake.delay_seconds = 0.6
    with pytest.raises(DnsError, match="did not answer within 0.2 s"):
        await slow.dns.list(admin)
    fake.delay_seconds = 0

    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    closed = s.getsockname()[1]
    s.close()
    gone = await make_core(dns_config(fake, base_url=f"http://127.0.0.1:{closed}"))
    with pytest.raises(DnsError, match="Cloudflare unreachable at http://127.0.0.1"):
        await gone.dns.list(admin)


async def test_zone_looked_up_by_name(make_core: MakeCore, fake: FakeCloudflare) -> None:
    core = await make_core(dns_config(fake, zone_id="", zone_name=ZONE_NAME))
    fake.add_record("A", "www", "192.0.2.10")
    records = await core.dns.list(Actor.system("test"))
    assert [r.name for r in records] == [f"www.{ZONE_NAME}"]
    assert ("GET", f"/client/v4/zones?name={ZONE_NAME}") in fake.requests
    assert not any(path == f"/client/v4/zones/{ZONE_ID}" for _, path in fake.requests)

    missing = await make_core(dns_config(fake, zone_id="", zone_name="nope.example.net"))
    with pytest.raises(DnsError, match="no zone named 'nope.example.net'"):
        await missing.dns.list(Actor.system("test"))


async def test_not_configured_says_which_key(make_core: MakeCore) -> None:
    core = await make_core(Config())
    with pytest.raises(DnsNotConfigured, match=r"DNS is not configured \(cloudflare.api_token"):
        await core.dns.list(Actor.system("test"))
    assert not core.dns.configured


async def test_viewer_may_list_but_changes_are_refused_and_audited(
    dns_core: Core, boss: Actor, fake: FakeCloudflare
) -> None:
    record = fake.add_record("A", "www", "192.0.2.10")
    viewer = await add_user(dns_core, boss, "vera", "viewer")
    assert [r.name for r in await dns_core.dns.list(viewer)] == [f"www.{ZONE_NAME}"]
    posts_before = len(fake.requests)
    for attempt in (
        dns_core.dns.create(viewer, DnsRecordSpec("A", "evil", "192.0.2.66")),
        dns_core.dns.update(viewer, record["id"], DnsRecordSpec("A", "www", "192.0.2.66")),
        dns_core.dns.delete(viewer, record["id"]),
        dns_core.dns.point(viewer, "www", "192.0.2.66"),
    ):
        with pytest.raises(PermissionDenied, match="system.settings.edit"):
            await attempt
    assert len(fake.requests) == posts_before and fake.find("www")[0]["content"] == "192.0.2.10"
    denied = await dns_core.audit.page(boss, AuditFilter(username="vera", action="permission.denied"), limit=10)
    assert len(denied) == 4 and {r.detail["permission"] for r in denied} == {"system.settings.edit"}


def test_cli_dns_list_json(
    tmp_path: Path, fake: FakeCloudflare, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("dns",))  # sibling modules may be mid-edit
    monkeypatch.delenv("LABTUI_HOME", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(
        f"cloudflare:\n  base_url: {fake.base_url}\n  api_token: ${{CF_TEST_TOKEN}}\n  zone_name: {ZONE_NAME}\n"
    )
    monkeypatch.setenv("CF_TEST_TOKEN", DEFAULT_TOKEN)
    fake.max_per_page = 5
    for i in range(12):
        fake.add_record("A", f"n{i:02d}", f"203.0.113.{i + 1}")
    assert cli.main(["--home", str(home), "dns", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in listed] == [f"n{i:02d}.{ZONE_NAME}" for i in range(12)]
    assert listed[0]["content"] == "203.0.113.1" and listed[0]["ttl"] == 1 and listed[0]["proxied"] is False

    assert cli.main(["--home", str(home), "dns", "list"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == ["ID", "TYPE", "NAME", "CONTENT", "TTL", "PROXIED"]
    assert f"n11.{ZONE_NAME}  203.0.113.12  auto  no" in table

    fake.fail_status = 500
    assert cli.main(["--home", str(home), "dns", "list"]) == 1
    assert "Cloudflare failed with HTTP 500" in capsys.readouterr().err
    fake.fail_status = None


def test_cli_dns_set_and_delete_act_as_a_user(
    tmp_path: Path, fake: FakeCloudflare, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("dns",))
    monkeypatch.delenv("LABTUI_HOME", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(
        f"cloudflare:\n  base_url: {fake.base_url}\n  api_token: {DEFAULT_TOKEN}\n  zone_id: {ZONE_ID}\n"
    )

    async def accounts() -> None:
        core = Core(load_config(home / "config.yaml"), Paths(home))
        await core.start()
        try:
            await core.auth.create_admin("admin", ADMIN_PASSWORD)
            boss = (await core.auth.login("admin", ADMIN_PASSWORD)).actor
            await core.users.create(boss, "vera", "password-123", roles=["viewer"])
        finally:
            await core.aclose()

    asyncio.run(accounts())
    run = ["--home", str(home), "dns"]
    assert cli.main([*run, "set", "www", "a", "192.0.2.5", "--ttl", "120", "--as", "admin", "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert (made["name"], made["type"], made["ttl"]) == (f"www.{ZONE_NAME}", "A", 120)
    assert cli.main([*run, "set", "www", "A", "192.0.2.6", "--id", made["id"], "--as", "admin"]) == 0
    assert capsys.readouterr().out.strip() == f"updated A www.{ZONE_NAME} -> 192.0.2.6 (id {made['id']})"
    assert cli.main([*run, "set", "www", "A", "999.1.1.1", "--as", "admin"]) == 2
    assert "IPv4 address" in capsys.readouterr().err
    assert cli.main([*run, "delete", made["id"], "--as", "vera"]) == 1
    assert "system.settings.edit" in capsys.readouterr().err
    assert cli.main([*run, "delete", made["id"], "--as", "admin"]) == 0
    assert capsys.readouterr().out.strip() == f"deleted A www.{ZONE_NAME} -> 192.0.2.6"
    assert fake.find("www") == []
