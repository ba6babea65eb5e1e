"""Permissions, roles and users (with their role assignments).

A role or account that exists in labtui and did not come from an earlier import of this
CloudLab (the import map says so; for accounts, an equal password hash also proves it) is a
conflict: reported and left alone unless ``--overwrite``. CloudLab's ``super-admin`` is
labtui's own system role, which always holds every permission: it is matched, never changed.

Pending invite and reset tokens are imported as labtui stores tokens (the digest only,
single-use, CloudLab's expiry), so the token already in a person's mail still redeems; a
used or expired one is not imported.
"""

from __future__ import annotations

import re

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from labtui.core import validation
from labtui.core.auth import INVITE, RESET
from labtui.core.db.models import AuthSession, Permission, Role, User, UserToken, user_roles
from labtui.core.errors import ValidationError
from labtui.core.importer.context import Context
from labtui.core.importer.records import RoleRec, TokenRec, UserRec
from labtui.core.passwords import token_digest
from labtui.core.rbac import SUPER_ADMIN

_ROLE_NAME = re.compile(r"[\w .-]{2,50}")


def apply_permissions(ctx: Context) -> None:
    """CloudLab's permission rows labtui lacks (e.g. of an inventory type the lab no longer
    defines) are created, so imported roles keep exactly what they held."""
    assert ctx.snap is not None
    s = ctx.session
    have = set(s.scalars(select(Permission.codename)))
    for p in ctx.snap.permissions:
        ctx.at("permissions", repr(p.codename))
        if p.codename in have:
            ctx.report.skipped("permissions")
            continue
        s.add(
            Permission(
                codename=p.codename, category=p.category[:50], label=p.label[:100], description=p.description[:255]
            )
        )
        have.add(p.codename)
        ctx.report.created("permissions")
    s.flush()


def _permission_rows(ctx: Context, codenames: list[str]) -> list[Permission]:
    s = ctx.session
    rows = {p.codename: p for p in s.scalars(select(Permission).where(Permission.codename.in_(codenames)))}
    for code in codenames:
        if code not in rows:  # held by a role but missing from CloudLab's own permissions table
            rows[code] = Permission(
                codename=code, category=code.rsplit(".", 1)[0][:50], label=code[:100], description=""
            )
            s.add(rows[code])
            ctx.report.created("permissions")
    return [rows[c] for c in codenames]


def apply_roles(ctx: Context) -> None:
    assert ctx.snap is not None
    s = ctx.session
    existing = {r.name: r for r in s.scalars(select(Role))}
    ctx.roles.update({name: r.id for name, r in existing.items()})
    for rec in ctx.snap.roles:
        ctx.at("roles", repr(rec.name))
        if not ctx.claim("roles", rec.name):
            ctx.report.skipped("roles")
            continue
        row = existing.get(rec.name)
        if rec.name == SUPER_ADMIN or (row is not None and row.is_system):
            ctx.report.skipped("roles")
            ctx.report.skipped("role_permissions", len(rec.permissions))
            continue
        if not _ROLE_NAME.fullmatch(rec.name.strip()) or rec.name != rec.name.strip():
            ctx.report.warn(
                f"roles: '{rec.name}' skipped: role names are 2 to 50 letters, digits, spaces, '.', '-' or '_'"
            )
            ctx.report.skipped("roles")
            continue
        if row is None:
            row = Role(name=rec.name, description=rec.description[:255], is_system=False, created_at=ctx.now)
            row.permissions = _permission_rows(ctx, rec.permissions)
            s.add(row)
            s.flush()
            ctx.report.created("roles")
            if not ctx.legacy:
                ctx.unchanged("role", rec.name, _role_fingerprint(rec))
            ctx.report.created("role_permissions", len(rec.permissions))
        elif (
            not ctx.legacy
            and ctx.unchanged("role", rec.name, _role_fingerprint(rec))
            and ctx.mapped("role", rec.name) == str(row.id)
        ):
            ctx.report.skipped("roles")  # as the last import read it: labtui's edits since stand
            ctx.report.skipped("role_permissions", len(rec.permissions))
        else:
            _update_role(ctx, row, rec)
        existing[rec.name] = row
        ctx.roles[rec.name] = row.id
        ctx.remember("role", rec.name, row.id)


def _role_fingerprint(rec: RoleRec) -> dict[str, object]:
    return {"description": rec.description, "permissions": sorted(rec.permissions)}


