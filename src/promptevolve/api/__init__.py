"""The REST API (FastAPI): thin routers over the services, scoped API keys, problem+json errors.

``create_api()`` builds the app; ``promptevolve.server.app:create_app`` mounts it at ``/api/v1`` beside
the dashboard. See docs/api.md.
"""

from promptevolve.api.app import create_api
from promptevolve.api.services import ApiSettings, Services

__all__ = ["ApiSettings", "Services", "create_api"]
