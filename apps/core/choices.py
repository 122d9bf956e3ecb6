from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    FINANCE = "finance", "Finance"
    COMPLIANCE_REVIEWER = "compliance_reviewer", "Compliance reviewer"
    DEVELOPER = "developer", "Developer"


class ApiKeyScope(models.TextChoices):
    READ = "read", "Read"
    PAYMENTS_WRITE = "payments:write", "Create payments"
    INTENT = "intent", "Analyse messages"
    CONVERSATIONS = "conversations", "Conversations and streams"
    ADMIN = "admin", "Everything"
