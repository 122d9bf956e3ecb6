import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentpay.settings.local")
application = get_wsgi_application()

# What is loaded by now (modules, settings, URL patterns, the rail catalogue code) lives as long
# as the process: move it out of the collector's sight so each collection only scans what
# requests allocate.
gc.collect()
gc.freeze()
