"""``labtui health``: status exit codes for scripts, check, history, reload, silence."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest

from labtui import cli
from labtui.core.config import Config, LabConfig
from labtui.core.health import LEASE_NAME
from labtui.core.leases import Lease
from labtui.core.runtime import Core, Paths
from labtui.testing.fakes.http_target import HttpTarget


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Only this area's subcommands, so sibling modules being written do not matter here.
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("health",))
    monkeypatch.delenv("LABTUI_HOME", raising=False)
    lab = tmp_path / "lab"
    (lab / "health").mkdir(parents=True)
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(f"lab:\n  checkout: {lab}\nhealth:\n  tick_seconds: 1\n")
    return lab


def run(tmp_path: Path, *args: str) -> int:
    return cli.main(["--home", str(tmp_path / "home"), "health", *args])


def tick(tmp_path: Path, lab: Path) -> None:
    """One poller tick, as the ``labtui serve`` holding the lease would do."""

    async def go() -> None:
        core = Core(Config(lab=LabConfig(checkout=str(lab))), Paths(tmp_path / "home"))
        await core.start()
        lease = Lease(core.db, LEASE_NAME, seconds=5)
        try:
            assert (await core.health.poller(lease, jitter=0).tick()).held
            await lease.release()  # as a stopping ``labtui serve`` does
        finally:
            await core.aclose()

    asyncio.run(go())


def test_status_check_history_exit_codes(tmp_path: Path, lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with HttpTarget() as web:
        (lab / "health" / "site.yaml").write_text(f"checks:\n  - {{name: web, type: http, url: '{web.url}'}}\n")
        assert run(tmp_path, "status") == 1  # never checked yet: unknown is not healthy
        assert "UNKNOWN" in capsys.readouterr().out

        assert run(tmp_path, "check", "site/web") == 0
        out = capsys.readouterr().out
        assert out.startswith("site/web: healthy (") and "HTTP 200" in out

        tick(tmp_path, lab)
        assert run(tmp_path, "status", "--json") == 0
        data = json.loads(capsys.readouterr().out)
        assert data["healthy"] is True and data["services"][0]["checks"][0]["status"] == "healthy"

        assert run(tmp_path, "history", "site", "--check", "web", "--json") == 0
        rows = json.loads(capsys.readouterr().out)
        assert [(r["check"], r["status"], r["previous_status"], r["status_code"]) for r in rows] == [
            ("web", "healthy", "unknown", 200)
        ]
    # The server is gone now.
    assert run(tmp_path, "check", "site/web", "--json") == 1
    assert json.loads(capsys.readouterr().out)["status"] == "unhealthy"
    tick(tmp_path, lab)
    assert run(tmp_path, "status") == 1
    assert run(tmp_path, "history", "site") == 0
    out = capsys.readouterr().out
    assert "healthy -> unhealthy" in out

    assert run(tmp_path, "check", "site/nope") == 1
    assert "No health check 'site/nope'" in capsys.readouterr().err
    assert run(tmp_path, "check", "nothing-here") == 2


def test_reload_reports_changes_and_problems(tmp_path: Path, lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    (lab / "health" / "a.yaml").write_text(f"checks:\n  - {{name: p, type: tcp, host: 127.0.0.1, port: {port}}}\n")
    assert run(tmp_path, "reload") == 0
    assert "1 added" in capsys.readouterr().out
    (lab / "health" / "b.yaml").write_text(
        "checks:\n"
        "  - name: web\n"
        "    type: http\n"
        "    url: 'not a url'\n"
        f"  - {{name: ok, type: tcp, host: 127.0.0.1, port: {port}}}\n"
    )
    assert run(tmp_path, "reload") == 1
    captured = capsys.readouterr()
    assert "1 added, 0 changed, 0 removed" in captured.out and "added: b/ok" in captured.out
    assert "health/b.yaml:4: checks[0].url: check 'web': bad URL 'not a url'" in captured.err
    assert run(tmp_path, "reload", "--json") == 1
    data = json.loads(capsys.readouterr().out)
    assert data["services"] == ["a", "b"] and data["added"] == [] and len(data["problems"]) == 1


def test_silence_and_unsilence(tmp_path: Path, lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (lab / "health" / "a.yaml").write_text(
        f"checks:\n  - {{name: p, type: tcp, host: 127.0.0.1, port: {free_port()}}}\n"
    )
    assert run(tmp_path, "silence", "a/p", "--for", "1h30m", "--reason", "upgrade") == 0
    assert "a/p silenced until" in capsys.readouterr().out
    assert run(tmp_path, "status", "--json") == 1
    assert json.loads(capsys.readouterr().out)["services"][0]["checks"][0]["silenced_until"]
    assert run(tmp_path, "unsilence", "a/p") == 0
    assert run(tmp_path, "unsilence", "a/p") == 1
    assert "not silenced" in capsys.readouterr().err
    assert run(tmp_path, "silence", "a/p", "--for", "soon") == 2
