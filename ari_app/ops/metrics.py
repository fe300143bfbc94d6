"""Prometheus metrics: one registry per runtime, built in the composition root and handed to who updates it.

Counted where things happen: attempts by outcome and talk time (the worker's ``on_outcome``), HTTP
requests (a web middleware). Read when scraped: live calls and the ARI socket (from the worker and its
connection), SMS by status and the scheduled queue (from the database, in ``refresh``). Call set-up time
needs the legs' answer times, which live in the database: finished attempts are remembered and their
set-up times observed at the next scrape. AMD's accuracy over the last 30 days (docs/amd.md) is read from
the database at each scrape too: one query over the answered attempts of the window.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ..domain.amd_accuracy import MIN_LABELS, AccuracyReport, accuracy_report
from ..domain.attempts import AttemptResult
from ..domain.statuses import AttemptStatus, SmsStatus
from ..store.amd_reads import labelled_calls
from ..store.models import Attempt, Leg, SmsOutbox

log = logging.getLogger(__name__)

# Seconds from the attempt's start until a leg answered: an admin picks up in a few seconds, a lead after
# the admin accepted and their own phone rang (up to the final attempt's 45 s ring).
SETUP_BUCKETS: Sequence[float] = (1, 2, 3, 5, 8, 10, 15, 20, 30, 45, 60, 90)
# Talk time of bridged calls; `completed` starts at calls.min_talk_seconds (15 s by default).
TALK_BUCKETS: Sequence[float] = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600)
HTTP_BUCKETS: Sequence[float] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
PENDING_SETUP_MAX = 10_000  # finished attempts remembered until the next scrape

IntSource = Callable[[], int]
BoolSource = Callable[[], bool]


class _LiveCollector(Collector):
    """Values read from live objects at scrape time (absent in a process that runs no worker)."""

    def __init__(self) -> None:
        self.active_calls: IntSource | None = None
        self.ari_connected: BoolSource | None = None
        self.ari_reconnects: IntSource | None = None

    def collect(self) -> Iterator[Metric]:
        if self.active_calls is not None:
            yield GaugeMetricFamily(
                "callback_active_calls", "Call attempts in progress in this worker", value=self.active_calls()
            )
        if self.ari_connected is not None:
            yield GaugeMetricFamily(
                "callback_ari_connected",
                "1 while the ARI events WebSocket is connected",
                value=1 if self.ari_connected() else 0,
            )
        if self.ari_reconnects is not None:
            yield CounterMetricFamily(
                "callback_ari_reconnects",
                "Successful reconnects of the ARI events WebSocket",
                value=self.ari_reconnects(),
            )


AMD_WINDOW = timedelta(days=30)  # the AMD figures cover the last 30 days, like the report's default


class _AmdCollector(Collector):
    """The AMD report's figures per carrier route over ``AMD_WINDOW`` (``domain.amd_accuracy``), read from
    the database at scrape time. Ratios only from ``MIN_LABELS`` labels up, as on the report."""

    def __init__(self) -> None:
        self.report: AccuracyReport | None = None

    def collect(self) -> Iterator[Metric]:
        if self.report is None:
            return
        answered = GaugeMetricFamily(
            "callback_amd_answered_calls", "Answered calls AMD judged, last 30 days", labels=["route"]
        )
        labelled = GaugeMetricFamily(
            "callback_amd_labelled_calls",
            "Of them, labelled by an admin, by label (person, machine), last 30 days",
            labels=["route", "label"],
        )
        mistakes = GaugeMetricFamily(
            "callback_amd_mistakes",
            "Labelled calls AMD got wrong: person_as_machine, machine_as_person; last 30 days",
            labels=["route", "kind"],
        )
        ratio = GaugeMetricFamily(
            "callback_amd_mistake_ratio",
            f"Share of the people (or machines) AMD got wrong; absent below {MIN_LABELS} labels",
            labels=["route", "kind"],
        )
        decide = GaugeMetricFamily(
            "callback_amd_decide_seconds",
            "AMD's time to decide (PBX clock), median and p90, last 30 days",
            labels=["route", "quantile"],
        )
        drops = GaugeMetricFamily(
            "callback_amd_drops",
            "Voicemail drops by when they started: before_beep, after_beep; last 30 days",
            labels=["route", "when"],
        )
        for r in self.report.routes:
            answered.add_metric([r.route], r.answered)
            labelled.add_metric([r.route, "person"], r.people)
            labelled.add_metric([r.route, "machine"], r.machines)
            for kind, share in (
                ("person_as_machine", r.person_as_machine),
                ("machine_as_person", r.machine_as_person),
            ):
                mistakes.add_metric([r.route, kind], share.count)
                if share.percent is not None:
                    ratio.add_metric([r.route, kind], share.count / share.base)
            if r.decide_median is not None and r.decide_p90 is not None:
                decide.add_metric([r.route, "0.5"], r.decide_median)
                decide.add_metric([r.route, "0.9"], r.decide_p90)
            drops.add_metric([r.route, "before_beep"], r.drops_early.count)
            drops.add_metric([r.route, "after_beep"], r.drops - r.drops_early.count)
        yield from (answered, labelled, mistakes, ratio, decide, drops)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.attempts = Counter(
            "callback_attempts", "Finished call attempts by outcome", ["outcome"], registry=r
        )
        self.setup_seconds = Histogram(
            "callback_call_setup_seconds",
            "Seconds from an attempt's start until the leg answered, by leg (admin, lead)",
            ["leg"],
            buckets=SETUP_BUCKETS,
            registry=r,
        )
        self.talk_seconds = Histogram(
            "callback_talk_seconds", "Talk time of bridged calls", buckets=TALK_BUCKETS, registry=r
        )
        self.http_requests = Counter(
            "callback_http_requests",
            "HTTP requests by method, route and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_seconds = Histogram(
            "callback_http_request_duration_seconds",
            "Time to answer an HTTP request (wall time)",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.sms = Gauge("callback_sms_messages", "SMS outbox messages by status", ["status"], registry=r)
        self.queue_depth = Gauge(
            "callback_queue_depth",
            "Scheduled attempts not yet claimed: due now, or later",
            ["when"],
            registry=r,
        )
        self.queue_lateness = Gauge(
            "callback_queue_lateness_seconds",
            "How long the oldest due, unclaimed attempt has been waiting (0 when none)",
            registry=r,
        )
        self.scrape_errors = Counter(
            "callback_metrics_refresh_errors", "Scrapes whose database read failed", registry=r
        )
        self._live = _LiveCollector()
        r.register(self._live)
        self._amd = _AmdCollector()
        r.register(self._amd)
        self._pending_setup: deque[int] = deque(maxlen=PENDING_SETUP_MAX)

    # -- fed by the runtime -----------------------------------------------------------------------

    def watch_worker(
        self, *, active_calls: IntSource, ari_connected: BoolSource, ari_reconnects: IntSource
    ) -> None:
        self._live.active_calls = active_calls
        self._live.ari_connected = ari_connected
        self._live.ari_reconnects = ari_reconnects

    def attempt_finished(self, attempt_id: int, result: AttemptResult) -> None:
        """The worker's ``on_outcome``: sync and cheap; set-up times are read at the next scrape."""
        self.attempts.labels(result.outcome.value).inc()
        if result.talk_seconds is not None:
            self.talk_seconds.observe(result.talk_seconds)
        self._pending_setup.append(attempt_id)

    def observe_http(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_seconds.labels(method, route).observe(seconds)

    # -- at scrape time ---------------------------------------------------------------------------

    async def refresh(
        self, sessions: async_sessionmaker[AsyncSession], now: datetime, *, amd_notsure: str = "human"
    ) -> None:
        """Read what lives in the database. A failed read keeps the last values and is counted."""
        try:
            async with sessions() as session:
                await self._observe_setup(session)
                await self._read_sms(session)
                await self._read_queue(session, now)
                calls = await labelled_calls(session, now - AMD_WINDOW, now, notsure=amd_notsure)
                self._amd.report = accuracy_report(calls)
        except SQLAlchemyError as exc:
            self.scrape_errors.inc()
            log.warning("metrics: database read failed: %s", type(exc).__name__)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def _observe_setup(self, session: AsyncSession) -> None:
        ids = list(self._pending_setup)
        self._pending_setup.clear()  # taken now: a failed read loses them rather than counting them twice
        if not ids:
            return
        found = await session.execute(select(Attempt.id, Attempt.started_at).where(Attempt.id.in_(ids)))
        started = {attempt_id: start for attempt_id, start in found.all()}
        rows = await session.execute(
            select(Leg.attempt_id, Leg.role, func.min(Leg.answered_at))
            .where(Leg.attempt_id.in_(ids), Leg.answered_at.is_not(None))
            .group_by(Leg.attempt_id, Leg.role)
        )
        for attempt_id, role, answered in rows.all():
            start = started.get(attempt_id)
            if start is not None and answered is not None:
                self.setup_seconds.labels(role).observe(max(0.0, (answered - start).total_seconds()))

    async def _read_sms(self, session: AsyncSession) -> None:
        found = await session.execute(select(SmsOutbox.status, func.count()).group_by(SmsOutbox.status))
        counts: dict[str, int] = {status: count for status, count in found.all()}
        for status in sorted(set(SmsStatus) | set(counts)):
            self.sms.labels(status).set(counts.get(status, 0))

    async def _read_queue(self, session: AsyncSession, now: datetime) -> None:
        scheduled = Attempt.status == AttemptStatus.SCHEDULED
        due = int(
            await session.scalar(
                select(func.count()).select_from(Attempt).where(scheduled, Attempt.due_at <= now)
            )
            or 0
        )
        later = int(
            await session.scalar(
                select(func.count()).select_from(Attempt).where(scheduled, Attempt.due_at > now)
            )
            or 0
        )
        oldest = await session.scalar(
            select(func.min(Attempt.due_at)).where(scheduled, Attempt.due_at <= now)
        )
        self.queue_depth.labels("due").set(due)
        self.queue_depth.labels("later").set(later)
        self.queue_lateness.set(max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0)
