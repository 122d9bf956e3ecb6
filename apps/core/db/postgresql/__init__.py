"""Django's PostgreSQL backend with ``timestamptz`` values read by psycopg's C loader (``base.py``)."""
