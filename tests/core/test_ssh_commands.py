"""Every CLI subcommand offered over SSH parses as the SSH user, including the ones that act
as no one (no ``--as``): real SSH sessions for those, the parser itself for the whole list."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator, Iterator

import pytest

from labtui.cli import build_parser
from labtui.core.actor import Actor
from labtui.core.errors import ValidationError
from labtui.core.runtime import Core
from labtui.ssh.commands import ALLOWED_COMMANDS, NO_ACTOR_COMMANDS, parse_as
from labtui.ssh.server import SshHub
from tests.conftest import ADMIN_PASSWORD
from tests.core.test_ssh_server import connect


@pytest.fixture
async def hub(core: Core, admin: Actor) -> AsyncIterator[SshHub]:
    hub = SshHub(core, [sys.executable, "-m", "labtui", "--home", str(core.paths.home)])
    await hub.start("127.0.0.1", 0)
    yield hub
    await hub.stop()


def _leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, sub in subs[0].choices.items():
        yield from _leaves(sub, (*path, name))


def test_every_subcommand_offered_over_ssh_acts_as_the_ssh_user_or_as_no_one() -> None:
    parser = build_parser()
    top = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    leaves = [leaf for name in ALLOWED_COMMANDS for leaf in _leaves(top.choices[name], (name,))]
    assert ("inventory", "types") in [path for path, _ in leaves]
    for path, sub in leaves:
        takes_as = any(a.dest == "as_user" for a in sub._actions)
        assert takes_as != (path in NO_ACTOR_COMMANDS), path
    # The ones without --as parse as they are; an --as of the client's is refused.
    assert parse_as(parser, ["inventory", "types", "--json"], "admin").inventory_command == "types"
    assert parse_as(parser, ["schedules", "preview", "*/5 * * * *"], "admin").expression == "*/5 * * * *"
    with pytest.raises(ValidationError, match="unrecognized arguments: --as"):
        parse_as(parser, ["inventory", "types", "--as", "admin"], "admin")


async def test_commands_that_act_as_no_one_run_over_ssh(core: Core, admin: Actor, hub: SshHub) -> None:
    async with connect(hub, "admin", password=ADMIN_PASSWORD) as conn:
        types = await conn.run("inventory types --json", timeout=30)
        preview = await conn.run("schedules preview '0 3 * * *' -n 2 --json", timeout=30)
    assert types.exit_status == 0, types.stderr
    assert core.inventory_types
    assert {t["slug"] for t in json.loads(str(types.stdout))} == set(core.inventory_types)
    assert preview.exit_status == 0, preview.stderr
    assert [t[11:19] for t in json.loads(str(preview.stdout))] == ["03:00:00", "03:00:00"]
