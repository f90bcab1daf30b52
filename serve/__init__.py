"""``skillgap serve``: any local backend behind an OpenAI-compatible HTTP API."""

from ._server import base_url, bind, create_app, run_server, serving

__all__ = ["base_url", "bind", "create_app", "run_server", "serving"]
