"""The terminal pane, driven with Pilot against a real SSH server on 127.0.0.1 running a
real shell: typing, keys Textual would otherwise take, a full-screen program, resize, a
burst that must not freeze the UI, scrollback, refusals shown in the pane, and tabs."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Tabs

from labtui.core.actor import Actor
from labtui.core.audit import AuditFilter, query_page
from labtui.core.runtime import Core
from labtui.core.sshclient import SshTarget
from labtui.testing.fakes.ssh_server import FakeSshServer
from labtui.tui.screens.terminal import TerminalScreen, open_terminal, opener_for
from labtui.tui.widgets.terminal import TerminalPane
from tests.conftest import add_user
from tests.tui.host import host

SIZE = (100, 32)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[FakeSshServer]:
    srv = FakeSshServer(tmp_path / "sshd")
    await srv.start()
    yield srv
    await srv.stop()


def target_of(server: FakeSshServer) -> SshTarget:
    return SshTarget("127.0.0.1", server.port, "root", str(server.client_key_file), name="lab-host")


async def until(pilot: Pilot[object], predicate: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            panes = pilot.app.screen.query(TerminalPane)
            shown = "\n---\n".join(p.screen_text() for p in panes)
            raise AssertionError(f"timed out waiting for {what}; the pane shows:\n{shown}")
        await pilot.pause(0.02)


async def type_text(pilot: Pilot[object], text: str) -> None:
    """Key by key, as a person types."""
    await pilot.press(*["space" if c == " " else c for c in text])


async def paste_text(pilot: Pilot[object], text: str) -> None:
    """One paste event, as a terminal delivers a paste (bash gets it bracketed)."""
    from textual import events

    focused = pilot.app.focused
    assert isinstance(focused, TerminalPane)
    focused.post_message(events.Paste(text))
    await pilot.pause()


def lines(pane: TerminalPane) -> list[str]:
    return [line.rstrip() for line in pane.screen_text().splitlines()]


async def prompt(pilot: Pilot[object], pane: TerminalPane) -> None:
    await until(pilot, lambda: pane.state == "open" and lines(pane) and lines(pane)[-1] == "$", "the prompt")


async def command(
    pilot: Pilot[object], pane: TerminalPane, text: str, expect: Callable[[list[str]], object], timeout: float = 10.0
) -> None:
    await paste_text(pilot, text)
    await pilot.press("enter")
    await until(pilot, lambda: expect(lines(pane)), f"the output of {text!r}", timeout=timeout)


def waiting_after(pane: TerminalPane, text: str) -> bool:
    """The line ``text`` was typed on is done and the cursor waits at the start of the next."""
    return lines(pane)[-1].endswith(text) and pane.board.cursor.x == 0 and pane.board.cursor.y == len(lines(pane))


def audit_actions(core: Core) -> list[str]:
    with core.db.session() as s:
        return [r.action for r in query_page(s, AuditFilter(action="ssh.*"), limit=50)]


async def test_typing_in_the_pane_runs_on_the_remote_shell(core: Core, admin: Actor, server: FakeSshServer) -> None:
    app = await host(core, admin, TerminalScreen([target_of(server)]))
    async with app.run_test(size=SIZE) as pilot:
        pane = app.screen.query_one(TerminalPane)
        await prompt(pilot, pane)
        assert app.focused is pane
        await type_text(pilot, "echo hello")
        await pilot.press("enter")
        await until(pilot, lambda: "hello" in lines(pane), "echo's output")
        assert "$ echo hello" in lines(pane)

        # The leave key is shown in the footer; ctrl+p and ctrl+q are not the app's here.
        shown = {key: b.binding for key, b in app.screen.active_bindings.items()}
        assert shown["ctrl+right_square_bracket"].description == "Leave terminal"
        assert "ctrl+q" not in shown and "ctrl+p" not in shown
        assert audit_actions(core) == ["ssh.connect"]


async def test_every_key_reaches_the_remote_side(core: Core, admin: Actor, server: FakeSshServer) -> None:
    """ctrl+p, ctrl+q (Textual's priority keys), shift+tab, F5, alt+x, arrows, ctrl+c."""
    app = await host(core, admin, TerminalScreen([target_of(server)]))
    async with app.run_test(size=SIZE) as pilot:
        pane = app.screen.query_one(TerminalPane)
        await prompt(pilot, pane)
        await command(pilot, pane, "stty -ixon; cat -v", lambda ls: waiting_after(pane, "cat -v"))
        await pilot.press(
            "ctrl+p", "ctrl+q", "shift+tab", "f5", "alt+x", "up", "ctrl+a", "q", "colon", "escape", "enter"
        )
        expected = "^P^Q^[[Z^[[15~^[x^[[A^Aq:^["
        await until(pilot, lambda: lines(pane).count(expected) == 2, "cat -v to echo the keys")  # tty echo + cat
        assert app.is_running and isinstance(app.screen, TerminalScreen)  # no quit, no palette
        await pilot.press("ctrl+c")
        await until(pilot, lambda: lines(pane)[-1] == "$", "ctrl+c to interrupt cat")


async def test_full_screen_program_draws_and_exits_cleanly(core: Core, admin: Actor, server: FakeSshServer) -> None:
    app = await host(core, admin, TerminalScreen([target_of(server)]))
    async with app.run_test(size=SIZE) as pilot:
        pane = app.screen.query_one(TerminalPane)
        await prompt(pilot, pane)
        await command(pilot, pane, "echo before-vi", lambda ls: "before-vi" in ls)
        if shutil.which("vi"):
            await paste_text(pilot, "vi -u NONE -N --cmd 'set ttimeoutlen=10' notes.txt")
            await pilot.press("enter")
            await until(pilot, lambda: pane.board.blitter.in_alt_screen and lines(pane).count("~") > 10, "vi to draw")
            await type_text(pilot, "ihello from vi")
            await pilot.press("escape")
            await type_text(pilot, ":wq")
            await pilot.press("enter")
            await until(pilot, lambda: not pane.board.blitter.in_alt_screen and lines(pane)[-1] == "$", "vi to exit")
            shown = lines(pane)
            assert "before-vi" in shown and not any(line.startswith("~") for line in shown)
            assert (server.shell_home / "notes.txt").read_text() == "hello from vi\n"
        elif shutil.which("less"):  # no vi on this machine: less also draws on the alternate screen
            await type_text(pilot, "seq 1 500 | less")
            await pilot.press("enter")
            await until(pilot, lambda: pane.board.blitter.in_alt_screen and "1" in lines(pane), "less to draw")
            await pilot.press("G")
            await until(pilot, lambda: "500" in lines(pane), "less to page to the end")
            await pilot.press("q")
            await until(pilot, lambda: not pane.board.blitter.in_alt_screen and lines(pane)[-1] == "$", "less to exit")
            assert "before-vi" in lines(pane) and "500" not in lines(pane)
        else:
            pytest.skip("neither vi nor less is installed")


async def test_resizing_the_app_resizes_the_remote_terminal(core: Core, admin: Actor, server: FakeSshServer) -> None:
    app = await host(core, admin, TerminalScreen([target_of(server)]))
    async with app.run_test(size=SIZE) as pilot:
        pane = app.screen.query_one(TerminalPane)
        await prompt(pilot, pane)
        first = f"{pane.size.height} {pane.size.width}"
        assert server.sessions[0][1] == (pane.size.width, pane.size.height)
        assert server.sessions[0][0] == "xterm-256color"
        await command(pilot, pane, "stty size", lambda ls: first in ls)

        await pilot.resize_terminal(120, 40)
        await until(pilot, lambda: pane.size.width == 120, "the pane to follow the app")
        await pilot.pause(0.1)
        second = f"{pane.size.height} {pane.size.width}"
        assert second != first
        await command(pilot, pane, "stty size", lambda ls: second in ls)


async def test_a_burst_does_not_freeze_the_ui_and_lands_in_scrollback(
    core: Core, admin: Actor, server: FakeSshServer
) -> None:
    app = await host(core, admin, TerminalScreen([target_of(server)]))
    async with app.run_test(size=SIZE) as pilot:
        pane = app.screen.query_one(TerminalPane)
        await prompt(pilot, pane)

        # Generous deadlines: this pins what happens, not how fast (a loaded 2-core machine
        # took over 10 s for the burst; its speed is tests/bench/bench_terminal.py's).
        def burst_done(ls: list[str]) -> bool:
            return "burst-done" in ls and ls[-1] == "$"

        await command(pilot, pane, "seq 1 200000; echo burst-done", burst_done, timeout=120)
        assert "200000" in lines(pane)

        # Keys still reach the shell while output pours in: Ctrl+C stops an endless burst.
        # (How long the event loop may stall is measured in tests/bench/, not asserted here.)
        await command(pilot, pane, "yes burst-line", lambda ls: "burst-line" in ls, timeout=60)
        await pilot.press("ctrl+c")
        await until(pilot, lambda: lines(pane)[-1] == "$", "the prompt after Ctrl+C", timeout=120)

        # The lines that scrolled off are in the scrollback; shift+PgUp shows them.
        assert pane.scrollback_lines == 5000
        await pilot.press("shift+pageup")
        assert pane.scroll_offset > 0
        top = pane.render_line(0).text
        assert "scrollback -" in top
        await pilot.press("shift+pagedown")
        assert pane.scroll_offset == 0
        await pilot.press("shift+pageup")
        await type_text(pilot, "x")  # any forwarded key returns to the live screen
        assert pane.scroll_offset == 0


async def test_a_changed_host_key_is_refused_in_the_pane(core: Core, admin: Actor, server: FakeSshServer) -> None:
    app = await host(core, admin, TerminalScreen([target_of(server)]))
    async with app.run_test(size=SIZE) as pilot:
        pane = app.screen.query_one(TerminalPane)
        await prompt(pilot, pane)
        old = server.fingerprint
        await type_text(pilot, "exit")
        await pilot.press("enter")
        await until(pilot, lambda: pane.state == "closed", "the shell to end")
        assert any("Connection to root@lab-host closed" in line for line in lines(pane))

        await server.restart(new_host_key=True)
        await pilot.press("r")  # reconnect: keys are labtui's again once the shell ended
        await until(pilot, lambda: "CHANGED" in pane.screen_text() and pane.state == "closed", "the refusal")
        text = " ".join(pane.screen_text().split())  # the message wraps in the pane
        assert old.replace(" ", "") in text.replace(" ", "") and server.fingerprint in text.replace(" ", "")
        assert audit_actions(core) == ["ssh.hostkey_refused", "ssh.disconnect", "ssh.connect"]


async def test_without_instances_ssh_the_pane_shows_the_refusal(
    core: Core, admin: Actor, server: FakeSshServer
) -> None:
    viewer = await add_user(core, admin, "vera", "viewer")
    app = await host(core, viewer, TerminalScreen([target_of(server)]))
    async with app.run_test(size=SIZE) as pilot:
        pane = app.screen.query_one(TerminalPane)
        await until(pilot, lambda: pane.state == "closed", "the refusal")
        assert "Permission denied: you need 'instances.ssh'" in pane.screen_text()
        assert server.attempts == []


async def test_leaving_tabs_and_closing(core: Core, admin: Actor, server: FakeSshServer) -> None:
    app = await host(core, admin, TerminalScreen([target_of(server)]))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, TerminalScreen)
        first = screen.query_one(TerminalPane)
        await prompt(pilot, first)

        await open_terminal(app, target_of(server).as_user("ops"))
        await pilot.pause()
        assert len(screen.panes) == 2
        second = screen.active_pane
        assert second is not None and second is not first and app.focused is second
        await prompt(pilot, second)
        assert server.logins == ["root", "ops"]

        await pilot.press("ctrl+right_square_bracket")
        assert isinstance(app.focused, Tabs)
        assert "x" in app.screen.active_bindings  # the screen's keys are back in the footer
        await pilot.press("left")
        await pilot.pause()
        assert screen.active_pane is first
        await pilot.press("enter")
        assert app.focused is first
        await command(pilot, first, "echo still-here", lambda ls: "still-here" in ls)

        await pilot.press("f12")  # the other leave key
        await pilot.press("x")
        await until(pilot, lambda: len(screen.panes) == 1, "the tab to close")
        assert audit_actions(core).count("ssh.disconnect") == 1
        await pilot.press("x")
        await until(pilot, lambda: not isinstance(app.screen, TerminalScreen), "the screen to close")
        assert audit_actions(core).count("ssh.disconnect") == 2


