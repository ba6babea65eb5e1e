"""The core object a process builds once: config, database and the domain services.

The TUI, the CLI and the SSH server receive a :class:`Core` and only call its services;
every service checks permission and audits in core, so no front end can bypass them.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from labtui.core.audit_service import AuditLog
from labtui.core.auth import Auth
from labtui.core.config import Config, load_config, mail_subject_prefix
from labtui.core.configs import Configs
from labtui.core.db.engine import Database
from labtui.core.dns import Dns
from labtui.core.files import ServiceFiles
from labtui.core.health import Health
from labtui.core.instances import Instances
from labtui.core.integrations.email import Mailer, make_mailer
from labtui.core.inventory.actions import InventoryActions
from labtui.core.inventory.objects import Inventory
from labtui.core.jobs import Jobs
from labtui.core.login_keys import LoginKeys
from labtui.core.outputs import ServiceOutputs
from labtui.core.rbac import Rbac
from labtui.core.schedules import Schedules
from labtui.core.secretbox import load_box, private_dir, private_file
from labtui.core.services import Services
from labtui.core.users import Users
from labtui.core.vault import Vault

if TYPE_CHECKING:
    from labtui.core.inventory.types import InventoryTypeDef

DEFAULT_HOME = Path("~/.local/share/labtui")


@dataclass(frozen=True)
class Paths:
    """Where a labtui process keeps its files."""

    home: Path

    @property
    def config(self) -> Path:
        return self.home / "config.yaml"

    @property
    def log(self) -> Path:
        return self.home / "labtui.log"

    @property
    def database(self) -> Path:
        return self.home / "labtui.db"

    @property
    def lab(self) -> Path:
        return self.home / "lab"

    @property
    def startup_record(self) -> Path:
        """When the last start ran and what it did (labtui/core/startup.py)."""
        return self.home / "startup.json"


def resolve_home(explicit: str | None = None) -> Path:
    """``--home``, else ``$LABTUI_HOME``, else ``~/.local/share/labtui``."""
    raw = explicit or os.environ.get("LABTUI_HOME") or str(DEFAULT_HOME)
    return Path(raw).expanduser().resolve()


def resolve_config(paths: Paths, explicit: str | None = None) -> Config:
    """``--config FILE``, else ``$LABTUI_HOME/config.yaml``, else the built-in demo config."""
    if explicit:
        return load_config(Path(explicit).expanduser())
    if paths.config.exists():
        return load_config(paths.config)
    return load_config(None)


class Core:
    """Everything core offers a front end, built from one config."""

    def __init__(self, config: Config, paths: Paths, *, mailer: Mailer | None = None) -> None:
        self.config = config
        self.paths = paths
        private_dir(paths.home)
        #: Seals secret values at rest (docs/secrets.md); TOTP seeds and the SSH host key too.
        self.secrets = load_box(config.secrets.key, paths.home)
        url = config.database.url or f"sqlite:///{paths.database}"
        self.db = Database(url, secrets=self.secrets)
        self.mailer: Mailer = mailer or make_mailer(config.email)
        self.rbac = Rbac(self.db)
        self.auth = Auth(self.db, config.auth, self.rbac)
        self.users = Users(self.db, self.rbac, self.auth, self.mailer)
        self.login_keys = LoginKeys(self.db, self.rbac)
        self.audit = AuditLog(self.db, self.rbac)
        self.schedules = Schedules(self.db, self.rbac)
        self.services = Services(self.db, self.rbac, self.lab_dir)
        self.configs = Configs(self.db, self.rbac, self.services)
        self.files = ServiceFiles(self.db, self.rbac, self.services, paths.home)
        self.outputs = ServiceOutputs(self.db, self.rbac, self.services)
        self.vault = Vault(self.db, self.rbac, paths.home)
        self.jobs = Jobs(self.db, self.rbac, self.services, self.vault, paths.home, config.jobs)
        self.health = Health(
            self.db,
            self.rbac,
            self.lab_dir,
            paths.home,
            config.health,
            self.mailer,
            mail_prefix=mail_subject_prefix(config),
        )
        self.dns = Dns(self.db, self.rbac, config.cloudflare)
        self.instances = Instances.for_core(self)
        self.inventory_actions = InventoryActions.for_core(self)
        self.log = logging.getLogger("labtui")
        #: Problems startup found but survived (shown on the dashboard).
        self.startup_report: list[str] = []
        #: The lab's valid inventory types by slug, loaded at startup.
        self.inventory_types: dict[str, InventoryTypeDef] = {}
        self.inventory = Inventory.for_core(self)

    @property
    def lab_dir(self) -> Path:
        return Path(self.config.lab.checkout).expanduser() if self.config.lab.checkout else self.paths.lab

    async def start(self) -> None:
        """Run the startup sequence, startup actions and git pull included: a start of
        ``labtui serve`` or the TUI (docs/architecture.md, startup)."""
        from labtui.core.startup import run_startup

        await run_startup(self)

    async def attach(self) -> bool:
        """Open the lab for a CLI command: the startup sequence only if no start has
        completed yet in this data dir, else read what the last start prepared. Returns
        whether the sequence ran."""
        from labtui.core.startup import attach

        return await attach(self)

    async def aclose(self) -> None:
        await self.jobs.aclose()
        await self.health.aclose()
        await self.mailer.aclose()
        self.db.dispose()


class LogFile(logging.FileHandler):
    """``labtui.log``, quiet when it cannot be written (a full disk).

    logging's own handler prints a traceback to stderr for every record it fails to write:
    the terminal the TUI draws on, and ~1,100 tracebacks a second from ``labtui serve`` on a
    full disk. Failures are counted instead, and the first record written afterwards is
    preceded by one line saying how many failed.
    """

    def __init__(self, filename: Path) -> None:
        super().__init__(filename)
        self.failed = 0
        self._reason = ""
        self._broke = False

    def emit(self, record: logging.LogRecord) -> None:
        if self.failed:
            note = logging.makeLogRecord(
                {
                    "name": "labtui.log",
                    "levelno": logging.WARNING,
                    "levelname": "WARNING",
                    "msg": "%d log record(s) could not be written (%s)",
                    "args": (self.failed, self._reason),
                }
            )
            if not self._write(note):
                self.failed += 1  # this record too: still failing
                return
            self.failed = 0
        if not self._write(record):
            self.failed += 1

    def _write(self, record: logging.LogRecord) -> bool:
        self._broke = False
        super().emit(record)
        return not self._broke

    def handleError(self, record: logging.LogRecord) -> None:
        self._broke = True
        self._reason = str(sys.exc_info()[1] or "unknown error")
        # Drop what the stream still holds: the next record reopens the file (append mode),
        # so the count is what is missing (a buffer kept would be written later, out of order).
        try:
            self.close()
        except OSError:
            pass


def setup_logging(paths: Paths, level: str = "INFO") -> None:
    """Log to ``$LABTUI_HOME/labtui.log`` (0600, in the 0700 data dir: it names users and
    hosts); never to the terminal the TUI draws on."""
    private_dir(paths.home)
    root = logging.getLogger("labtui")
    if any(isinstance(h, logging.FileHandler) and Path(h.baseFilename) == paths.log for h in root.handlers):
        return
    handler = LogFile(private_file(paths.log))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
