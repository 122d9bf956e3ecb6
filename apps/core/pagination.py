from rest_framework.pagination import CursorPagination


class CreatedAtCursorPagination(CursorPagination):
    """Cursor pagination (stable under inserts, O(1) per page) newest first."""

    ordering = ("-created_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 200
