"""Audit queries: keyset pages and the free-text filter (trigram index on SQLite)."""

from __future__ import annotations

from labtui.core import audit
from labtui.core.actor import Actor
from labtui.core.audit import AuditFilter
from labtui.core.runtime import Core


async def test_text_filter_finds_rare_records_in_any_case_and_pages(core: Core, admin: Actor) -> None:
    def write(s):  # type: ignore[no-untyped-def]
        for i in range(300):
            audit.record(s, Actor(None, f"user{i % 7}", "10.0.0.1"), "service.deploy", f"services/web-{i}", {"n": i})
        audit.record(s, Actor(None, "mallory", "203.0.113.99"), "login.failed", "users/mallory", {"note": "Odd-Peer"})

    await core.db.run(write)
    found = await core.audit.page(admin, AuditFilter(text="odd-peer"))
    assert [(r.username, r.origin) for r in found] == [("mallory", "203.0.113.99")]
    assert [r.username for r in await core.audit.page(admin, AuditFilter(text="113.99"))] == ["mallory"]
    first = await core.audit.page(admin, AuditFilter(text="services/web-"), limit=50)
    second = await core.audit.page(admin, AuditFilter(text="services/web-"), before_id=first[-1].id, limit=50)
    assert len(first) == len(second) == 50 and first[-1].id > second[0].id
    assert all("services/web-" in r.target for r in first + second)
    # Short terms (no trigram) and text with a user filter take the LIKE path: same answers.
    assert {r.username for r in await core.audit.page(admin, AuditFilter(text="Od"))} >= {"mallory"}
    with_user = await core.audit.page(admin, AuditFilter(username="user3", text="web-10"))
    assert with_user and all(r.username == "user3" and "web-10" in r.target for r in with_user)
    assert await core.audit.page(admin, AuditFilter(text="no-such-thing")) == []
