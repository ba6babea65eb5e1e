"""Inventory actions (CloudLab's ``run_action``): a type's ``actions`` run as jobs.

An action is declared in the type's YAML (``inventory_types/*.yaml``, docs/cloudlab.md) and
runs on one object (``scope: object``) or on the type (``scope: type``). Its kinds:

- ``script``: ``bash services/<svc>/<script>`` (default ``deploy.sh``), where ``<svc>`` is
  the object's ``name`` field; a ``.yml`` file runs as a playbook (labtui's extension);
- ``script_stop``: the service's stop (its ``stop.yml``, else CloudLab's two-step flow);
- ``playbook``: the action's playbook with one extra var per ``vars_mapping`` entry,
  ``{{ field }}`` replaced by the object's field (CloudLab passed ``-e var=value``; labtui
  passes the same vars through ansible-runner's extra-vars file, so a value is never parsed
  by a shell nor split by Ansible's ``k=v`` syntax, and never shows in ``ps`` or the log);
- ``dynamic_scripts``: a script of the service's ``scripts.yaml`` (``script_name``, default
  ``deploy``), its inputs validated as for a service script;
- ``builtin``/``ssh`` named ``ssh``: opens the terminal pane in the TUI; never a job.

Access is the inventory order (:mod:`labtui.core.inventory.access`) with the action's name
as the permission suffix: ``inventory.<slug>.<action>``, object ACLs and tag grants. Every
queued action and every refusal is audited. The job row keeps only the target (type, object,
action, inputs); the object's values are read again when a worker runs it, so a secret field
a playbook needs reaches only its extra-vars file, never the job row, output or audit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labtui.core import audit
from labtui.core.actor import Actor
from labtui.core.db.inventory import InventoryObject, open_secrets
from labtui.core.db.jobs import INVENTORY_ACTION, Job
from labtui.core.db.models import InventoryType
from labtui.core.errors import LabtuiError, NotFound, ValidationError
from labtui.core.inputs import check_inputs
from labtui.core.inventory import access
from labtui.core.inventory.types import ActionDef, InventoryTypeDef
from labtui.core.jobs.queue import JobInfo, Jobs, Plan, job_info
from labtui.core.jobs.runner import Step
from labtui.core.services import (
    PLAYBOOK_SUFFIXES,
    ScriptDef,
    ServiceInfo,
    Services,
    deploy_file,
    input_env,
    script_path,
    validate_inputs,
)

if TYPE_CHECKING:
    from labtui.core.runtime import Core

#: Kinds that run as jobs (``builtin``/``ssh`` are the TUI's terminal pane).
JOB_KINDS = ("script", "script_stop", "playbook", "dynamic_scripts")
#: The kinds that act on a service: the object's ``name`` field names it (CloudLab).
SERVICE_KINDS = ("script", "script_stop", "dynamic_scripts")
#: CloudLab's absolute paths (symlinks into the settings repo): ``/init_playbook/x.yaml``
#: is the lab's ``init_playbook/x.yaml``, with or without the symlink.
CLOUDLAB_ROOTS = (
    "init_playbook",
    "services",
    "scripts",
    "inventory",
    "inputs",
    "outputs",
    "instance_templates",
    "inventory_types",
    "vault",
)
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_-]+)\s*\}\}")
#: Longest ``Job.service`` value.
SERVICE_MAX = 100


@dataclass(frozen=True)
class ActionInfo:
    """An action the actor may run, as a screen shows it."""

    name: str
    label: str
    #: script | script_stop | playbook | dynamic_scripts | builtin | ssh
    type: str
    #: object | type
    scope: str
    #: The confirmation question ("" = none; a destructive action always asks).
    confirm: str
    destructive: bool
    icon: str
    #: For ``dynamic_scripts``: the default script of ``scripts.yaml``.
    script_name: str = ""

    @property
    def is_ssh(self) -> bool:
        """The builtin SSH action: the TUI opens its terminal pane, no job is queued."""
        return self.type in ("builtin", "ssh") and self.name == "ssh"

    @property
    def needs_confirm(self) -> bool:
        return bool(self.confirm) or self.destructive

    def as_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def action_info(a: ActionDef) -> ActionInfo:
    return ActionInfo(a.name, a.label, a.type, a.scope, a.confirm, a.destructive, a.icon, a.script_name)


def render_vars(mapping: Mapping[str, str], data: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """``vars_mapping`` with each ``{{ field }}`` replaced by the object's value.

    A value that is exactly one placeholder keeps the field's type (a VLAN stays an integer,
    tags a list); anything else is text with ``str(value)`` substituted, as CloudLab did. A
    field the object has no value for is refused, naming it (CloudLab failed the job with a
    KeyError half-way).
    """

    def value_of(var: str, field_name: str) -> Any:
        if field_name not in data or data[field_name] is None:
            raise ValidationError(
                f"{where}: variable '{var}' needs the field '{field_name}', which has no value", field_name
            )
        return data[field_name]

    out: dict[str, Any] = {}
    for var, template in mapping.items():
        text = str(template)
        whole = _PLACEHOLDER.fullmatch(text.strip())
        if whole:
            out[var] = value_of(var, whole.group(1))
        else:

            def substitute(m: re.Match[str], var: str = var) -> str:
                return str(value_of(var, m.group(1)))

            out[var] = _PLACEHOLDER.sub(substitute, text)
    return out


def env_of(values: Mapping[str, Any]) -> dict[str, str]:
    """CloudLab's ``INPUT_<NAME>`` variables (lists comma-joined)."""
    return {
        f"INPUT_{name.upper()}": ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
        for name, value in values.items()
    }


