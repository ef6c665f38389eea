"""The composition root: one ASGI app with the API at ``/api/v1`` and the dashboard at ``/dashboard``."""
