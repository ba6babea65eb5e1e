"""The run form opens for every input type CloudLab's scripts.yaml has, with and without
defaults, from the services screen and as an inventory action, and runs with what it shows.

(A select without a default used to crash the whole session: the form passed
``Select.BLANK``, which textual 8.2 made the ``allow_blank`` flag's default, ``False``.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, OptionList, Select, Static

from labtui.core.actor import Actor
from labtui.core.config import Config, LabConfig
from labtui.core.runtime import Core
from labtui.core.workers import start_workers
from labtui.tui.screens.inventory import InventoryScreen
from labtui.tui.screens.inventory_actions import PickerScreen
from labtui.tui.screens.job_log import JobLogScreen
from labtui.tui.screens.run_form import RunScriptForm
from labtui.tui.screens.services import ServiceDetailScreen
from labtui.tui.widgets.log_view import LogView
from tests.conftest import ADMIN_PASSWORD, MakeCore, demo_lab_copy
from tests.tui.conftest import screen_text, wait_for
from tests.tui.host import host
from tests.tui.test_inventory_screen import cursor_to, inventory

# Every type of CloudLab's run form (string/text, select, list, ssh_key_select,
# deployment_id, deployment_select), once with a default and once without.
SCRIPTS_YAML = """\
scripts:
  - name: deploy
    label: Deploy
    file: deploy.sh
  - name: every_type
    label: Every input type
    file: show.sh
    inputs:
      - {name: s_plain, label: String, type: string}
      - {name: s_default, label: String with default, type: string, default: hi}
      - {name: t_plain, label: Text, type: text}
      - {name: t_default, label: Text with default, type: text, default: there}
      - {name: sel_plain, label: Select, type: select, options: [a, b]}
      - {name: sel_default, label: Select with default, type: select, options: [a, b], default: b}
      - {name: l_plain, label: List, type: list}
      - {name: l_default, label: List with default, type: list, default: [x, y]}
      - {name: k_plain, label: Keys, type: ssh_key_select}
      - {name: k_default, label: Keys with default, type: ssh_key_select, default: ["1"]}
      - {name: d_plain, label: Deployment id, type: deployment_id}
      - {name: d_default, label: Deployment id with default, type: deployment_id, default: greet}
      - {name: ds_plain, label: Deployment, type: deployment_select}
      - {name: ds_default, label: Deployment with default, type: deployment_select, default: greet}
"""
SHOW_SH = """#!/bin/bash
env | grep '^INPUT_' | sort
echo "shown: done"
"""
LABELS = [
    line.split("label: ")[1].split(",")[0] for line in SCRIPTS_YAML.splitlines() if "type: " in line and "{" in line
]


def forms_lab(root: Path, *, deployed: bool) -> Path:
    """The demo lab plus a service ``forms`` whose script takes every input type; with
    ``deployed``, ``greet`` is an active deployment (the deployment selects' one option)."""
    lab = root / "lab"
    demo_lab_copy(
        lab, "forms", {"scripts.yaml": SCRIPTS_YAML, "deploy.sh": "#!/bin/bash\necho deployed\n", "show.sh": SHOW_SH}
    )
    if deployed:
        outputs = lab / "services" / "greet" / "outputs"
        outputs.mkdir(exist_ok=True)
        (outputs / "temp_inventory.yaml").write_text("all:\n  hosts: {}\n")
    return lab


async def lab_core(make_core: MakeCore, tmp_path: Path, *, deployed: bool) -> tuple[Core, Actor]:
    core = await make_core(Config(lab=LabConfig(checkout=str(forms_lab(tmp_path, deployed=deployed)))))
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    return core, (await core.auth.login("admin", ADMIN_PASSWORD)).actor


def log_text(app: object) -> str:
    return "\n".join(app.screen.query_one(LogView).visible_text())  # type: ignore[attr-defined]


def assert_form_shows_every_type(form: RunScriptForm, *, deployed: bool) -> None:
    text = screen_text(form.app)
    for label in LABELS:
        assert label in text, f"{label!r} missing from the form:\n{text}"
    selects = {str(s.id): s for s in form.query(Select)}
    assert selects["in-sel_plain"].value is Select.NULL
    assert selects["in-sel_default"].value == "b"
    assert selects["in-ds_plain"].value is Select.NULL
    assert selects["in-ds_default"].value == ("greet" if deployed else Select.NULL)


@pytest.mark.parametrize("deployed", [False, True], ids=["no-deployments", "one-deployment"])
async def test_every_input_type_opens_in_the_services_screen_and_runs(
    make_core: MakeCore, tmp_path: Path, deployed: bool
) -> None:
    core, admin = await lab_core(make_core, tmp_path, deployed=deployed)
    await core.users.generate_ssh_key(admin)  # k_default names admin (user id 1)
    workers = await start_workers(core)
    try:
        app = await host(core, admin, ServiceDetailScreen("forms"))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.screen.query_one("#scripts", DataTable).row_count == 2)
            table = app.screen.query_one("#scripts", DataTable)
            names = [table.get_row_at(i)[0] for i in range(table.row_count)]
            table.move_cursor(row=names.index("every_type"))
            await pilot.press("x")
            await wait_for(pilot, lambda: isinstance(app.screen, RunScriptForm))
            assert_form_shows_every_type(app.screen, deployed=deployed)  # type: ignore[arg-type]
            await pilot.press("ctrl+s")
            if not deployed:
                # Core fills the script's default, which names no active deployment: said
                # beside the input, and the form stays open.
                error = app.screen.query_one("#err-d_default", Static)
                await wait_for(pilot, lambda: "not an active deployment" in str(error.render()))
                assert isinstance(app.screen, RunScriptForm)
                return
            await wait_for(
                pilot, lambda: isinstance(app.screen, JobLogScreen) and "shown: done" in log_text(app), timeout=30
            )
            log = log_text(app)
            assert "INPUT_S_DEFAULT=hi" in log and "INPUT_SEL_DEFAULT=b" in log and "INPUT_L_DEFAULT=x,y" in log
            assert "INPUT_K_DEFAULT=" in log and "INPUT_SEL_PLAIN" not in log  # nothing chosen: not sent
            assert ("INPUT_DS_DEFAULT=greet" in log) == deployed
    finally:
        await workers.stop()


async def test_every_input_type_opens_as_an_inventory_action(make_core: MakeCore, tmp_path: Path) -> None:
    core, admin = await lab_core(make_core, tmp_path, deployed=False)
    async with inventory(core, admin, "service") as (app, pilot):
        await cursor_to(pilot, "forms")
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen))
        actions = [str(o.prompt).split("  ")[0] for o in app.screen.query_one(OptionList).options]
        await pilot.press(*["down"] * actions.index("Run script"), "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen) and "which script" in app.screen.title_text)
        await pilot.press("down", "enter")  # every_type, after the default deploy
        await wait_for(pilot, lambda: isinstance(app.screen, RunScriptForm))
        assert_form_shows_every_type(app.screen, deployed=False)  # type: ignore[arg-type]
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, InventoryScreen))
