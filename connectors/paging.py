"""The one paginator: every paging loop of the connectors asks the same two questions.

A page is fetched with a token (``None`` for the first page); the page says whether there is
more and, if so, the next token (``next_token`` returns ``None`` for "no more"). Paging never
stops on a page's size (case C-01). A token that comes back a second time (or, for keyset
paging, one that does not move forward) is an error, never an endless loop.

Used by the HubSpot cursor and keyset loops (``connectors/hubspot``), the Salesforce REST
``nextRecordsUrl`` loop and the Bulk API 2.0 ``Sforce-Locator`` loop (``connectors/salesforce``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from typing import Any, TypeVar

from connectors.errors import FatalAPIError

P = TypeVar("P")
K = TypeVar("K", bound=Hashable)


def paginate(
    fetch: Callable[[K | None], P],
    next_token: Callable[[P], K | None],
    what: str,
    *,
    token_name: str = "paging token",
    increasing: bool = False,
) -> Iterator[P]:
    """Yield every page, first to last.

    Each page is yielded before its next token is asked for, so what a page holds is handed on
    even when the page after it cannot be reached.

    Args:
        fetch: token -> page (``None``: the first page). Retries belong inside it.
        next_token: page -> the next page's token, or ``None`` when there is no more. It may
            raise for a page that contradicts itself (``done: false`` without a next URL).
        what: what is paged, for the error (``HubSpot owners``, ``salesforce query deals``).
        token_name: what the token is called by the API (``nextRecordsUrl``, ``after``).
        increasing: keyset paging: each token must be greater than the one before.

    Raises:
        FatalAPIError: a token came back a second time (or did not increase): the API is
            sending the same page again, and following it would loop forever.
    """
    token: K | None = None
    seen: set[K] = set()
    while True:
        page = fetch(token)
        yield page
        following = next_token(page)
        if following is None:
            return
        if following in seen or (increasing and token is not None and not _after(following, token)):
            msg = f"{what}: {token_name} {following!r} repeated; stopping rather than looping"
            raise FatalAPIError(msg)
        seen.add(following)
        token = following


def _after(new: Any, old: Any) -> bool:
    return bool(new > old)