class PaneApp(App[None]):
    """A bare App holding one pane: Textual's own priority bindings are all there is."""

    def __init__(self, pane: TerminalPane) -> None:
        super().__init__()
        self.pane = pane

    def compose(self) -> ComposeResult:
        yield self.pane


async def test_the_pane_alone_keeps_ctrl_q_and_ctrl_p_from_textual(
    core: Core, admin: Actor, server: FakeSshServer
) -> None:
    pane = TerminalPane(opener_for(core, admin, target_of(server)), label="root@lab-host")
    app = PaneApp(pane)
    async with app.run_test(size=(80, 24)) as pilot:
        pane.focus()
        await prompt(pilot, pane)
        await command(pilot, pane, "stty -ixon; cat -v", lambda ls: waiting_after(pane, "cat -v"))
        await pilot.press("ctrl+q", "ctrl+p", "enter")
        await until(pilot, lambda: lines(pane).count("^Q^P") == 2, "the keys to reach cat")
        assert app.is_running
        await pilot.press("ctrl+d")
        await until(pilot, lambda: lines(pane)[-1] == "$", "cat to end")
        await type_text(pilot, "exit")
        await pilot.press("enter")
        await until(pilot, lambda: pane.state == "closed", "the shell to end")
        # Once the shell is gone the keys are the app's again: ctrl+q quits.
        await pilot.press("ctrl+q")
        await until(pilot, lambda: not app.is_running, "the app to quit")


