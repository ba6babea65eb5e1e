"""CloudLab's 37 static permissions (same codenames, categories and labels) plus ``*``."""

from __future__ import annotations

from typing import NamedTuple


class PermissionDef(NamedTuple):
    codename: str
    category: str
    label: str
    description: str


STATIC_PERMISSIONS: tuple[PermissionDef, ...] = tuple(
    PermissionDef(*row)
    for row in (
        ("instances.view", "instances", "View Instances", "View cloud instance list and details"),
        ("instances.stop", "instances", "Stop Instances", "Destroy individual cloud instances"),
        ("instances.ssh", "instances", "SSH Access", "Connect to instances via SSH terminal"),
        ("instances.refresh", "instances", "Refresh Instances", "Refresh instance inventory from Vultr"),
        ("services.view", "services", "View Services", "View available services and scripts"),
        ("services.deploy", "services", "Deploy Services", "Deploy or run service scripts"),
        ("services.stop", "services", "Stop Services", "Stop service instances"),
        ("services.config.view", "services", "View Configs", "View service configuration files"),
        ("services.config.edit", "services", "Edit Configs", "Edit service configuration files"),
        ("services.files.view", "services", "View Files", "View service input/output files"),
        ("services.files.edit", "services", "Edit Files", "Upload, edit, and delete service files"),
        ("jobs.view_own", "jobs", "View Own Jobs", "View jobs started by this user"),
        ("jobs.view_all", "jobs", "View All Jobs", "View jobs started by any user"),
        ("jobs.cancel", "jobs", "Cancel Jobs", "Cancel running jobs"),
        ("users.view", "users", "View Users", "View user accounts"),
        ("users.create", "users", "Create Users", "Invite new users"),
        ("users.edit", "users", "Edit Users", "Edit user profiles"),
        ("users.delete", "users", "Delete Users", "Deactivate user accounts"),
        ("users.assign_roles", "users", "Assign Roles", "Assign roles to users"),
        ("roles.view", "roles", "View Roles", "View roles and permissions"),
        ("roles.create", "roles", "Create Roles", "Create custom roles"),
        ("roles.edit", "roles", "Edit Roles", "Edit roles and their permissions"),
        ("roles.delete", "roles", "Delete Roles", "Delete non-system roles"),
        ("system.settings.view", "system", "View Settings", "View system settings"),
        ("system.settings.edit", "system", "Edit Settings", "Edit system settings"),
        ("system.stop_all", "system", "Stop All", "Stop all running instances"),
        ("system.audit_log", "system", "Audit Log", "View audit log"),
        ("costs.view", "costs", "View Costs", "View cost breakdown and billing data"),
        ("costs.refresh", "costs", "Refresh Costs", "Trigger cost data refresh from Vultr"),
        ("schedules.view", "schedules", "View Schedules", "View scheduled job definitions"),
        ("schedules.create", "schedules", "Create Schedules", "Create new scheduled jobs"),
        ("schedules.edit", "schedules", "Edit Schedules", "Edit existing scheduled jobs"),
        ("schedules.delete", "schedules", "Delete Schedules", "Delete scheduled jobs"),
        ("inventory.tags.manage", "inventory", "Manage Tags", "Create, edit, and delete inventory tags"),
        ("inventory.acl.manage", "inventory", "Manage ACLs", "Set per-object and tag-level permissions"),
        ("health.view", "health", "View Health Checks", "View health check status and history"),
        ("health.manage", "health", "Manage Health Checks", "Reload health configs and manage health check settings"),
    )
)

WILDCARD = PermissionDef("*", "system", "Everything", "Every permission, present and future")

#: Seeded beyond CloudLab. ``operator`` runs the lab; ``viewer`` only looks.
OPERATOR_PERMISSIONS: frozenset[str] = frozenset(
    p.codename
    for p in STATIC_PERMISSIONS
    if p.category in ("services", "schedules", "instances", "health")
) | {"jobs.view_own", "jobs.view_all", "jobs.cancel", "costs.view"}

VIEWER_PERMISSIONS: frozenset[str] = frozenset(
    p.codename for p in STATIC_PERMISSIONS if p.codename.endswith(".view")
) | {"jobs.view_own"}

#: Per inventory type, which verbs each seeded role gets.
OPERATOR_INVENTORY_VERBS = ("view", "edit")
VIEWER_INVENTORY_VERBS = ("view",)


def inventory_permissions(slug: str, label: str, actions: list[tuple[str, str]]) -> list[PermissionDef]:
    """The permissions one inventory type registers (CloudLab's wording, naive plural kept)."""
    category = f"inventory.{slug}"
    out = [
        PermissionDef(f"{category}.view", category, f"View {label}s", f"View objects of type {label}"),
        PermissionDef(f"{category}.create", category, f"Create {label}s", f"Create new objects of type {label}"),
        PermissionDef(f"{category}.edit", category, f"Edit {label}s", f"Edit existing objects of type {label}"),
        PermissionDef(f"{category}.delete", category, f"Delete {label}s", f"Delete objects of type {label}"),
    ]
    seen = {p.codename for p in out}
    for name, action_label in actions:
        code = f"{category}.{name}"
        if code in seen:
            continue
        seen.add(code)
        out.append(
            PermissionDef(code, category, f"{action_label} ({label})", f"Run {action_label} action on {label} objects")
        )
    return out
