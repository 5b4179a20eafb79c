"""The one paginator: more? next token? a repeated token is an error."""

from __future__ import annotations

import pytest

from connectors.errors import FatalAPIError
from connectors.paging import paginate


def _pages(chain: dict[str | None, tuple[str, str | None]]):
    """fetch/next_token over ``token -> (page body, next token)``, recording the fetches."""
    fetched: list[str | None] = []

    def fetch(token: str | None) -> tuple[str, str | None]:
        fetched.append(token)
        return chain[token]

    return fetch, (lambda page: page[1]), fetched


def test_paginate_follows_tokens_until_there_is_no_more() -> None:
    fetch, nxt, fetched = _pages({None: ("a", "t1"), "t1": ("b", "t2"), "t2": ("c", None)})
    assert [p[0] for p in paginate(fetch, nxt, "x")] == ["a", "b", "c"]
    assert fetched == [None, "t1", "t2"]


def test_paginate_repeated_token_is_an_error_after_the_page_is_handed_on() -> None:
    fetch, nxt, fetched = _pages({None: ("a", "t1"), "t1": ("b", "t1")})
    got = []
    with pytest.raises(FatalAPIError, match="^owners: after 't1' repeated; stopping"):
        for page in paginate(fetch, nxt, "owners", token_name="after"):
            got.append(page[0])
    assert got == ["a", "b"]
    assert fetched == [None, "t1"]


def test_paginate_keyset_token_must_increase() -> None:
    chain = {None: ("a", 5), 5: ("b", 9), 9: ("c", 7)}
    with pytest.raises(FatalAPIError, match="keyset id 7 repeated"):
        list(paginate(lambda t: chain[t], lambda p: p[1], "search", token_name="keyset id",
                      increasing=True))


def test_paginate_next_token_may_refuse_a_contradictory_page() -> None:
    def next_token(page: dict[str, object]) -> str | None:
        if page["done"]:
            return None
        msg = "done=false but no next URL"
        raise FatalAPIError(msg)

    with pytest.raises(FatalAPIError, match="done=false"):
        list(paginate(lambda t: {"done": False}, next_token, "query"))
