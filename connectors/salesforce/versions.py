"""API versions (case C-18): the configured ``api_version`` against what the org offers and
what each feature needs, checked right after login, before any data request.

The version is part of every URL. A retired version (7.0-30.0 today) answers 410 to everything
(:class:`~connectors.salesforce.http.VersionRetired`, never retried); a version the org still
serves but older than a feature's first version answers 404 the first time that feature is used.

========  =======  ================================================================
purpose   minimum  why
========  =======  ================================================================
sync      47.0     Bulk API 2.0 query jobs (a window over ``bulk_threshold`` records)
push      42.0     sObject Collections (``PATCH composite/sobjects``)
========  =======  ================================================================

Sources: https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/queries.htm
(Bulk API 2.0 query, 47.0), https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections.htm
(sObject Collections, 42.0), https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_versions.htm
(``GET /services/data/``).
"""

from __future__ import annotations

from collections.abc import Iterable

SETTING = "sources.salesforce.api_version"

#: purpose -> (the first API version it works with, what needs it)
MINIMUM = {
    "sync": ("47.0", "Bulk API 2.0 query jobs"),
    "push": ("42.0", "sObject Collections (composite/sobjects)"),
}


def version_problems(configured: str, offered: list[str], purposes: Iterable[str]) -> list[str]:
    """One line per problem of ``configured`` for ``purposes`` (empty: fine).

    Args:
        configured: ``sources.salesforce.api_version`` (``"60.0"``).
        offered: the versions ``GET /services/data/`` lists, oldest first.
        purposes: ``sync`` and / or ``push``.

    Returns:
        Lines naming the setting, the minimum needed and the newest version the org offers.
    """
    newest = offered[-1] if offered else None
    wants = [(MINIMUM[p][0], p, MINIMUM[p][1]) for p in purposes if p in MINIMUM]
    need = max(wants, key=lambda w: float(w[0]), default=None)
    hint = f"; the newest the org offers is {newest}: set {SETTING} to it" if newest else ""
    if configured not in offered:
        needs = f"; {need[1]} needs {need[0]} or later ({need[2]})" if need else ""
        return [f"salesforce: {SETTING} {configured} is not offered by the org (retired, or "
                f"not yet released){needs}{hint}"]
    return [
        f"salesforce: {SETTING} {configured} is older than {purpose} needs: {minimum} "
        f"({what}){hint}"
        for minimum, purpose, what in wants if float(configured) < float(minimum)
    ]
