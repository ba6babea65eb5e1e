"""Every main screen as data: one table feeds the ``:`` command bar, the palette, ``?`` help
and the dashboard's menu. Screens are imported lazily so start-up stays fast."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labtui.core.permissions_catalog import Perm

if TYPE_CHECKING:
    from textual.screen import Screen


@dataclass(frozen=True)
class ScreenEntry:
    name: str
    """What to type after ``:`` (and the palette's command name)."""
    title: str
    description: str
    target: str
    """``module:Class`` of the screen, imported on first use."""
    permission: str | None = None
    """Needed to open it; hidden from menus without it (core refuses anyway)."""
    aliases: tuple[str, ...] = ()

    def load(self) -> type[Screen[object]]:
        module, _, cls = self.target.partition(":")
        return getattr(importlib.import_module(module), cls)


SCREENS: tuple[ScreenEntry, ...] = (
    ScreenEntry(
        "dashboard",
        "Dashboard",
        "What exists and what happened lately",
        "labtui.tui.screens.dashboard:DashboardScreen",
        aliases=("home",),
    ),
    ScreenEntry(
        "services",
        "Services",
        "Deploy services, run their scripts, stop them",
        "labtui.tui.screens.services:ServicesScreen",
        Perm.SERVICES_VIEW,
        aliases=("svc",),
    ),
    ScreenEntry(
        "jobs",
        "Jobs",
        "Jobs with live logs; cancel and re-run",
        "labtui.tui.screens.jobs:JobsScreen",
        Perm.JOBS_VIEW_OWN,
    ),
    ScreenEntry(
        "schedules",
        "Schedules",
        "Recurring jobs on cron, in any time zone",
        "labtui.tui.screens.schedules:SchedulesScreen",
        Perm.SCHEDULES_VIEW,
        aliases=("cron",),
    ),
    ScreenEntry(
        "health",
        "Health",
        "Every health check: status, latency, uptime, history; silence, check now",
        "labtui.tui.screens.health:HealthScreen",
        Perm.HEALTH_VIEW,
    ),
    ScreenEntry(
        "dns",
        "DNS",
        "Records of the Cloudflare zone: add, edit, delete",
        "labtui.tui.screens.dns:DnsScreen",
        Perm.SYSTEM_SETTINGS_VIEW,
    ),
    ScreenEntry(
        "inventory",
        "Inventory",
        "Servers, services, credentials and the lab's own types: tags, access rules, actions",
        "labtui.tui.screens.inventory:InventoryScreen",
        aliases=("inv",),
    ),
    ScreenEntry(
        "instances",
        "Instances",
        "Vultr instances: refresh, halt, reboot, destroy; monthly costs by tag and region",
        "labtui.tui.screens.instances:InstancesScreen",
        Perm.INSTANCES_VIEW,
        aliases=("vms",),
    ),
    ScreenEntry(
        "users",
        "Users",
        "Accounts, invitations, roles of each user",
        "labtui.tui.screens.users:UsersScreen",
        Perm.USERS_VIEW,
    ),
    ScreenEntry(
        "roles", "Roles", "Roles and their permissions", "labtui.tui.screens.roles:RolesScreen", Perm.ROLES_VIEW
    ),
    ScreenEntry(
        "audit",
        "Audit log",
        "Who did what, when and from where",
        "labtui.tui.screens.audit:AuditScreen",
        Perm.SYSTEM_AUDIT_LOG,
    ),
    ScreenEntry(
        "profile",
        "Profile",
        "Your name, email, password, SSH key and sessions",
        "labtui.tui.screens.profile:ProfileScreen",
        aliases=("me",),
    ),
)


def find(name: str) -> ScreenEntry | None:
    name = name.strip().lower()
    for entry in SCREENS:
        if name == entry.name or name in entry.aliases:
            return entry
    return None
