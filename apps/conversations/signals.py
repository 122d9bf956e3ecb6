"""Signal receivers of the conversations app (connected in ``ConversationsConfig.ready``).

Any change of a ``PlatformAccount`` drops the cached webhook-verification lookups
(``selectors.platform_account_cache_invalidate``): a service, the admin or any ``save()`` /
``delete()`` (post_save / post_delete, cascades included). Code that writes accounts with
``QuerySet.update()`` must call the invalidation itself.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save

from apps.conversations import selectors
from apps.conversations.models import PlatformAccount


def platform_account_changed(sender: Any, **kwargs: Any) -> None:
    selectors.platform_account_cache_invalidate()


def signals_connect() -> None:
    post_save.connect(platform_account_changed, sender=PlatformAccount, dispatch_uid="conv_account_saved")
    post_delete.connect(platform_account_changed, sender=PlatformAccount, dispatch_uid="conv_account_deleted")