def _update_role(ctx: Context, row: Role, rec: RoleRec) -> None:
    have = {p.codename for p in row.permissions}
    want = set(rec.permissions)
    if have == want and row.description == rec.description:
        ctx.report.skipped("roles")
        ctx.report.skipped("role_permissions", len(want))
        return
    mine = ctx.mapped("role", rec.name) == str(row.id)
    if ctx.legacy or not (mine or ctx.overwrite):
        ctx.report.warn(
            f"roles: '{rec.name}' exists in labtui with other permissions: labtui's kept (--overwrite replaces them)"
        )
        ctx.report.skipped("roles")
        ctx.report.skipped("role_permissions", len(want))
        return
    row.description = rec.description[:255]
    row.permissions = _permission_rows(ctx, sorted(want))
    ctx.report.updated("roles")
    ctx.report.created("role_permissions", len(want - have))
    ctx.report.skipped("role_permissions", len(want & have))


def apply_users(ctx: Context) -> None:
    assert ctx.snap is not None
    s = ctx.session
    existing = {u.username: u for u in s.scalars(select(User))}
    folded = {name.lower(): u for name, u in existing.items()}
    ctx.users.update({name: u.id for name, u in existing.items()})
    created: list[tuple[User, UserRec]] = []
    for rec in ctx.snap.users:
        ctx.at("users", repr(rec.username))
        if not ctx.claim("users", rec.username):
            ctx.report.skipped("users")
            continue
        try:
            name = validation.username(rec.username)
        except ValidationError as exc:
            ctx.report.warn(f"users: '{rec.username}' skipped: {exc}")
            ctx.report.skipped("users")
            continue
        email = _email(ctx, rec)
        row = existing.get(name) or folded.get(name.lower())
        if row is None:
            if email and _email_taken(s, email, None):
                ctx.report.warn(f"users: '{name}' imported without email: {email} belongs to another labtui account")
                email = None
            row = User(
                username=name,
                email=email,
                display_name=rec.display_name,
                password_hash=rec.password_hash,
                is_active=rec.is_active,
                created_at=rec.created_at or ctx.now,
                updated_at=ctx.now,
                last_login_at=rec.last_login_at,
                invite_accepted_at=rec.invite_accepted_at,
                ssh_public_key=rec.ssh_public_key,
            )
            s.add(row)
            s.flush()
            created.append((row, rec))
            ctx.report.created("users")
            if not ctx.legacy:
                ctx.unchanged("user", name, _fingerprint(rec))
        elif (
            not ctx.legacy
            and ctx.unchanged("user", name, _fingerprint(rec))
            and ctx.mapped("user", name) == str(row.id)
        ):
            # CloudLab's account is as the last import read it: what labtui did since (a
            # deactivation, an accepted invitation, a role taken away) stands.
            ctx.report.skipped("users")
            ctx.report.skipped("user_roles", len(rec.roles))
            ctx.users[name] = row.id
            continue
        elif not _update_user(ctx, row, rec, email):
            continue
        existing[name] = row
        folded[name.lower()] = row
        ctx.users[name] = row.id
        ctx.remember("user", name, row.id)
        _assign(ctx, row, rec.roles)
    for row, rec in created:
        if rec.invited_by:
            row.invited_by_id = ctx.users.get(rec.invited_by)


#: What of CloudLab's account a re-import applies (a login in CloudLab is no change of it).
_APPLIED = ("password_hash", "is_active", "email", "display_name", "invite_accepted_at", "ssh_public_key", "roles")


def _fingerprint(rec: UserRec) -> dict[str, object]:
    return {k: getattr(rec, k) for k in _APPLIED}


def _email(ctx: Context, rec: UserRec) -> str | None:
    try:
        return validation.email(rec.email)
    except ValidationError:
        ctx.report.warn(f"users: '{rec.username}' imported without email: '{rec.email}' is not an email address")
        return None


def _email_taken(s: Session, email: str, user_id: int | None) -> bool:
    return bool(s.scalar(select(func.count(User.id)).where(User.email == email, User.id != (user_id or -1))))


def _is_bcrypt(hashed: str | None) -> bool:
    return bool(hashed) and hashed.startswith(("$2a$", "$2b$", "$2y$"))  # type: ignore[union-attr]


