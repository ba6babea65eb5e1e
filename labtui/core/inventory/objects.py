"""Inventory objects: create, read, list, edit, delete and reveal, each through the access order.

Values are checked by field type on every save (CloudLab checked only ``required`` and
``unique``), and every message names the field. ``readonly`` fields are ignored on update,
as in CloudLab. ``secret`` fields are stored apart from the other values and leave core only
through :meth:`Inventory.reveal`, which needs ``edit`` on the object and is audited; lists,
details, search text and audit detail never carry them.

Listing (:meth:`Inventory.list`) filters in SQL: the type, each search term
(``search_text LIKE``), each ``tag:NAME`` and the access order itself
(:func:`labtui.core.inventory.access.visible_clause`), newest first, paged by keyset on the
id. So a page holds only objects the user may view, every page costs what the first does,
and :meth:`Inventory.count` counts what the user may see, never the unfiltered total.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import ColumnElement, Select, and_, func, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from labtui.core import audit
from labtui.core.actor import Actor
from labtui.core.db.base import utcnow
from labtui.core.db.engine import Database
from labtui.core.db.fts import INVENTORY_FTS, match_phrase, matches_at_most
from labtui.core.db.inventory import InventoryObject, InventoryTag, ObjectTag, open_secrets, seal_secrets
from labtui.core.db.models import InventoryType
from labtui.core.errors import Conflict, NotFound, ValidationError
from labtui.core.inventory import access
from labtui.core.inventory.acl import Acl
from labtui.core.inventory.tags import TagRef, Tags, tag_name, tags_of
from labtui.core.inventory.types import FieldDef, InventoryTypeDef
from labtui.core.inventory.values import prepare_create, prepare_update, search_text
from labtui.core.rbac import Rbac

if TYPE_CHECKING:
    from labtui.core.runtime import Core

PAGE = 100
MAX_PAGE = 1000
#: Text terms matching fewer objects than this are looked up in the trigram index.
INDEXED_TEXT_CAP = 500


def _secret_duplicate(session: Session, type_id: int, name: str, value: Any, exclude_id: int | None) -> int | None:
    """:func:`find_duplicate` for a secret field: sealed values differ even when equal, so
    the type's objects that have the field are opened and compared (secret unique fields
    are rare, and the scan reads only that type's objects with the field set)."""
    stmt = select(InventoryObject.id, InventoryObject.secrets).where(
        InventoryObject.type_id == type_id, InventoryObject.secrets.contains(json.dumps(name) + ":", autoescape=True)
    )
    for object_id, stored in session.execute(stmt):
        if object_id != exclude_id and open_secrets(session, stored).get(name) == value:
            return int(object_id)
    return None


def _json_path(name: str) -> str:
    return f'$."{name}"'


def find_duplicate(
    session: Session, type_id: int, f: FieldDef, value: Any, exclude_id: int | None = None
) -> int | None:
    """The id of another object of the type with ``value`` in unique field ``f``."""
    if f.type == "secret":
        return _secret_duplicate(session, type_id, f.name, value, exclude_id)
    column = InventoryObject.data
    if session.get_bind().dialect.name == "sqlite":
        extracted: ColumnElement[Any] = func.json_extract(column, _json_path(f.name))
        probe: Any = value
    else:  # PostgreSQL: compare the JSON text of the value
        from sqlalchemy import cast
        from sqlalchemy.dialects.postgresql import JSONB

        extracted = cast(column, JSONB)[f.name]
        probe = cast(json.dumps(value), JSONB)
    stmt = select(InventoryObject.id).where(InventoryObject.type_id == type_id, extracted == probe).limit(1)
    if exclude_id is not None:
        stmt = stmt.where(InventoryObject.id != exclude_id)
    return session.scalar(stmt)


def check_unique(
    session: Session, type_id: int, type_def: InventoryTypeDef, values: Mapping[str, Any], exclude_id: int | None = None
) -> None:
    for f in type_def.fields:
        if (
            f.unique
            and f.name in values
            and find_duplicate(session, type_id, f, values[f.name], exclude_id) is not None
        ):
            raise Conflict(f"Duplicate value for unique field: {f.name}")


