from django.db import models


class PartyType(models.TextChoices):
    INDIVIDUAL = "individual", "Individual"
    BUSINESS = "business", "Business"


class KycTier(models.TextChoices):
    NONE = "none", "None"
    BASIC = "basic", "Basic"
    FULL = "full", "Full"


class RiskRating(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class DocumentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    VERIFIED = "verified", "Verified"
    REJECTED = "rejected", "Rejected"


class Decision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REVIEW = "review", "Review"
    BLOCK = "block", "Block"


class RuleKind(models.TextChoices):
    AMOUNT_THRESHOLD = "amount_threshold", "Amount threshold"
    VELOCITY = "velocity", "Velocity (count and sum per window)"
    STRUCTURING = "structuring", "Structuring under a reporting threshold"
    NEW_COUNTERPARTY_LARGE = "new_counterparty_large", "New counterparty with a large amount"
    COUNTRY_RISK = "country_risk", "High-risk country or corridor"
    AMOUNT_DEVIATION = "amount_deviation", "Deviation from the relationship's usual amount"
    DORMANT_REACTIVATION = "dormant_reactivation", "Dormant account reactivation"
    RAPID_IN_OUT = "rapid_in_out", "Rapid in-and-out"


class RuleMode(models.TextChoices):
    ENFORCE = "enforce", "Enforce"
    SHADOW = "shadow", "Shadow (log only)"
    OFF = "off", "Off"


class RuleAction(models.TextChoices):
    SCORE = "score", "Add score"
    REVIEW = "review", "Send to review"
    BLOCK = "block", "Block"


class SanctionsSource(models.TextChoices):
    OFAC = "ofac", "OFAC SDN"
    EU = "eu", "EU consolidated list"
    UN = "un", "UN consolidated list"


class SanctionsFormat(models.TextChoices):
    OFAC_CSV = "ofac-csv", "OFAC SDN legacy CSV (sdn.csv, alt.csv, add.csv)"
    OFAC_XML = "ofac-xml", "OFAC SDN XML"
    EU_XML = "eu-xml", "EU consolidated list XML"
    UN_XML = "un-xml", "UN consolidated list XML"


class CaseStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_REVIEW = "in_review", "In review"
    AWAITING_SECOND = "awaiting_second", "Awaiting second approval"
    INFO_REQUESTED = "info_requested", "Information requested"
    ESCALATED = "escalated", "Escalated"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


OPEN_CASE_STATUSES = (
    CaseStatus.OPEN,
    CaseStatus.IN_REVIEW,
    CaseStatus.AWAITING_SECOND,
    CaseStatus.INFO_REQUESTED,
    CaseStatus.ESCALATED,
)


class CaseKind(models.TextChoices):
    PAYMENT = "payment", "Flagged payment"
    RESCREEN = "rescreen", "Counterparty re-screening hit"
