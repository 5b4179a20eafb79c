"""partnerkpi's connectors: one folder per CRM (pull and push), plus what they share.

A CRM folder turns API responses (or export files) into pages of canonical rows; it never opens
DuckDB. :mod:`connectors.sync` is the one pull loop that commits pages through the store,
:mod:`connectors.writeback` the one push loop; :mod:`connectors.registry` lists the sources.

Case ids in comments and docstrings (``C-01`` ... ``C-19``) are the CRM sync failure cases of
``fixtures/crm-sync-cases.md``.
"""