# -- search ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Search:
    """A parsed filter: words (each must appear in the search text) and ``tag:NAME`` terms."""

    terms: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str, tags: Sequence[str] = ()) -> Search:
        """``web eu tag:prod tag:"my tag"``; quotes group words (a bad quote is taken literally)."""
        try:
            words = shlex.split(text or "")
        except ValueError:
            words = (text or "").split()
        terms: list[str] = []
        tag_names = [tag_name(t) for t in tags]
        for word in words:
            if word.lower().startswith("tag:") and len(word) > 4:
                tag_names.append(tag_name(word[4:]))
            elif word.strip():
                terms.append(word.lower())
        return cls(tuple(terms), tuple(dict.fromkeys(tag_names)))


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# -- what callers get --------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectInfo:
    id: int
    type: str
    type_label: str
    #: The type's file is gone from the lab: the object is kept, read-only, flagged.
    type_removed: bool
    title: str
    #: Field values, secret fields left out.
    data: dict[str, Any]
    #: Secret field -> whether a value is set.
    secrets: dict[str, bool]
    tags: tuple[TagRef, ...]
    #: Its sync source no longer reports it.
    stale: bool
    source: str | None
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "type_label": self.type_label,
            "type_removed": self.type_removed,
            "title": self.title,
            "data": self.data,
            "secrets": self.secrets,
            "tags": [t.as_json() for t in self.tags],
            "stale": self.stale,
            "source": self.source,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class ObjectPage:
    items: list[ObjectInfo]
    #: Pass as ``before_id`` for the next (older) page; None on the last page.
    next_before: int | None


@dataclass(frozen=True)
class _TypeRow:
    id: int
    slug: str
    label: str
    removed: bool


class _Listing(NamedTuple):
    """A listing's statement before its order and page, the column that orders and pages it
    (the object id, or the id in a tag's index the query is walked by), and the types."""

    stmt: Select[Any]
    key: ColumnElement[int] | InstrumentedAttribute[int]
    rows: dict[int, _TypeRow]


def _title(type_def: InventoryTypeDef | None, data: Mapping[str, Any], object_id: int) -> str:
    if type_def is not None:
        fields = [
            f for f in type_def.fields if f.type in ("string", "enum", "integer") and data.get(f.name) not in (None, "")
        ]
        first = next((f for f in fields if f.required), None) or (fields[0] if fields else None)
        if first is not None:
            return str(data[first.name])
    for value in data.values():
        if isinstance(value, str) and value:
            return value
    return f"#{object_id}"


