import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentpay.settings.local")
# Django's handler for every request, behind the platform webhooks' fast path (the three webhook
# POST/GET paths are answered without the handler and its middleware: apps/conversations/wsgi.py)
django_application = get_wsgi_application()

from apps.conversations.wsgi import WebhookFastPath  # noqa: E402 (needs the apps loaded above)

application = WebhookFastPath(django_application)

from agentpay.startup import web_process_ready  # noqa: E402

web_process_ready()