class Recorder:
    """Stands in for the remote side when only the bytes a key becomes are asked about."""

    exit_status = None

    def __init__(self) -> None:
        self.sent = b""

    async def read(self, size: int = 0) -> bytes:
        return b""

    def write(self, data: bytes) -> None:
        self.sent += data

    def resize(self, cols: int, rows: int) -> None:
        pass

    async def close(self, reason: str = "") -> None:
        pass


@pytest.mark.parametrize(
    ("key", "character", "sent"),
    [
        ("enter", None, b"\r"),  # Pilot's Enter has no character
        ("shift+tab", None, b"\x1b[Z"),
        ("tab", "\t", b"\t"),
        ("escape", "\x1b", b"\x1b"),
        ("backspace", "\x7f", b"\x7f"),
        ("alt+backspace", None, b"\x1b\x7f"),
        ("ctrl+c", "\x03", b"\x03"),
        ("ctrl+p", "\x10", b"\x10"),
        ("ctrl+q", "\x11", b"\x11"),
        ("ctrl+@", "\x00", b"\x00"),
        ("ctrl+backslash", "\x1c", b"\x1c"),
        ("alt+x", "x", b"\x1bx"),
        ("alt+shift+x", None, b"\x1bX"),
        ("alt+enter", None, b"\x1b\r"),
        ("f1", None, b"\x1bOP"),
        ("f5", None, b"\x1b[15~"),
        ("shift+f5", None, b"\x1b[15;2~"),
        ("up", None, b"\x1b[A"),
        ("ctrl+left", None, b"\x1b[1;5D"),
        ("home", None, b"\x1b[H"),
        ("pageup", None, b"\x1b[5~"),
        ("delete", None, b"\x1b[3~"),
        ("colon", ":", b":"),
        ("space", " ", b" "),
        ("é", "é", "é".encode()),
    ],
)
def test_keys_become_what_xterm_sends(key: str, character: str | None, sent: bytes) -> None:
    pane = TerminalPane(lambda c, r: None, label="t")  # type: ignore[arg-type,return-value]
    recorder = Recorder()
    pane._cable.plug(recorder)
    assert pane._send_key(key, character)
    assert recorder.sent == sent