def _update_user(ctx: Context, row: User, rec: UserRec, email: str | None) -> bool:
    """Update (or skip) the labtui account ``row`` for ``rec``; False if it is a conflict."""
    s = ctx.session
    mine = ctx.mapped("user", row.username) == str(row.id) or (
        rec.password_hash is not None and row.password_hash == rec.password_hash
    )
    if not mine and not ctx.overwrite:
        ctx.report.warn(
            f"users: '{rec.username}' exists in labtui as a different account: skipped (--overwrite replaces it)"
        )
        ctx.report.skipped("users")
        # CloudLab's records by this name (jobs, audit) keep the name but link to no account.
        ctx.users.pop(row.username, None)
        return False
    if ctx.legacy and mine:
        ctx.report.skipped("users")
        return True
    if email and _email_taken(s, email, row.id):
        ctx.report.warn(f"users: '{row.username}': email {email} belongs to another labtui account: not changed")
        email = row.email
    wanted: dict[str, object] = {
        "email": email,
        "display_name": rec.display_name,
        "ssh_public_key": rec.ssh_public_key,
        "is_active": rec.is_active,
    }
    if not mine:  # --overwrite: CloudLab's account replaces labtui's, password and sessions included
        wanted["password_hash"] = rec.password_hash
        s.execute(
            update(AuthSession)
            .where(AuthSession.user_id == row.id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=ctx.now)
        )
        ctx.report.warn(
            f"users: '{row.username}' replaced by CloudLab's account (--overwrite); its sessions were ended"
        )
    elif (
        rec.password_hash
        and rec.password_hash != row.password_hash
        and (row.password_hash is None or _is_bcrypt(row.password_hash))
    ):
        # Changed in CloudLab since the last import and not yet rehashed by a labtui login.
        wanted["password_hash"] = rec.password_hash
    if row.invite_accepted_at is None and rec.invite_accepted_at is not None:
        wanted["invite_accepted_at"] = rec.invite_accepted_at
    changes = {k: v for k, v in wanted.items() if getattr(row, k) != v}
    if not changes:
        ctx.report.skipped("users")
        return True
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_at = ctx.now
    ctx.report.updated("users")
    return True


def _assign(ctx: Context, row: User, roles: list[str]) -> None:
    s = ctx.session
    have = set(s.scalars(select(user_roles.c.role_id).where(user_roles.c.user_id == row.id)))
    for name in roles:
        role_id = ctx.roles.get(name)
        if role_id is None:
            ctx.report.warn(f"user_roles: '{row.username}' not given role '{name}' (the role was not imported)")
            ctx.report.skipped("user_roles")
        elif role_id in have or (ctx.legacy and have):
            ctx.report.skipped("user_roles")
        else:
            s.execute(insert(user_roles).values(user_id=row.id, role_id=role_id))
            have.add(role_id)
            ctx.report.created("user_roles")


_TOKEN_KINDS = {"invite_tokens": INVITE, "password_reset_tokens": RESET}


def _token_unusable(ctx: Context, rec: TokenRec, user: User | None) -> str | None:
    """Why ``rec`` is not imported (None: it is)."""
    if rec.used_at is not None:
        return "used"
    if rec.expires_at <= ctx.now:
        return "expired"
    if user is None:
        return f"'{rec.username}' was not imported"
    if rec.table == "invite_tokens" and (user.password_hash is not None or user.invite_accepted_at is not None):
        # An invitation sets the password of whoever holds it: never for an account in use.
        return f"'{rec.username}' has accepted already"
    if rec.table == "password_reset_tokens" and not user.is_active:
        return f"'{rec.username}' is not active"
    return None


def apply_tokens(ctx: Context) -> None:
    assert ctx.snap is not None
    s = ctx.session
    for rec in ctx.snap.tokens:
        ctx.at(rec.table, rec.ref)
        digest = token_digest(rec.token)
        if (
            not ctx.claim("tokens", digest)
            or s.scalar(select(UserToken.id).where(UserToken.token_hash == digest)) is not None
        ):
            ctx.report.skipped("tokens")  # imported already (and perhaps redeemed since)
            continue
        user_id = ctx.users.get(rec.username)
        user = s.get(User, user_id) if user_id is not None else None
        why = _token_unusable(ctx, rec, user)
        if why is not None:
            ctx.report.skipped("tokens")
            if why not in ("used", "expired"):
                ctx.report.warn(
                    f"tokens: a pending {_TOKEN_KINDS[rec.table]} token not imported ({why}): send a new one"
                )
            continue
        assert user is not None
        s.add(
            UserToken(
                user_id=user.id,
                kind=_TOKEN_KINDS[rec.table],
                token_hash=digest,
                created_at=ctx.now,
                expires_at=rec.expires_at,
            )
        )
        ctx.report.created("tokens")