def playbook_path(lab_dir: Path, declared: str) -> Path:
    """The action's playbook inside the lab: relative to the lab, or one of CloudLab's
    absolute paths (``/init_playbook/...``) mapped onto the lab. Refused outside the lab."""
    pure = PurePosixPath(declared)
    if pure.is_absolute():
        parts = pure.parts[1:]
        if not parts or parts[0] not in CLOUDLAB_ROOTS:
            raise ValidationError(
                f"Playbook '{declared}' is outside the lab (use a path relative to the lab, e.g. init_playbook/x.yaml)",
                "playbook",
            )
        pure = PurePosixPath(*parts)
    lab = lab_dir.resolve()
    path = (lab / pure).resolve()
    if not path.is_relative_to(lab):
        raise ValidationError(f"Playbook '{declared}' is outside the lab", "playbook")
    if not path.is_file():
        raise ValidationError(f"Playbook '{declared}' does not exist in the lab", "playbook")
    return path


@dataclass(frozen=True)
class _Target:
    """What a queued action job refers to (stored as the job's ``inputs`` JSON)."""

    type: str
    action: str
    object_id: int | None
    inputs: dict[str, Any]
    script: str | None = None

    def dump(self) -> str:
        out: dict[str, Any] = {
            "type": self.type,
            "object_id": self.object_id,
            "action": self.action,
            "inputs": self.inputs,
        }
        if self.script:
            out["script"] = self.script
        return json.dumps(out)

    @classmethod
    def load(cls, text: str | None) -> _Target:
        raw = json.loads(text or "{}")
        return cls(
            str(raw.get("type") or ""),
            str(raw.get("action") or ""),
            raw.get("object_id"),
            dict(raw.get("inputs") or {}),
            raw.get("script"),
        )


