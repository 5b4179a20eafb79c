"""partnerkpi's connectors: one folder per CRM (pull and push), plus what they share.

A CRM folder turns API responses (or export files) into pages of canonical rows; it never opens
DuckDB. :mod:`connectors.sync` is the one pull loop that commits pages through the store.
"""
