"""The HTTP service: FastAPI app (app.py), admission control, capped bodies, metrics, gunicorn launcher."""

from .config import ServerConfig

__all__ = ["ServerConfig", "create_app"]


def create_app(config: ServerConfig | None = None):
    from .app import create_app as _create  # imports FastAPI only when a server is wanted

    return _create(config)
