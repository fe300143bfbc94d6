"""The HTTP app factory: routes, middlewares and typed state. Handlers live in the modules they name."""

from __future__ import annotations

from collections.abc import Sequence

import jinja2
from aiohttp import web

from ..services import Services
from . import amd_report, api, captcha, dnc_api, export, form, health, media, openapi, sms_hooks, when
from . import metrics as metrics_web
from .auth import auth_middleware
from .dashboard import add_dashboard
from .embed import cors_middleware, embed_js
from .intake import create_callback_request
from .keys import IP_LIMITER, SERVICES, TEMPLATES
from .middlewares import error_middleware, security_headers
from .ratelimit import WindowLimiter

DEFAULT_FRAME_ANCESTORS = ("'self'",)


def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("ari_app.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def add_routes(app: web.Application) -> None:
    r = app.router
    # Public (see public.py for why each needs no token).
    r.add_get("/", form.show_form)
    r.add_post("/request", form.submit_form)
    r.add_get("/form/slots", when.form_slots)
    r.add_get("/static/{name}", form.static_file)
    r.add_get("/embed.js", embed_js)
    r.add_get("/healthz", health.healthz)
    r.add_get("/readyz", health.readyz)
    r.add_get("/metrics", metrics_web.metrics_page)  # loopback or token, or open by setting
    r.add_get("/hooks/kannel/inbound", sms_hooks.kannel_inbound)
    r.add_post("/hooks/kannel/inbound", sms_hooks.kannel_inbound)
    r.add_get("/hooks/kannel/dlr", sms_hooks.kannel_dlr)
    r.add_post("/hooks/twilio/inbound", sms_hooks.twilio_inbound)
    r.add_post("/hooks/twilio/status", sms_hooks.twilio_status)
    r.add_post("/hooks/webhook/inbound", sms_hooks.webhook_inbound)
    r.add_post("/hooks/webhook/dlr", sms_hooks.webhook_dlr)
    r.add_get("/media/{tail:.+}", media.media_file)
    # Bearer token.
    r.add_get("/api/v1/openapi.json", openapi.openapi_json)
    r.add_post("/api/v1/callback-requests", create_callback_request)
    r.add_get("/api/v1/callback-requests", api.list_callback_requests)
    r.add_get("/api/v1/callback-requests/{id}", api.get_callback_request)
    r.add_post("/api/v1/callback-requests/{id}/close", api.close_callback_request)
    r.add_get("/api/v1/contacts/{id}", api.get_contact)
    r.add_post("/api/v1/contacts/{id}/opt-out", api.opt_out_contact)
    r.add_get("/api/v1/contacts.csv", export.contacts_csv)
    r.add_post("/api/v1/attempts/{id}/label", api.label_attempt)
    r.add_get("/api/v1/reports/amd", amd_report.get_amd_report)
    r.add_get("/api/v1/dnc", dnc_api.list_dnc)
    r.add_post("/api/v1/dnc", dnc_api.add_dnc)
    r.add_post("/api/v1/dnc/import", dnc_api.import_dnc)
    r.add_delete(r"/api/v1/dnc/{phone:\+?[0-9]{1,20}}", dnc_api.remove_dnc)


def create_web_app(services: Services, *, frame_ancestors: Sequence[str] | None = None) -> web.Application:
    """The web app over ``services``; ``frame_ancestors``: who may embed the form page in a frame."""
    settings = services.settings
    if frame_ancestors is None:
        frame_ancestors = settings.web.frame_ancestors or DEFAULT_FRAME_ANCESTORS
    app = web.Application(
        client_max_size=settings.web.max_body_bytes,
        middlewares=[cors_middleware, error_middleware, auth_middleware],
    )
    app[SERVICES] = services
    app[TEMPLATES] = _templates()
    app[IP_LIMITER] = WindowLimiter(settings.limits.per_ip_per_minute, 60.0)
    app.on_response_prepare.append(security_headers(frame_ancestors))
    app.cleanup_ctx.append(captcha.http_client)
    add_routes(app)
    metrics_web.install(app, services)  # the outermost middleware: request metrics and log ids
    add_dashboard(app)
    return app