def test_arrows_follow_application_cursor_mode() -> None:
    pane = TerminalPane(lambda c, r: None, label="t")  # type: ignore[arg-type,return-value]
    recorder = Recorder()
    pane._cable.plug(recorder)
    pane.board.parser.feed("\x1b[?1h")  # what vi and less ask for
    pane._send_key("up", None)
    assert recorder.sent == b"\x1bOA"


async def test_in_labapp_the_apps_keys_reach_the_shell_until_the_pane_is_left(
    core: Core, admin: Actor, server: FakeSshServer
) -> None:
    from labtui.tui.app import LabApp
    from labtui.tui.screens.dashboard import DashboardScreen

    app = LabApp(core, actor=admin)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")
        await open_terminal(app, target_of(server))
        pane = app.screen.query_one(TerminalPane)
        await prompt(pilot, pane)
        # q (quit), : (command bar), ? (help), / (filter) and Esc (back) are labtui's keys
        # elsewhere; here they are typed into the shell.
        await command(pilot, pane, "cat -v", lambda ls: waiting_after(pane, "cat -v"))
        await pilot.press("q", "colon", "question_mark", "slash", "escape", "enter")
        await until(pilot, lambda: lines(pane).count("q:?/^[") == 2, "the keys to reach cat")
        assert isinstance(app.screen, TerminalScreen)
        await pilot.press("ctrl+c")
        await until(pilot, lambda: lines(pane)[-1] == "$", "ctrl+c to interrupt cat")

        await pilot.press("ctrl+right_square_bracket")
        await pilot.press("escape")  # now the app's Back
        await until(pilot, lambda: isinstance(app.screen, DashboardScreen), "back to the dashboard")
        await until(pilot, lambda: "ssh.disconnect" in audit_actions(core), "the disconnect to be audited")


