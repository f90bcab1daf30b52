"""``skillgap serve``: any local backend behind an OpenAI-compatible HTTP API."""

from ._process import ServeProcess, serve_process
from ._server import base_url, bind, create_app, run_server, serving

__all__ = ["ServeProcess", "base_url", "bind", "create_app", "run_server", "serve_process", "serving"]
