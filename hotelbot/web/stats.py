"""The dashboard's routes: the tenant's numbers now, and over a range of days.

Both responses carry ``X-Cache: HIT`` when the figures came from the cache
and ``X-Cache: MISS`` when they were counted for this request.
"""

from __future__ import annotations

from quart import Blueprint, Response, g, jsonify, request

from hotelbot.services import stats
from hotelbot.web.guards import require_user, runtime

blueprint = Blueprint("stats", __name__)


def _stats_response(result: stats.StatsResult) -> Response:
    response = jsonify(result.body)
    response.headers["X-Cache"] = "HIT" if result.cache_hit else "MISS"
    return response


@blueprint.get("/conversations/stats")
@require_user()
async def dashboard_stats() -> Response:
    result = await stats.dashboard_stats(runtime(), g.principal, request.args.get("hotelUnit"))
    return _stats_response(result)


@blueprint.get("/conversations/stats/range")
@require_user()
async def range_stats() -> Response:
    args = request.args
    result = await stats.range_stats(runtime(), g.principal, args.get("hotelUnit"), args.get("from"), args.get("to"))
    return _stats_response(result)