async def test_quitting_with_an_open_terminal_closes_and_audits_it(
    core: Core, admin: Actor, server: FakeSshServer
) -> None:
    pane = TerminalPane(opener_for(core, admin, target_of(server)), label="root@lab-host")
    app = PaneApp(pane)
    async with app.run_test(size=(80, 24)) as pilot:
        pane.focus()
        await prompt(pilot, pane)
        app.exit()
    assert audit_actions(core) == ["ssh.disconnect", "ssh.connect"]


async def test_keys_typed_while_connecting_are_sent_once_open(core: Core, admin: Actor, server: FakeSshServer) -> None:
    gate = asyncio.Event()
    opener = opener_for(core, admin, target_of(server))

    async def slow_opener(cols: int, rows: int) -> object:
        await gate.wait()  # a slow network: the user types before the shell is there
        return await opener(cols, rows)

    pane = TerminalPane(slow_opener, label="root@lab-host")  # type: ignore[arg-type]
    app = PaneApp(pane)
    async with app.run_test(size=(80, 24)) as pilot:
        pane.focus()
        await until(pilot, lambda: pane.state == "connecting", "the pane to start connecting")
        await type_text(pilot, "echo early")
        await pilot.press("enter", "ctrl+q")  # ctrl+q is the shell's too (XON), not Textual's quit
        assert app.is_running
        gate.set()
        await until(pilot, lambda: "early" in lines(pane), "the typeahead to run")


async def test_s_on_an_inventory_server_opens_a_terminal_to_it(core: Core, admin: Actor, server: FakeSshServer) -> None:
    """CloudLab's builtin ssh action: the host's address, user and key come from a service's
    outputs/temp_inventory.yaml, found by the server object's hostname."""
    import yaml

    from labtui.tui.screens.inventory import InventoryScreen

    outputs = core.services.root / "hello" / "outputs"
    outputs.mkdir(parents=True, exist_ok=True)
    (outputs / "temp_inventory.yaml").write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {
                        "lab-host": {
                            "ansible_host": "127.0.0.1",
                            "ansible_port": server.port,
                            "ansible_user": "root",
                            "ansible_ssh_private_key_file": str(server.client_key_file),
                        }
                    }
                }
            }
        )
    )
    await core.inventory.create(admin, "server", {"hostname": "lab-host", "ip_address": "127.0.0.1"})
    app = await host(core, admin, InventoryScreen("server"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, InventoryScreen) and app.screen.loaded, "the inventory")
        await pilot.press("s")
        await until(pilot, lambda: bool(app.screen.query(TerminalPane)), "the terminal screen")
        pane = app.screen.query_one(TerminalPane)
        await prompt(pilot, pane)
        await type_text(pilot, "echo hello")
        await pilot.press("enter")
        await until(pilot, lambda: "hello" in lines(pane), "hello")
        assert app.screen.query_one(Tabs).active_tab is not None
        assert "lab-host" in str(app.screen.query_one(Tabs).active_tab.label)
