"""Pages served by the conversations app: the public web chat and the staff live feed."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from apps.conversations.consumers import webchat_default_org_slug
from apps.core.exceptions import error_body
from apps.core.models import Membership, Organization

# A PIX "copia e cola" payload is at most a few hundred bytes; anything longer is not one.
QR_MAX_LENGTH = 512


@require_GET
def webchat_page(request: HttpRequest, org_slug: str | None = None) -> HttpResponse:
    """``/chat/`` (organisation ``WEBCHAT_DEFAULT_ORG``) or ``/chat/<org_slug>/``."""
    slug = org_slug or webchat_default_org_slug()
    organization = Organization.objects.filter(slug=slug, is_active=True).first()
    if organization is None:
        raise Http404("No such organisation.")
    return render(
        request,
        "conversations/webchat.html",
        {"organization": organization, "language": organization.default_language or "en"},
    )


@require_GET
@cache_control(max_age=86400, public=True)
def webchat_qr_svg(request: HttpRequest) -> HttpResponse:
    """``/chat/qr.svg?data=<EMV>``: the QR of a PIX payload as SVG, for replies sent without an image."""
    data = request.GET.get("data", "")
    if not data or len(data) > QR_MAX_LENGTH:
        return JsonResponse(
            error_body(
                "invalid_qr_data",
                "The QR payload is invalid.",
                {"data": [f"Required, at most {QR_MAX_LENGTH} characters."]},
            ),
            status=400,
        )
    return HttpResponse(qr_svg(data), content_type="image/svg+xml")


def qr_svg(data: str) -> bytes:
    """A standalone SVG document (usable as an ``<img>``) of the QR code of ``data``."""
    import io

    import segno

    buffer = io.BytesIO()
    segno.make(data, error="m", micro=False).save(buffer, kind="svg", scale=4, border=2, xmldecl=False)
    return buffer.getvalue()


@require_GET
@login_required
def live_feed_page(request: HttpRequest) -> HttpResponse:
    """``/live/``: the organisation's stream for its staff (``?organization=<slug>``, ``?conversation=<id>``)."""
    memberships = list(
        Membership.objects.select_related("organization")
        .filter(user_id=str(request.user.pk), organization__is_active=True)
        .order_by("organization__name")
    )
    if not memberships:
        return render(
            request, "conversations/live.html", {"memberships": [], "organization": None}, status=403
        )
    wanted = request.GET.get("organization")
    chosen = next((m for m in memberships if wanted in (m.organization.slug, str(m.organization.pk))), None)
    organization = (chosen or memberships[0]).organization
    return render(
        request,
        "conversations/live.html",
        {
            "memberships": memberships,
            "organization": organization,
            "conversation_id": request.GET.get("conversation", ""),
        },
    )