def _info(row: InventoryObject, t: _TypeRow, type_def: InventoryTypeDef | None, tags: list[TagRef]) -> ObjectInfo:
    data = json.loads(row.data or "{}")
    stored_secrets = json.loads(row.secrets or "{}")
    if type_def is not None:
        secret_fields = [f.name for f in type_def.fields if f.type == "secret"]
        for name in secret_fields:  # a field that became secret keeps no readable old value
            data.pop(name, None)
        secrets = {name: name in stored_secrets for name in secret_fields}
    else:
        secrets = {name: True for name in stored_secrets}
    return ObjectInfo(
        id=row.id,
        type=t.slug,
        type_label=t.label,
        type_removed=t.removed or type_def is None,
        title=_title(type_def, data, row.id),
        data=data,
        secrets=secrets,
        tags=tuple(tags),
        stale=bool(row.stale),
        source=row.source,
        created_by=row.created_by or "",
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _types(session: Session) -> dict[int, _TypeRow]:
    return {
        r.id: _TypeRow(r.id, r.slug, r.label, bool(r.removed))
        for r in session.execute(
            select(InventoryType.id, InventoryType.slug, InventoryType.label, InventoryType.removed)
        )
    }


# -- the service -------------------------------------------------------------------------------


class Inventory:
    """Objects, tags (:attr:`tags`), ACLs (:attr:`acl`) and sync, every call checked in core."""

    def __init__(self, db: Database, rbac: Rbac, types: Callable[[], Mapping[str, InventoryTypeDef]]) -> None:
        self.db, self.rbac = db, rbac
        self._types = types
        self.tags = Tags(db, rbac)
        self.acl = Acl(db, rbac)
        self._core: Core | None = None

    @classmethod
    def for_core(cls, core: Core) -> Inventory:
        """The inventory of a :class:`Core`; hooks the credential/deployment sync to job ends."""
        from labtui.core.inventory import adapters

        inv = cls(core.db, core.rbac, lambda: core.inventory_types)
        inv._core = core
        core.jobs.on_finished.append(lambda job: adapters.on_job_finished(core, job))
        return inv

    @property
    def types(self) -> Mapping[str, InventoryTypeDef]:
        """The lab's loaded types by slug."""
        return self._types()

    def type_def(self, slug: str) -> InventoryTypeDef | None:
        return self._types().get(slug)

    # -- reading -------------------------------------------------------------------------------

    def _filtered(self, s: Session, actor: Actor, type_slug: str | None, search: Search) -> _Listing | None:
        """The listing's WHERE clauses on a bare ``select``; None when nothing can match."""
        p = access.principal(s, self.rbac, actor)
        rows = _types(s)
        by_slug = {t.slug: t for t in rows.values()}
        stmt: Select[Any] = select(InventoryObject)
        key: ColumnElement[int] | InstrumentedAttribute[int] = InventoryObject.id
        if type_slug is not None:
            t = by_slug.get(type_slug)
            if t is None:
                raise NotFound(f"No inventory type '{type_slug}'")
            if not access.may_use_type(s, p, t.slug, t.id, "view"):
                access.refuse(self.db, actor, t.slug, "view", f"inventory/{t.slug}", hide=False)
            stmt = stmt.where(InventoryObject.type_id == t.id)
        indexed = False
        if search.terms:
            clause, indexed = self._text_clause(s, search.terms)
            stmt = stmt.where(clause)
        for name in search.tags:
            tag_id = s.scalar(select(InventoryTag.id).where(InventoryTag.name == name))
            if tag_id is None:
                return None
            if key is InventoryObject.id and not indexed:
                # Walked newest first in the tag's own index (the key orders and pages by it):
                # a page of matches is met early and never sorted. As an id IN (...) SQLite
                # looked up every tagged object and sorted the matches (server type, a tag
                # and a common word: 5.7 -> 3.0 ms).
                walked = aliased(ObjectTag, name="walked_tag")  # other tag subqueries stay uncorrelated
                stmt = stmt.join(walked, and_(walked.object_id == InventoryObject.id, walked.tag_id == tag_id))
                key = walked.object_id
            else:
                stmt = stmt.where(InventoryObject.id.in_(select(ObjectTag.object_id).where(ObjectTag.tag_id == tag_id)))
        visible = access.visible_clause(s, p, "view", {t.slug: t.id for t in rows.values()})
        if visible is not None:
            stmt = stmt.where(visible)
        return _Listing(stmt, key, rows)

    def _text_clause(self, s: Session, terms: tuple[str, ...]) -> tuple[ColumnElement[bool], bool]:
        """Every term in the search text, and whether the trigram index answers it. Through
        the index when the terms are rare (a LIKE scan finds nothing early then and reads all
        100,000 texts: 16-25 ms); a LIKE scan when they are common (it meets a page of
        matches within the first rows)."""
        if self.db.is_sqlite and all(len(term) >= 3 for term in terms):  # trigrams need 3
            query = " AND ".join(match_phrase(term) for term in terms)
            if matches_at_most(s, INVENTORY_FTS, query, INDEXED_TEXT_CAP):
                rowids = text(f"SELECT rowid FROM {INVENTORY_FTS} WHERE {INVENTORY_FTS} MATCH :q").bindparams(q=query)
                return InventoryObject.id.in_(rowids), True
        return and_(*(InventoryObject.search_text.like(_like(term), escape="\\") for term in terms)), False

    def list_sync(
        self,
        s: Session,
        actor: Actor,
        *,
        type: str | None = None,
        search: str = "",
        tags: Sequence[str] = (),
        before_id: int | None = None,
        limit: int = PAGE,
    ) -> ObjectPage:
        """:meth:`list` on the caller's session (benchmarks, tests)."""
        limit = max(1, min(limit, MAX_PAGE))
        listing = self._filtered(s, actor, type, Search.parse(search, tags))
        if listing is None:
            return ObjectPage([], None)
        stmt, key, rows = listing
        if before_id is not None:
            stmt = stmt.where(key < before_id)
        found = list(s.scalars(stmt.order_by(key.desc()).limit(limit + 1)))
        more = len(found) > limit
        found = found[:limit]
        tag_map = tags_of(s, [o.id for o in found])
        defs = self._types()
        items = [_info(o, rows[o.type_id], defs.get(rows[o.type_id].slug), tag_map[o.id]) for o in found]
        return ObjectPage(items, found[-1].id if more and found else None)

    async def list(
        self,
        actor: Actor,
        *,
        type: str | None = None,
        search: str = "",
        tags: Sequence[str] = (),
        before_id: int | None = None,
        limit: int = PAGE,
    ) -> ObjectPage:
        """Objects the actor may view, newest first: of one type (refused if the actor may view
        none of that type) or of all; ``search`` words and ``tag:NAME`` terms and ``tags`` all
        have to match. Page on with ``before_id=page.next_before``."""
        return await self.db.run(
            lambda s: self.list_sync(s, actor, type=type, search=search, tags=tags, before_id=before_id, limit=limit)
        )

    async def count(self, actor: Actor, *, type: str | None = None, search: str = "", tags: Sequence[str] = ()) -> int:
        """How many objects :meth:`list` would show over all its pages (never more)."""

        def q(s: Session) -> int:
            listing = self._filtered(s, actor, type, Search.parse(search, tags))
            if listing is None:
                return 0
            return s.scalar(listing.stmt.with_only_columns(func.count(InventoryObject.id)).order_by(None)) or 0

        return await self.db.run(q)

    async def counts_by_type(self, actor: Actor) -> dict[str, int]:
        """Slug -> objects of that type the actor may view (the inventory sidebar)."""

        def q(s: Session) -> dict[str, int]:
            p = access.principal(s, self.rbac, actor)
            rows = _types(s)
            stmt = select(InventoryObject.type_id, func.count()).group_by(InventoryObject.type_id)
            clause = access.visible_clause(s, p, "view", {t.slug: t.id for t in rows.values()})
            if clause is not None:
                stmt = stmt.where(clause)
            counts = dict(s.execute(stmt).all())
            return {t.slug: counts.get(t.id, 0) for t in rows.values()}

        return await self.db.run(q)

    def _one(self, s: Session, obj: InventoryObject, slug: str) -> ObjectInfo:
        t = _types(s)[obj.type_id]
        return _info(obj, t, self.type_def(slug), tags_of(s, [obj.id])[obj.id])

    async def get(self, actor: Actor, object_id: int) -> ObjectInfo:
        """One object (``view``); :class:`NotFound` if missing or not viewable (audited)."""

        def q(s: Session) -> ObjectInfo:
            p = access.principal(s, self.rbac, actor)
            obj, slug = access.require(s, self.db, actor, p, object_id, "view")
            return self._one(s, obj, slug)

        return await self.db.run(q)

    async def allowed(self, actor: Actor, object_id: int, suffix: str) -> bool:
        """Whether the actor may ``suffix`` the object (for enabling keys; not audited)."""
        return await self.db.run(lambda s: access.check(s, access.principal(s, self.rbac, actor), object_id, suffix))

    async def allowed_many(self, actor: Actor, object_ids: Sequence[int], suffix: str) -> set[int]:
        """The ids the actor may ``suffix``, evaluated in batches."""

        def q(s: Session) -> set[int]:
            p = access.principal(s, self.rbac, actor)
            slugs: dict[int, str] = {}
            for ids in access._chunks(list(object_ids)):
                slugs.update(
                    s.execute(
                        select(InventoryObject.id, InventoryType.slug)
                        .join(InventoryType, InventoryType.id == InventoryObject.type_id)
                        .where(InventoryObject.id.in_(ids))
                    ).all()
                )
            return access.evaluate(s, p, slugs, suffix)

        return await self.db.run(q)

    # -- changing ------------------------------------------------------------------------------

    def _loaded(self, slug: str, s: Session) -> InventoryTypeDef:
        type_def = self.type_def(slug)
        if type_def is not None:
            return type_def
        if s.scalar(select(InventoryType.id).where(InventoryType.slug == slug)) is not None:
            raise ValidationError(
                f"Type '{slug}' is no longer defined by the lab: its objects are kept read-only", "type"
            )
        raise NotFound(f"No inventory type '{slug}'")

    async def create(
        self, actor: Actor, type: str, values: Mapping[str, Any], *, tags: Sequence[str] = ()
    ) -> ObjectInfo:
        """A new object of ``type`` (``inventory.<type>.create``), optionally tagged."""
        tag_names = [tag_name(t) for t in tags]

        def q(s: Session) -> ObjectInfo:
            type_def = self._loaded(type, s)
            self.rbac.require(s, actor, type_def.permission("create"), f"inventory/{type}")
            data, secrets = prepare_create(type_def, values)
            type_id = s.scalar(select(InventoryType.id).where(InventoryType.slug == type))
            assert type_id is not None
            check_unique(s, type_id, type_def, {**data, **secrets})
            tag_rows = []
            for name in tag_names:
                tag = s.scalar(select(InventoryTag).where(InventoryTag.name == name))
                if tag is None:
                    raise NotFound(f"No tag named '{name}'")
                tag_rows.append(tag)
            now = utcnow()
            obj = InventoryObject(
                type_id=type_id,
                data=json.dumps(data),
                secrets=seal_secrets(s, secrets),
                search_text=search_text(type_def, data),
                created_by=actor.username,
                created_at=now,
                updated_at=now,
            )
            s.add(obj)
            s.flush()
            for tag in tag_rows:
                s.add(ObjectTag(object_id=obj.id, tag_id=tag.id))
            audit.record(
                s,
                actor,
                "inventory.object.create",
                f"inventory/{type}/{obj.id}",
                {"fields": data, "write_only": sorted(secrets), "tags": tag_names},
            )
            s.flush()
            return self._one(s, obj, type)

        return await self.db.run(q)

    async def update(self, actor: Actor, object_id: int, changes: Mapping[str, Any]) -> ObjectInfo:
        """Change some fields (``edit``); a blank value clears a field; read-only ones are ignored."""

        def q(s: Session) -> ObjectInfo:
            p = access.principal(s, self.rbac, actor)
            obj, slug = access.require(s, self.db, actor, p, object_id, "edit")
            type_def = self._loaded(slug, s)
            result = prepare_update(type_def, json.loads(obj.data or "{}"), open_secrets(s, obj.secrets), changes)
            if not result.changed and not result.secrets_changed:
                return self._one(s, obj, slug)
            check_unique(
                s,
                obj.type_id,
                type_def,
                {
                    k: v
                    for k, v in {**result.changed, **{n: result.secrets.get(n) for n in result.secrets_changed}}.items()
                    if v is not None
                },
                exclude_id=obj.id,
            )
            obj.data = json.dumps(result.data)
            if result.secrets_changed:  # sealing again would only churn the column
                obj.secrets = seal_secrets(s, result.secrets)
            obj.search_text = search_text(type_def, result.data)
            obj.updated_at = utcnow()
            audit.record(
                s,
                actor,
                "inventory.object.update",
                f"inventory/{slug}/{object_id}",
                {
                    "changed": result.changed,
                    "write_only": sorted(result.secrets_changed),
                    "ignored_readonly": sorted(result.ignored),
                },
            )
            s.flush()
            return self._one(s, obj, slug)

        return await self.db.run(q)

    async def delete(self, actor: Actor, object_id: int) -> None:
        """Delete an object (``delete``); its tags links and ACL entries go with it."""

        def q(s: Session) -> None:
            p = access.principal(s, self.rbac, actor)
            obj, slug = access.require(s, self.db, actor, p, object_id, "delete")
            info = self._one(s, obj, slug)
            audit.record(
                s,
                actor,
                "inventory.object.delete",
                f"inventory/{slug}/{object_id}",
                {"title": info.title, "stale": info.stale},
            )
            s.delete(obj)

        await self.db.run(q)

    async def reveal(self, actor: Actor, object_id: int, field: str) -> str | None:
        """A secret field's value (``edit`` on the object: whoever may replace it may read it).
        Audited with the field's name, never its value."""

        def q(s: Session) -> str | None:
            p = access.principal(s, self.rbac, actor)
            obj, slug = access.require(s, self.db, actor, p, object_id, "edit")
            type_def = self.type_def(slug)
            f = type_def.field(field) if type_def is not None else None
            secrets = json.loads(obj.secrets or "{}")  # names only until the check and audit pass
            if (f is not None and f.type != "secret") or (f is None and field not in secrets):
                raise ValidationError(f"Field '{field}' is not a secret field of type '{slug}'", field)
            audit.record(s, actor, "inventory.secret.reveal", f"inventory/{slug}/{object_id}", {"field": field})
            value = open_secrets(s, obj.secrets).get(field)
            return None if value is None else str(value)

        return await self.db.run(q)

    # -- upkeep --------------------------------------------------------------------------------

    async def reindex(self, slug: str) -> int:
        """Recompute ``search_text`` of a type's objects (after its searchable fields changed)."""
        type_def = self.type_def(slug)

        def q(s: Session) -> int:
            type_id = s.scalar(select(InventoryType.id).where(InventoryType.slug == slug))
            if type_id is None:
                return 0
            n = 0
            for obj in s.scalars(select(InventoryObject).where(InventoryObject.type_id == type_id)):
                text = search_text(type_def, json.loads(obj.data or "{}"))
                if text != obj.search_text:
                    obj.search_text = text
                    n += 1
            return n

        return await self.db.run(q)

    async def sync(self, actor: Actor, source: str | None = None) -> builtins.list[tuple[str, str, dict[str, int]]]:
        """Run one sync source (or every source the loaded types name) now, as ``actor``;
        each needs ``inventory.<type>.edit``. Returns (source, type, counts) per run."""
        from labtui.core.sync import run_on_demand

        if self._core is None:
            raise RuntimeError("Inventory.sync needs the inventory of a Core (Inventory.for_core)")
        return await run_on_demand(self._core, actor, source)


__all__ = ["Inventory", "ObjectInfo", "ObjectPage", "Search"]
