"""Keys that arrive in one burst (typeahead over a slow SSH link) land in the right fields."""

from __future__ import annotations

from textual import events
from textual.app import App, ComposeResult

from labtui.tui.widgets.typeahead import TypeaheadInput


class TwoFields(App[None]):
    def compose(self) -> ComposeResult:
        yield TypeaheadInput(id="user")
        yield TypeaheadInput(id="secret", password=True)


def burst(text: str) -> list[events.Key]:
    names = {"\t": "tab"}
    return [events.Key(names.get(c, c), c) for c in text]


async def test_a_burst_with_tab_fills_both_fields() -> None:
    app = TwoFields()
    async with app.run_test() as pilot:
        user = app.query_one("#user", TypeaheadInput)
        user.focus()
        await pilot.pause()
        # The whole burst reaches the field that had focus, as Textual delivers it.
        for key in burst("admin\tpw-Admin-123"):
            user.post_message(key)
        await pilot.pause(0.2)
        assert user.value == "admin"
        assert app.query_one("#secret", TypeaheadInput).value == "pw-Admin-123"
