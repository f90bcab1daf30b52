"""``skillgap serve``: a local backend behind an OpenAI-compatible HTTP API."""

from __future__ import annotations

import argparse
import os


def _serve(args: argparse.Namespace) -> int:
    from ..backends import load_backend
    from ..serve._server import API_KEY_ENV, base_url, bind, create_app, is_loopback, run_server

    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    if api_key is None and not is_loopback(args.host) and not args.insecure:
        raise ValueError(
            f"refusing to serve on {args.host} without an API key: anyone who can reach it could use "
            f"the model. Pass --api-key KEY (or set {API_KEY_ENV}), bind 127.0.0.1, or pass --insecure"
        )
    options: dict[str, object] = {"max_batch_size": args.batch_size}
    if args.backend == "transformers":
        if args.device:
            options["device"] = args.device
        if args.context_length:
            options["context_length"] = args.context_length
    backend = load_backend(args.backend, args.model, **options)
    load = getattr(backend, "load", None)
    if callable(load):
        load()  # a model that cannot load fails here, not on the first request
    name = args.served_model_name or args.model or ("skillgap-tiny" if args.backend == "transformers"
                                                    else args.backend)
    app = create_app(backend, name, max_image_bytes=int(args.max_image_mb * 2**20),
                     max_body_bytes=int(args.max_body_mb * 2**20), max_pending=args.max_pending,
                     request_timeout_s=args.request_timeout, api_key=api_key)
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        raise ValueError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    # The key is never printed: only whether one is required.
    auth = "API key required" if api_key else "no API key"
    print(f"skillgap serve: {name} ({args.backend}) at {base_url(sock)} ({auth})", flush=True)
    try:
        run_server(app, sock, log_level=args.log_level, access_log=args.log_level in ("debug", "info"))
    finally:
        sock.close()
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from ..serve._server import MAX_PENDING, REQUEST_TIMEOUT_S

    sv = sub.add_parser(
        "serve", help="serve a local model through an OpenAI-compatible HTTP API",
        description="Serve a local model (default: the embedded tiny model) at /v1/chat/completions "
                    "and /v1/models; concurrent requests share the same dynamic batching as "
                    "in-process runs. Evaluate it with: skillgap eval --backend openai --base-url URL",
    )
    sv.add_argument("--model", default=None,
                    help="hub id or local folder (default: the embedded tiny model)")
    sv.add_argument("--backend", default="transformers", choices=["transformers", "mock"])
    sv.add_argument("--host", default="127.0.0.1",
                    help="address to bind; anything but loopback needs --api-key or --insecure")
    sv.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed)")
    sv.add_argument("--served-model-name", default=None,
                    help="the name clients ask for (default: --model, or skillgap-tiny)")
    sv.add_argument("--api-key", default=None, metavar="KEY",
                    help="require 'Authorization: Bearer KEY' on every route but /health "
                         "(default: $SKILLGAP_SERVE_API_KEY)")
    sv.add_argument("--insecure", action="store_true",
                    help="allow a non-loopback --host without an API key")
    sv.add_argument("--batch-size", type=int, default=32, help="most requests in one model call")
    sv.add_argument("--device", default=None)
    sv.add_argument("--context-length", type=int, default=None,
                    help="the model's context window in tokens (default: from its config)")
    sv.add_argument("--max-image-mb", type=float, default=20.0, help="largest accepted image")
    sv.add_argument("--max-body-mb", type=float, default=32.0,
                    help="largest accepted request body (413 above)")
    sv.add_argument("--max-pending", type=int, default=MAX_PENDING,
                    help="requests admitted at once; more are answered 429 with Retry-After")
    sv.add_argument("--request-timeout", type=float, default=REQUEST_TIMEOUT_S, metavar="SECONDS",
                    help="deadline of one request, queueing included (504 after it)")
    sv.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    sv.set_defaults(func=_serve)
