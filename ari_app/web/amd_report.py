"""The AMD accuracy report over a period: ``GET /api/v1/reports/amd?from=YYYY-MM-DD&to=YYYY-MM-DD`` (dates
in the business time zone, both included; by default the last 30 days), and the same figures for the
dashboard's report page. The arithmetic is ``domain.amd_accuracy``'s."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.amd_accuracy import MIN_LABELS, AccuracyReport, RouteAccuracy, accuracy_report
from ..errors import ValidationFailed
from ..settings import Settings
from ..store.amd_reads import labelled_calls
from .keys import SERVICES

DEFAULT_DAYS = 30
MAX_DAYS = 3660


@dataclass(frozen=True)
class Period:
    first: date  # both days included, in the business time zone
    last: date

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        start = datetime.combine(self.first, datetime.min.time(), tzinfo=tz)
        end = datetime.combine(self.last + timedelta(days=1), datetime.min.time(), tzinfo=tz)
        return start, end


def _date(raw: str | None, name: str) -> date | None:
    if raw is None:
        return None
    try:
        value = date.fromisoformat(raw) if len(raw) == 10 and raw.isascii() else None
    except ValueError:
        value = None
    if value is None or not 2000 <= value.year <= 9998:
        raise ValidationFailed(
            f"invalid query parameter {name}",
            fields={name: {"code": "date", "message": "a date as YYYY-MM-DD, from year 2000"}},
        )
    return value


def parse_period(query: Any, today: date) -> Period:
    """``from`` and ``to`` (either may be left out); a clear 422 for a bad or reversed period."""
    last = _date(query.get("to"), "to") or today
    first = _date(query.get("from"), "from") or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ValidationFailed(
            "the period ends before it starts",
            fields={"from": {"code": "out_of_range", "message": "on or before to"}},
        )
    if (last - first).days >= MAX_DAYS:
        raise ValidationFailed(
            "the period is too long",
            fields={"from": {"code": "out_of_range", "message": f"at most {MAX_DAYS} days before to"}},
        )
    return Period(first, last)


async def amd_accuracy(session: AsyncSession, settings: Settings, period: Period) -> AccuracyReport:
    since, until = period.bounds(ZoneInfo(settings.business.timezone))
    calls = await labelled_calls(session, since, until, notsure=settings.calls.amd_notsure)
    return accuracy_report(calls)


def _route_json(r: RouteAccuracy) -> dict[str, Any]:
    return asdict(r)


def report_json(report: AccuracyReport, period: Period) -> dict[str, Any]:
    return {
        "from": period.first.isoformat(),
        "to": period.last.isoformat(),
        "min_labels": MIN_LABELS,
        "routes": [_route_json(r) for r in report.routes],
        "total": _route_json(report.total) if report.total is not None else None,
    }


async def get_amd_report(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    today = services.clock.now().astimezone(ZoneInfo(services.settings.business.timezone)).date()
    period = parse_period(request.query, today)
    async with services.sessions() as session:
        report = await amd_accuracy(session, services.settings, period)
    return web.json_response(report_json(report, period))
