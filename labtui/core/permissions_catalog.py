"""CloudLab's 37 static permissions (same codenames, categories and labels) plus ``*``,
and :class:`Perm`, the names code uses for them."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class PermissionDef(NamedTuple):
    codename: str
    category: str
    label: str
    description: str


class Perm(StrEnum):
    """Every static permission codename: code names them through this, never as bare
    strings (a typo is then an AttributeError, and grep finds every use). Members are
    ``str``, so they go wherever a codename does."""

    INSTANCES_VIEW = "instances.view"
    INSTANCES_STOP = "instances.stop"
    INSTANCES_SSH = "instances.ssh"
    INSTANCES_REFRESH = "instances.refresh"
    SERVICES_VIEW = "services.view"
    SERVICES_DEPLOY = "services.deploy"
    SERVICES_STOP = "services.stop"
    SERVICES_CONFIG_VIEW = "services.config.view"
    SERVICES_CONFIG_EDIT = "services.config.edit"
    SERVICES_FILES_VIEW = "services.files.view"
    SERVICES_FILES_EDIT = "services.files.edit"
    JOBS_VIEW_OWN = "jobs.view_own"
    JOBS_VIEW_ALL = "jobs.view_all"
    JOBS_CANCEL = "jobs.cancel"
    USERS_VIEW = "users.view"
    USERS_CREATE = "users.create"
    USERS_EDIT = "users.edit"
    USERS_DELETE = "users.delete"
    USERS_ASSIGN_ROLES = "users.assign_roles"
    ROLES_VIEW = "roles.view"
    ROLES_CREATE = "roles.create"
    ROLES_EDIT = "roles.edit"
    ROLES_DELETE = "roles.delete"
    SYSTEM_SETTINGS_VIEW = "system.settings.view"
    SYSTEM_SETTINGS_EDIT = "system.settings.edit"
    SYSTEM_STOP_ALL = "system.stop_all"
    SYSTEM_AUDIT_LOG = "system.audit_log"
    COSTS_VIEW = "costs.view"
    COSTS_REFRESH = "costs.refresh"
    SCHEDULES_VIEW = "schedules.view"
    SCHEDULES_CREATE = "schedules.create"
    SCHEDULES_EDIT = "schedules.edit"
    SCHEDULES_DELETE = "schedules.delete"
    INVENTORY_TAGS_MANAGE = "inventory.tags.manage"
    INVENTORY_ACL_MANAGE = "inventory.acl.manage"
    HEALTH_VIEW = "health.view"
    HEALTH_MANAGE = "health.manage"


STATIC_PERMISSIONS: tuple[PermissionDef, ...] = tuple(
    PermissionDef(str(row[0]), *row[1:])
    for row in (
        (Perm.INSTANCES_VIEW, "instances", "View Instances", "View cloud instance list and details"),
        (Perm.INSTANCES_STOP, "instances", "Stop Instances", "Destroy individual cloud instances"),
        (Perm.INSTANCES_SSH, "instances", "SSH Access", "Connect to instances via SSH terminal"),
        (Perm.INSTANCES_REFRESH, "instances", "Refresh Instances", "Refresh instance inventory from Vultr"),
        (Perm.SERVICES_VIEW, "services", "View Services", "View available services and scripts"),
        (Perm.SERVICES_DEPLOY, "services", "Deploy Services", "Deploy or run service scripts"),
        (Perm.SERVICES_STOP, "services", "Stop Services", "Stop service instances"),
        (Perm.SERVICES_CONFIG_VIEW, "services", "View Configs", "View service configuration files"),
        (Perm.SERVICES_CONFIG_EDIT, "services", "Edit Configs", "Edit service configuration files"),
        (Perm.SERVICES_FILES_VIEW, "services", "View Files", "View service input/output files"),
        (Perm.SERVICES_FILES_EDIT, "services", "Edit Files", "Upload, edit, and delete service files"),
        (Perm.JOBS_VIEW_OWN, "jobs", "View Own Jobs", "View jobs started by this user"),
        (Perm.JOBS_VIEW_ALL, "jobs", "View All Jobs", "View jobs started by any user"),
        (Perm.JOBS_CANCEL, "jobs", "Cancel Jobs", "Cancel running jobs"),
        (Perm.USERS_VIEW, "users", "View Users", "View user accounts"),
        (Perm.USERS_CREATE, "users", "Create Users", "Invite new users"),
        (Perm.USERS_EDIT, "users", "Edit Users", "Edit user profiles"),
        (Perm.USERS_DELETE, "users", "Delete Users", "Deactivate user accounts"),
        (Perm.USERS_ASSIGN_ROLES, "users", "Assign Roles", "Assign roles to users"),
        (Perm.ROLES_VIEW, "roles", "View Roles", "View roles and permissions"),
        (Perm.ROLES_CREATE, "roles", "Create Roles", "Create custom roles"),
        (Perm.ROLES_EDIT, "roles", "Edit Roles", "Edit roles and their permissions"),
        (Perm.ROLES_DELETE, "roles", "Delete Roles", "Delete non-system roles"),
        (Perm.SYSTEM_SETTINGS_VIEW, "system", "View Settings", "View system settings"),
        (Perm.SYSTEM_SETTINGS_EDIT, "system", "Edit Settings", "Edit system settings"),
        (Perm.SYSTEM_STOP_ALL, "system", "Stop All", "Stop all running instances"),
        (Perm.SYSTEM_AUDIT_LOG, "system", "Audit Log", "View audit log"),
        (Perm.COSTS_VIEW, "costs", "View Costs", "View cost breakdown and billing data"),
        (Perm.COSTS_REFRESH, "costs", "Refresh Costs", "Trigger cost data refresh from Vultr"),
        (Perm.SCHEDULES_VIEW, "schedules", "View Schedules", "View scheduled job definitions"),
        (Perm.SCHEDULES_CREATE, "schedules", "Create Schedules", "Create new scheduled jobs"),
        (Perm.SCHEDULES_EDIT, "schedules", "Edit Schedules", "Edit existing scheduled jobs"),
        (Perm.SCHEDULES_DELETE, "schedules", "Delete Schedules", "Delete scheduled jobs"),
        (Perm.INVENTORY_TAGS_MANAGE, "inventory", "Manage Tags", "Create, edit, and delete inventory tags"),
        (Perm.INVENTORY_ACL_MANAGE, "inventory", "Manage ACLs", "Set per-object and tag-level permissions"),
        (Perm.HEALTH_VIEW, "health", "View Health Checks", "View health check status and history"),
        (
            Perm.HEALTH_MANAGE,
            "health",
            "Manage Health Checks",
            "Reload health configs and manage health check settings",
        ),
    )
)

WILDCARD = PermissionDef("*", "system", "Everything", "Every permission, present and future")

#: Seeded beyond CloudLab. ``operator`` runs the lab; ``viewer`` only looks.
OPERATOR_PERMISSIONS: frozenset[str] = frozenset(
    p.codename for p in STATIC_PERMISSIONS if p.category in ("services", "schedules", "instances", "health")
) | {str(p) for p in (Perm.JOBS_VIEW_OWN, Perm.JOBS_VIEW_ALL, Perm.JOBS_CANCEL, Perm.COSTS_VIEW)}

VIEWER_PERMISSIONS: frozenset[str] = frozenset(
    p.codename for p in STATIC_PERMISSIONS if p.codename.endswith(".view")
) | {str(Perm.JOBS_VIEW_OWN)}

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
