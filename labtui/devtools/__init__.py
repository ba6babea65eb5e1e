"""Tools for labtui's own development that ship with it: the screenshot scenes (which need
the TUI, the SSH server and the fakes in :mod:`labtui.testing` together, so they live above
both interfaces) and an SSH client that sees labtui as a user's terminal does."""