class InventoryActions:
    """``actions_for`` (what a screen may offer) and ``run`` (queue one as a job)."""

    def __init__(self, jobs: Jobs, services: Services, types: Callable[[], Mapping[str, InventoryTypeDef]]) -> None:
        self.jobs = jobs
        self.db, self.rbac = jobs.db, jobs.rbac
        self.services = services
        #: The lab's loaded types, by slug (read at each call: a reload replaces them).
        self._types = types

    @classmethod
    def for_core(cls, core: Core) -> InventoryActions:
        """The actions of a :class:`Core`: plans its jobs for the workers and binds the job
        queue to the core (system tasks and inventory-action schedules need it)."""
        svc = cls(core.jobs, core.services, lambda: core.inventory_types)
        core.jobs.planners[INVENTORY_ACTION] = svc.plan
        core.jobs.bind(core)
        return svc

    def type_def(self, slug: str) -> InventoryTypeDef:
        t = self._types().get(slug)
        if t is None:
            raise NotFound(f"No inventory type '{slug}'")
        return t

    def action_def(self, slug: str, name: str) -> ActionDef:
        a = self.type_def(slug).action(name)
        if a is None:
            raise NotFound(f"Type '{slug}' has no action '{name}'")
        return a

    # -- what may be offered ---------------------------------------------------------------

    async def actions_for(self, actor: Actor, type_slug: str, object_id: int | None) -> list[ActionInfo]:
        """The type's actions ``actor`` may run: on the object (``scope: object``) when
        ``object_id`` is given, else on the type (``scope: type``). Includes the builtin
        ``ssh`` action when the type defines it. Nothing is audited (this only shapes a menu)."""
        t = self.type_def(type_slug)
        scope = "object" if object_id is not None else "type"
        wanted = [a for a in t.actions if a.scope == scope or (a.is_ssh and object_id is not None)]
        if not wanted:
            return []

        def q(s: Session) -> list[ActionInfo]:
            p = access.principal(s, self.rbac, actor)
            if object_id is not None:
                slug = s.scalar(
                    select(InventoryType.slug)
                    .join(InventoryObject, InventoryObject.type_id == InventoryType.id)
                    .where(InventoryObject.id == object_id)
                )
                if slug != type_slug:
                    return []
            out: list[ActionInfo] = []
            for a in wanted:
                if object_id is not None:
                    ok = access.check(s, p, object_id, a.name)
                    if not ok and a.is_ssh:
                        ok = self.rbac.allowed(s, actor, "instances.ssh")  # CloudLab: either one
                else:
                    ok = p.has_type(type_slug, a.name)
                if ok:
                    out.append(action_info(a))
            return out

        return await self.db.run(q)

    # -- queueing --------------------------------------------------------------------------

    async def run(
        self,
        actor: Actor,
        type_slug: str,
        action: str,
        *,
        object_id: int | None = None,
        inputs: Mapping[str, Any] | None = None,
        schedule_id: int | None = None,
        script: str | None = None,
    ) -> JobInfo:
        """Queue ``action`` of ``type_slug`` (on ``object_id``) as a job after the access
        check (suffix = the action's name); ``script`` picks a ``dynamic_scripts`` script
        (default: the action's ``script_name``). Refusals are audited."""
        a = self.action_def(type_slug, action)
        if a.is_ssh or a.type in ("builtin", "ssh"):
            raise ValidationError(f"'{a.label}' opens a terminal; it does not run as a job", "action")
        if a.type not in JOB_KINDS:
            raise ValidationError(f"Unknown action type: {a.type}", "action")
        if a.scope == "object" and object_id is None:
            raise ValidationError(f"'{a.label}' runs on one object: choose one", "object_id")
        if a.type == "dynamic_scripts":
            script = script or a.script_name or "deploy"
        else:
            script = None
        given = dict(inputs or {})

        def q(s: Session) -> JobInfo:
            p = access.principal(s, self.rbac, actor)
            if object_id is not None:
                obj, slug = access.require(s, self.db, actor, p, object_id, a.name)
                if slug != type_slug:
                    raise NotFound(f"No {type_slug} object {object_id}")
                data = _values(obj)
                target = f"inventory/{type_slug}/{object_id}"
            else:
                if not p.has_type(type_slug, a.name):
                    access.refuse(self.db, actor, type_slug, a.name, f"inventory/{type_slug}", hide=False)
                data = {}
                target = f"inventory/{type_slug}"
            values, service = self._validate(s, a, type_slug, object_id, data, given, script)
            job = self.jobs.insert(
                s,
                actor,
                service=service[:SERVICE_MAX],
                action=INVENTORY_ACTION,
                script=a.name,
                inputs=_Target(type_slug, a.name, object_id, values, script).dump(),
                schedule_id=schedule_id,
                object_id=object_id,
            )
            audit.record(
                s,
                actor,
                f"inventory.action.{a.name}",
                target,
                {
                    "job_id": job.id,
                    "action_type": a.type,
                    "service": service,
                    "script": script,
                    "inputs": sorted(values),
                    "schedule_id": schedule_id,
                },
            )
            return job_info(job)

        job = await self.db.run(q)
        self.jobs.wake_workers()
        return job

    def _validate(
        self,
        s: Session,
        a: ActionDef,
        slug: str,
        object_id: int | None,
        data: Mapping[str, Any],
        given: dict[str, Any],
        script: str | None,
    ) -> tuple[dict[str, Any], str]:
        """Check now what the worker will need, so a mistake is refused before a job exists:
        (the inputs to store, the job's ``service`` label)."""
        where = f"Action '{a.name}' of {slug}" + (f" {object_id}" if object_id is not None else "")
        if a.type in SERVICE_KINDS:
            info = self._service(data, where)
            if a.type == "script":
                self._script_step(info, a, None)
                return check_inputs(given), info.name
            if a.type == "script_stop":
                self.jobs.stop_steps(info, None)
                return {}, info.name
            spec = info.script(script or "deploy")
            script_path(info.path, spec, info.name)
            values = validate_inputs(info.name, spec, given, deployments=self.services.active_deployments())
            input_env(s, spec, values)  # unknown users / missing keys refused now
            return values, info.name
        playbook_path(self.services.lab_dir, a.playbook)
        render_vars(a.vars, data, where=where)
        label = str(data.get("name") or data.get("hostname") or (f"{slug} {object_id}" if object_id else slug))
        return check_inputs(given), label

    def _service(self, data: Mapping[str, Any], where: str) -> ServiceInfo:
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise ValidationError(f"{where}: the object has no 'name' naming a service", "name")
        return self.services.load(name)

    @staticmethod
    def _script_step(info: ServiceInfo, a: ActionDef, inventory: Path | None) -> Step:
        """The ``script`` kind's step; ``deploy.sh`` (the default) falls back to the service's
        deploy file, so a ``deploy.yml`` service deploys through it too."""
        file = a.script or "deploy.sh"
        if file == "deploy.sh" and not (info.path / file).is_file():
            file = deploy_file(info.path) or file
        spec = ScriptDef(a.name, a.label, file)
        path = script_path(info.path, spec, info.name)
        kind = "playbook" if file.endswith(PLAYBOOK_SUFFIXES) else "bash"
        return Step(kind, path, info.path, inventory=inventory)

    # -- for the worker --------------------------------------------------------------------

    def plan(self, s: Session, job: Job) -> Plan:
        """The steps of a claimed action job, from the type and the object as they are now."""
        target = _Target.load(job.inputs)
        a = self.action_def(target.type, target.action)
        where = f"Action '{a.name}' of {target.type}"
        data: dict[str, Any] = {}
        if target.object_id is not None:
            obj = s.get(InventoryObject, target.object_id)
            if obj is None:
                raise NotFound(f"{where}: object {target.object_id} no longer exists")
            data = {**_values(obj), **open_secrets(s, obj.secrets)}
        env, extravars, inventory = self.jobs.base_plan(job)
        env.update({"LABTUI_INVENTORY_TYPE": target.type, "LABTUI_INVENTORY_ACTION": a.name})
        if target.object_id is not None:
            env["LABTUI_INVENTORY_OBJECT"] = str(target.object_id)
        if a.type == "dynamic_scripts":
            info = self._service(data, where)
            steps, inputs_env, input_vars = self.jobs.script_steps(
                s, info, target.script or a.script_name, target.inputs, inventory
            )
            env.update(inputs_env)
            return Plan(steps, env, {**input_vars, **extravars})
        inputs = check_inputs(target.inputs)  # again: a job queued before a name was refused
        env.update(env_of(inputs))
        if a.type == "script":
            return Plan([self._script_step(self._service(data, where), a, inventory)], env, {**inputs, **extravars})
        if a.type == "script_stop":
            return Plan(self.jobs.stop_steps(self._service(data, where), inventory), env, extravars)
        if a.type == "playbook":
            lab = self.services.lab_dir
            path = playbook_path(lab, a.playbook)
            step = Step(
                "playbook",
                path,
                lab,
                header=f"--- Running {a.label} on {job.service} ---",
                inventory=inventory,
                extravars=render_vars(a.vars, data, where=where),
            )
            return Plan([step], env, {**inputs, **extravars})
        raise LabtuiError(f"Unknown action type: {a.type}")


def _values(obj: InventoryObject) -> dict[str, Any]:
    data = json.loads(obj.data or "{}")
    return data if isinstance(data, dict) else {}


__all__ = ["ActionInfo", "InventoryActions", "action_info", "playbook_path", "render_vars"]
