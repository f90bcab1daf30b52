"""``skillgap serve``: a local backend behind an OpenAI-compatible HTTP API."""

from __future__ import annotations

import argparse


def _serve(args: argparse.Namespace) -> int:
    from ..backends import load_backend
    from ..serve._server import base_url, bind, create_app, run_server

    options: dict[str, object] = {"max_batch_size": args.batch_size}
    if args.backend == "transformers" and args.device:
        options["device"] = args.device
    backend = load_backend(args.backend, args.model, **options)
    load = getattr(backend, "load", None)
    if callable(load):
        load()  # a model that cannot load fails here, not on the first request
    name = args.served_model_name or args.model or ("skillgap-tiny" if args.backend == "transformers"
                                                    else args.backend)
    app = create_app(backend, name, max_image_bytes=int(args.max_image_mb * 2**20))
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        raise ValueError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    print(f"skillgap serve: {name} ({args.backend}) at {base_url(sock)}", flush=True)
    try:
        run_server(app, sock, log_level=args.log_level, access_log=args.log_level in ("debug", "info"))
    finally:
        sock.close()
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sv = sub.add_parser(
        "serve", help="serve a local model through an OpenAI-compatible HTTP API",
        description="Serve a local model (default: the embedded tiny model) at /v1/chat/completions "
                    "and /v1/models; concurrent requests share the same dynamic batching as "
                    "in-process runs. Evaluate it with: skillgap eval --backend openai --base-url URL",
    )
    sv.add_argument("--model", default=None,
                    help="hub id or local folder (default: the embedded tiny model)")
    sv.add_argument("--backend", default="transformers", choices=["transformers", "mock"])
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed)")
    sv.add_argument("--served-model-name", default=None,
                    help="the name clients ask for (default: --model, or skillgap-tiny)")
    sv.add_argument("--batch-size", type=int, default=32, help="most requests in one model call")
    sv.add_argument("--device", default=None)
    sv.add_argument("--max-image-mb", type=float, default=20.0, help="largest accepted image")
    sv.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    sv.set_defaults(func=_serve)
