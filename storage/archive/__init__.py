"""The meter archive (档案): who and where each meter is (account, asset, kind, transformer,
building, household, dates) and its exchanges (换表), kept in ``<data-dir>/archive.sqlite``.

Read it with ``storage.archive.store.load_archive(path)`` (frozen ``ArchiveMeter`` records,
``storage/archive/records.py``) or an ``ArchiveStore``; ``exchanges_for`` and
``records.consumption_across`` bridge a period an exchange falls in. What is built and what is
still to come (spreadsheet import, CLI, API, the engine reading meters from it): docs/archive.md.
"""
