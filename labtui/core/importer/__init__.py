"""Importing a CloudLab installation: its legacy ``database.json`` and its ``cloudlab.db``.

:func:`import_cloudlab` (``labtui import-cloudlab``) and :func:`auto_import` (startup, when
``cloudlab.data_dir`` is set and labtui's database is empty) read the sources
(:mod:`.json_source`, :mod:`.sqlite_source`) into records (:mod:`.records`) and apply them
(:mod:`.apply_accounts`, :mod:`.apply_inventory`, :mod:`.apply_history`) in one
transaction (:mod:`.run`), reporting per-table counts (:mod:`.report`).
"""

from __future__ import annotations

from labtui.core.importer.report import ImportFailed, ImportReport
from labtui.core.importer.run import ImportRequest, auto_import, import_cloudlab

__all__ = ["ImportFailed", "ImportReport", "ImportRequest", "auto_import", "import_cloudlab"]
