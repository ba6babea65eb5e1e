"""The file browser of a service (inputs/ and outputs/ only) and its outputs: upload, edit,
delete keeping a .backup, the 100 KB limit, refused paths audited, credentials masked."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from labtui.core.actor import Actor
from labtui.core.audit import AuditFilter
from labtui.core.errors import NotFound, PermissionDenied, ValidationError
from labtui.core.files import PathRefused
from labtui.core.outputs import MASK, parse_outputs
from labtui.core.runtime import Core
from tests.conftest import add_user

OUTPUTS = """outputs:
  - {name: url, type: url, label: Web UI, value: "http://hello.lab/"}
  - {name: admin_password, type: credential, label: Admin Password, credential_type: password, username: admin, value: s3cret-XYZ}
  - {name: note, label: Note, value: plain}
"""


def greet(core: Core) -> Path:
    return core.services.root / "greet"


async def test_upload_list_view_edit_delete_with_backup(core: Core, admin: Actor, tmp_path: Path) -> None:
    src = tmp_path / "users.csv"
    src.write_text("alice\nbob\n")
    entry = await core.files.upload(admin, "greet", str(src))
    assert entry.path == "inputs/users.csv" and entry.size == 10
    assert (greet(core) / "inputs" / "users.csv").read_text() == "alice\nbob\n"
    (greet(core) / "outputs" / "result.txt").write_text("done\n")
    listed = [e.path for e in await core.files.list(admin, "greet")]
    assert "inputs/users.csv" in listed and "outputs/result.txt" in listed
    assert not any(p.startswith(("deploy", "scripts")) for p in listed)

    content = await core.files.read(admin, "greet", "inputs/users.csv")
    assert content.text == "alice\nbob\n" and content.editable
    await core.files.write(admin, "greet", "inputs/users.csv", "alice\nbob\ncarol\n", base_hash=content.sha256)
    assert (greet(core) / "inputs" / "users.csv.backup").read_text() == "alice\nbob\n"
    with pytest.raises(ValidationError, match="changed on disk"):
        await core.files.write(admin, "greet", "inputs/users.csv", "x\n", base_hash=content.sha256)
    await core.files.write(admin, "greet", "inputs/new/notes.txt", "fresh\n")
    assert (greet(core) / "inputs" / "new" / "notes.txt").read_text() == "fresh\n"

    backup = await core.files.delete(admin, "greet", "inputs/users.csv")
    assert backup == "inputs/users.csv.backup"
    assert not (greet(core) / "inputs" / "users.csv").exists()
    assert (greet(core) / "inputs" / "users.csv.backup").read_text() == "alice\nbob\ncarol\n"
    with pytest.raises(NotFound):
        await core.files.delete(admin, "greet", "inputs/users.csv")
    actions = [r.action for r in await core.audit.page(admin, AuditFilter(action="service.file.*"))]
    assert actions == ["service.file.delete", "service.file.write", "service.file.write", "service.file.upload"]


async def test_100_kb_limit_for_view_edit_and_upload(core: Core, admin: Actor, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (100 * 1024 + 1))
    with pytest.raises(ValidationError, match="limit is 100 KB"):
        await core.files.upload(admin, "greet", str(big))
    (greet(core) / "outputs" / "big.log").write_bytes(b"x" * (100 * 1024 + 1))
    with pytest.raises(ValidationError, match="limit is 100 KB"):
        await core.files.read(admin, "greet", "outputs/big.log")
    with pytest.raises(ValidationError, match="limit is 100 KB"):
        await core.files.write(admin, "greet", "outputs/x.txt", "y" * (100 * 1024 + 1))
    assert not (greet(core) / "inputs" / "big.bin").exists() and not (greet(core) / "outputs" / "x.txt").exists()
    ok = await core.files.write(admin, "greet", "outputs/x.txt", "y" * (100 * 1024))
    assert ok.size == 100 * 1024


async def test_paths_outside_inputs_and_outputs_are_refused_and_audited(
    core: Core, admin: Actor, tmp_path: Path
) -> None:
    folder = greet(core)
    os.symlink("/etc/passwd", folder / "inputs" / "passwd")
    os.symlink("/etc", folder / "outputs" / "etc")
    attempts = [
        "../../etc/passwd",
        "/etc/passwd",
        "deploy.sh",  # a real file of the service, but not on the list
        "scripts.yaml",
        "inputs/passwd",  # symlink out of the service folder
        "outputs/etc/hostname",  # through a symlinked folder
        "inputs/../deploy.sh",
        "inputs",  # the folder itself
    ]
    for path in attempts:
        with pytest.raises(PathRefused):
            await core.files.read(admin, "greet", path)
    for path in ("../../etc/passwd", "inputs/passwd", "/tmp/evil"):
        with pytest.raises(PathRefused):
            await core.files.write(admin, "greet", path, "pwned\n")
        with pytest.raises(PathRefused):
            await core.files.delete(admin, "greet", path)
    assert not Path("/tmp/evil").exists()
    listed = [e.path for e in await core.files.list(admin, "greet")]
    assert "inputs/passwd" not in listed and not any(p.startswith("outputs/etc") for p in listed)
    rows = await core.audit.page(admin, AuditFilter(action="service.path_refused"), limit=100)
    tried = [r.detail["path"] for r in rows]
    for path in attempts:
        assert path in tried, path
    assert all(r.target == "services/greet" and r.username == "admin" for r in rows)


async def test_upload_refuses_remote_sessions_and_the_data_dir(core: Core, admin: Actor, tmp_path: Path) -> None:
    src = tmp_path / "ok.txt"
    src.write_text("ok\n")
    remote = dataclasses.replace(admin, origin="203.0.113.7")
    with pytest.raises(PathRefused, match="only in a local session"):
        await core.files.upload(remote, "greet", str(src))
    with pytest.raises(PathRefused, match="data dir"):
        await core.files.upload(admin, "greet", str(core.paths.database))
    with pytest.raises(PathRefused):
        await core.files.upload(admin, "greet", str(src), dest="../..")
    with pytest.raises(NotFound):
        await core.files.upload(admin, "greet", str(tmp_path / "missing.txt"))


async def test_file_permissions(core: Core, admin: Actor, tmp_path: Path) -> None:
    viewer = await add_user(core, admin, "viewer1", "viewer")
    (greet(core) / "outputs" / "a.txt").write_text("a\n")
    assert (await core.files.read(viewer, "greet", "outputs/a.txt")).text == "a\n"
    with pytest.raises(PermissionDenied, match="services.files.edit"):
        await core.files.write(viewer, "greet", "outputs/a.txt", "b\n")
    with pytest.raises(PermissionDenied):
        await core.files.delete(viewer, "greet", "outputs/a.txt")
    assert (greet(core) / "outputs" / "a.txt").read_text() == "a\n"


def test_parse_outputs_follows_cloudlab_rules() -> None:
    assert parse_outputs("") == [] and parse_outputs("outputs: 3\n") == [] and parse_outputs("[1, 2]\n") == []
    assert parse_outputs("outputs: [unclosed\n") == []
    items = parse_outputs(OUTPUTS)
    assert [(i.name, i.type) for i in items] == [("url", "url"), ("admin_password", "credential"), ("note", "text")]


async def test_outputs_masked_until_revealed_and_reveal_audited(core: Core, admin: Actor) -> None:
    (core.services.root / "hello" / "outputs" / "service_outputs.yaml").write_text(OUTPUTS)
    items = await core.outputs.list(admin, "hello")
    cred = next(i for i in items if i.is_credential)
    assert cred.value is None and cred.shown == MASK and cred.username == "admin"
    assert next(i for i in items if i.name == "url").shown == "http://hello.lab/"
    assert "s3cret" not in repr(items)
    revealed = await core.outputs.reveal(admin, "hello", "admin_password")
    assert revealed.value == "s3cret-XYZ"
    rows = await core.audit.page(admin, AuditFilter(action="service.output.reveal"))
    assert len(rows) == 1 and rows[0].detail["output"] == "admin_password"
    assert "s3cret" not in str(rows[0].detail)
    assert list(await core.outputs.list_all(admin)) == ["hello"]
    with pytest.raises(NotFound):
        await core.outputs.reveal(admin, "hello", "missing")


async def test_outputs_file_symlinked_out_is_refused(core: Core, admin: Actor, tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere.yaml"
    secret.write_text(OUTPUTS)
    os.symlink(secret, core.services.root / "hello" / "outputs" / "service_outputs.yaml")
    with pytest.raises(PathRefused):
        await core.outputs.list(admin, "hello")


async def test_binary_file_is_viewable_but_not_editable(core: Core, admin: Actor) -> None:
    (greet(core) / "outputs" / "blob.bin").write_bytes(b"\x00\xffPNG\x89")
    content = await core.files.read(admin, "greet", "outputs/blob.bin")
    assert not content.editable and content.size == 6 and "PNG" in content.text
