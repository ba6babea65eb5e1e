"""Config files and versions (docs/cloudlab.md): refusals write nothing, 50 versions kept, diff,
restore as a new version, seeding at startup, and paths outside the rules refused and audited."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labtui.core.actor import Actor
from labtui.core.audit import AuditFilter
from labtui.core.configs import CONFIG_FILES, SEED_NOTE, unified_diff
from labtui.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from labtui.core.files import PathRefused, sha256
from labtui.core.runtime import Core
from tests.conftest import MakeCore, add_user


def hello_dir(core: Core) -> Path:
    return core.services.root / "hello"


async def refusals(core: Core, admin: Actor) -> list[dict[str, object]]:
    rows = await core.audit.page(admin, AuditFilter(action="service.path_refused"), limit=100)
    return [r.detail for r in rows]


async def test_startup_seeds_version_1_once_for_existing_files(core: Core, admin: Actor) -> None:
    versions = await core.configs.versions(admin, "hello", "config.yaml")
    assert [(v.number, v.author, v.note, v.origin) for v in versions] == [(1, "system", SEED_NOTE, "startup")]
    text = (hello_dir(core) / "config.yaml").read_text()
    assert versions[0].sha256 == sha256(text.encode()) and versions[0].size == len(text.encode())
    assert await core.configs.seed() == []  # idempotent
    files = {f.filename: f for f in await core.configs.list(admin, "hello")}
    assert list(files) == list(CONFIG_FILES)
    assert files["config.yaml"].exists and files["config.yaml"].latest_version == 1
    assert not files["instance.yaml"].exists and files["instance.yaml"].versions == 0
    # a folder without deploy.sh is seeded too (CloudLab seeds every folder)
    extra = core.services.root / "notes"
    extra.mkdir()
    (extra / "instance.yaml").write_text("instances:\n  - label: test\n")
    (extra / "main.yaml").write_text("- hosts: all\n")  # not an allowed file
    assert await core.configs.seed() == ["notes/instance.yaml"]


async def test_invalid_yaml_and_oversize_are_refused_and_write_nothing(core: Core, admin: Actor) -> None:
    path = hello_dir(core) / "config.yaml"
    before = path.read_text()
    with pytest.raises(
        ValidationError, match=r"not valid YAML at line 2, column 5: mapping values are not allowed here"
    ):
        await core.configs.save(admin, "hello", "config.yaml", "a: 1\nb: c: d\n", "broken")
    with pytest.raises(ValidationError, match="limit is 100 KB"):
        await core.configs.save(admin, "hello", "config.yaml", "x: '" + "y" * 110_000 + "'\n")
    assert path.read_text() == before
    assert not (hello_dir(core) / "config.yaml.backup").exists()
    assert [v.number for v in await core.configs.versions(admin, "hello", "config.yaml")] == [1]


async def test_save_writes_atomically_with_backup_and_records_author_note(core: Core, admin: Actor) -> None:
    path = hello_dir(core) / "config.yaml"
    old = path.read_text()
    v = await core.configs.save(admin, "hello", "config.yaml", "greeting: hi\nport: 9090\n", "new port")
    assert (v.number, v.author, v.note, v.origin) == (2, "admin", "new port", "local")
    assert path.read_text() == "greeting: hi\nport: 9090\n"
    assert (hello_dir(core) / "config.yaml.backup").read_text() == old
    assert not [p for p in hello_dir(core).iterdir() if p.name.endswith(".tmp")]
    current = await core.configs.read(admin, "hello", "config.yaml")
    assert current.version == 2 and current.text.endswith("9090\n")
    rows = await core.audit.page(admin, AuditFilter(action="service.config.edit"))
    assert rows[0].target == "services/hello/config.yaml" and rows[0].detail["version"] == 2
    assert "9090" not in str(rows[0].detail)  # content never in the audit log
    # a new allowed file can be created
    await core.configs.save(admin, "hello", "instance.yaml", "instances:\n  - label: web\n", "first")
    assert (hello_dir(core) / "instance.yaml").is_file()


async def test_55_saves_keep_the_newest_50(core: Core, admin: Actor) -> None:
    for i in range(55):
        await core.configs.save(admin, "hello", "outputs.yaml", f"n: {i}\n", f"save {i}")
    numbers = [v.number for v in await core.configs.versions(admin, "hello", "outputs.yaml")]
    assert numbers == list(range(55, 5, -1))
    # other files keep their own history
    assert [v.number for v in await core.configs.versions(admin, "hello", "config.yaml")] == [1]
    with pytest.raises(NotFound, match="no version 3"):
        await core.configs.content(admin, "hello", "outputs.yaml", 3)


async def test_diff_between_any_two_and_restore_as_new_version(core: Core, admin: Actor) -> None:
    original = (hello_dir(core) / "config.yaml").read_text()
    await core.configs.save(admin, "hello", "config.yaml", "greeting: one\nport: 1\n", "one")
    await core.configs.save(admin, "hello", "config.yaml", "greeting: two\nport: 1\n", "two")
    diff = await core.configs.diff(admin, "hello", "config.yaml", 3)
    assert diff.from_version == 2 and diff.to_version == 3
    assert diff.text.startswith("--- v2\n+++ v3\n")
    assert "-greeting: one\n+greeting: two\n" in diff.text
    across = await core.configs.diff(admin, "hello", "config.yaml", 3, base=1)
    assert across.from_version == 1 and "+port: 1\n" in across.text and "-port: 8080\n" in across.text
    first = await core.configs.diff(admin, "hello", "config.yaml", 1)
    assert first.from_version is None and first.text.startswith("--- (empty)\n+++ v1\n")

    restored = await core.configs.restore(admin, "hello", "config.yaml", 1)
    assert restored.number == 4 and restored.restored_from == 1 and restored.note == "Restored from version 1"
    assert (hello_dir(core) / "config.yaml").read_text() == original
    assert [v.number for v in await core.configs.versions(admin, "hello", "config.yaml")] == [4, 3, 2, 1]
    actions = [r.action for r in await core.audit.page(admin, AuditFilter(action="service.config.*"))]
    assert actions[0] == "service.config.restore"


async def test_change_on_disk_is_kept_as_a_version_and_stale_editor_is_refused(core: Core, admin: Actor) -> None:
    opened = await core.configs.read(admin, "hello", "config.yaml")
    (hello_dir(core) / "config.yaml").write_text("greeting: pulled from git\n")
    with pytest.raises(Conflict, match="changed since it was opened"):
        await core.configs.save(admin, "hello", "config.yaml", "greeting: mine\n", base_hash=opened.sha256)
    v = await core.configs.save(admin, "hello", "config.yaml", "greeting: mine\n", "after the pull")
    history = await core.configs.versions(admin, "hello", "config.yaml")
    assert [(h.number, h.origin) for h in history] == [(3, "local"), (2, "disk"), (1, "startup")]
    assert v.number == 3
    assert await core.configs.content(admin, "hello", "config.yaml", 2) == "greeting: pulled from git\n"


async def test_paths_outside_the_rules_are_refused_and_audited(core: Core, admin: Actor) -> None:
    folder = hello_dir(core)
    os.symlink("/etc/passwd", folder / "scripts.yaml")
    attempts = {
        "../../etc/passwd": "would leave the service folder",
        "/etc/passwd": "absolute",
        "deploy.yml": "not an editable config file",
        "scripts.yaml": "symlink",
    }
    for path, reason in attempts.items():
        with pytest.raises(PathRefused, match=reason):
            await core.configs.read(admin, "hello", path)
        with pytest.raises(PathRefused):
            await core.configs.save(admin, "hello", path, "a: 1\n")
    with pytest.raises(PathRefused):
        await core.configs.versions(admin, "hello", "../hello/config.yaml")
    with pytest.raises(PathRefused, match="not a service name"):
        await core.configs.read(admin, "../..", "config.yaml")
    tried = [d["path"] for d in await refusals(core, admin)]
    for path in attempts:
        assert tried.count(path) == 2, path
    assert "../hello/config.yaml" in tried and "../.." in tried
    assert os.path.islink(folder / "scripts.yaml")  # nothing was written through the link
    assert await core.configs.seed() == []  # and the symlink was never seeded


async def test_permissions_view_and_edit(core: Core, admin: Actor) -> None:
    viewer = await add_user(core, admin, "viewer1", "viewer")
    assert (await core.configs.read(viewer, "hello", "config.yaml")).version == 1
    with pytest.raises(PermissionDenied, match="services.config.edit"):
        await core.configs.save(viewer, "hello", "config.yaml", "a: 1\n")
    with pytest.raises(PermissionDenied):
        await core.configs.restore(viewer, "hello", "config.yaml", 1)
    nobody = await add_user(core, admin, "nobody", "viewer")
    await core.rbac.update_role(admin, (await _role_id(core, admin, "viewer")), permissions=set())
    core.rbac.invalidate()
    with pytest.raises(PermissionDenied, match="services.config.view"):
        await core.configs.read(nobody, "hello", "config.yaml")


async def _role_id(core: Core, admin: Actor, name: str) -> int:
    return next(r.id for r in await core.rbac.list_roles(admin) if r.name == name)


def test_unified_diff_marks_missing_final_newline() -> None:
    text = unified_diff("a\nb", "a\nc", "v1", "v2")
    assert text.endswith("+c\n\\ No newline at end of file\n")


async def test_seed_runs_in_a_fresh_process_on_the_same_data_dir(make_core: MakeCore) -> None:
    first = await make_core()
    await first.configs.save(Actor.system(), "hello", "config.yaml", "x: 1\n")
    second = await make_core()  # startup again: nothing new to seed
    history = await second.configs.versions(Actor.system(), "hello", "config.yaml")
    assert [v.number for v in history] == [2, 1]


async def test_configs_cli(make_core: MakeCore, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from tests.conftest import ADMIN_PASSWORD

    core = await make_core()
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k != "LABTUI_HOME"}

    def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "labtui", "--home", str(home), "configs", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )

    bad = cli("save", "hello", "config.yaml", "-", "--as", "admin", stdin="a: [1\n")
    assert bad.returncode == 2 and "config.yaml is not valid YAML" in bad.stderr
    ok = cli("save", "hello", "config.yaml", "-", "-m", "from the cli", "--as", "admin", stdin="greeting: cli\n")
    assert ok.returncode == 0 and "saved as version 2" in ok.stdout, ok.stderr
    history = json.loads(cli("history", "hello", "config.yaml", "--json").stdout)
    assert [(v["number"], v["note"]) for v in history] == [(2, "from the cli"), (1, SEED_NOTE)]
    diff = cli("diff", "hello", "config.yaml", "2")
    assert diff.stdout.startswith("--- v1\n+++ v2\n") and "+greeting: cli\n" in diff.stdout
    restored = cli("restore", "hello", "config.yaml", "1", "--as", "admin")
    assert "restored as version 3" in restored.stdout
    assert cli("show", "hello", "config.yaml").stdout == cli("show", "hello", "config.yaml", "--version", "1").stdout
    refused = cli("show", "hello", "../../etc/passwd")
    assert refused.returncode == 2 and "Refused" in refused.stderr
