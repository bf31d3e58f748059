"""AtsClient.pages over a real socket: Harvest's pagination (https://developers.greenhouse.io/harvest.html
#pagination: follow the RFC 8288 Link header's rel="next", never build page URLs by hand), and the
connection's credentials never sent to another host a next link names.
"""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.connectors.adapters import FetchFailed
from services.connectors.api import AtsClient
from services.connectors.greenhouse import ADAPTER
from tests.notifier.provider_doubles import serving


def _harvest_like(seen: list[str | None]) -> Starlette:
    """Three pages of a list; the last one's next link points at another host."""

    async def listing(request: Request) -> Response:
        seen.append(request.headers.get("authorization"))
        page = int(request.query_params.get("page", "1"))
        if page == 3:
            return JSONResponse([5], headers={"Link": '<https://elsewhere.example/v1/items?page=4>; rel="next"'})
        following = request.url.include_query_params(page=page + 1)
        return JSONResponse([2 * page - 1, 2 * page], headers={"Link": f'<{following}>; rel="next"'})

    async def short(request: Request) -> Response:
        return JSONResponse([1])  # no Link header: the only page

    return Starlette(routes=[Route("/v1/items", listing), Route("/v1/short", short)])


async def test_pages_follow_the_next_links_and_stop_at_another_host() -> None:
    seen: list[str | None] = []
    async with serving(_harvest_like(seen)) as url:
        client = AtsClient(ADAPTER, url, "key", {}, attempts=1)
        got: list[object] = []

        async def read_all() -> None:
            async for page in client.pages("/v1/items", {"per_page": "2"}):
                got.append(page)

        with pytest.raises(FetchFailed) as elsewhere:
            await read_all()
        only = [page async for page in client.pages("/v1/short")]
        await client.close()

    assert got == [[1, 2], [3, 4], [5]]  # every page read, in order, by the links
    assert "another host" in elsewhere.value.reason and not elsewhere.value.retryable
    assert len(seen) == 3 and len(set(seen)) == 1 and seen[0]  # our credentials went to our host only
    assert only == [[1]]
