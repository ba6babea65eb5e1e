"""Serving labtui over SSH (one TUI process per session) and the login-shell mode."""
