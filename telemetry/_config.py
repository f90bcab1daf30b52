"""Where spans go and what they may hold: one ``TraceConfig``, parsed from ``--trace`` specs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Exporter = Literal["none", "console", "otlp", "jsonl"]


class TraceConfig(BaseModel):
    """How a run is traced.

    ``exporter`` is ``none`` (spans are not recorded at all), ``console`` (printed as they end),
    ``otlp`` (OTLP over HTTP; ``endpoint`` or the standard ``OTEL_EXPORTER_OTLP_*`` variables say
    where; the spec ``phoenix:URL`` is OTLP to a Phoenix server, see ``phoenix``) or ``jsonl``
    (one span per line in ``path``, no server needed).

    Example:
        >>> TraceConfig.parse("jsonl:runs/traces.jsonl").path
        PosixPath('runs/traces.jsonl')
    """

    model_config = ConfigDict(frozen=True)

    exporter: Exporter = "none"
    path: Path | None = None
    #: OTLP/HTTP base URL (``/v1/traces`` and ``/v1/metrics`` are appended); None: the
    #: ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` variables, else
    #: ``http://localhost:4318``.
    endpoint: str | None = None
    #: Post each sample's score to Phoenix as a span annotation when the run ends: None asks the
    #: OTLP endpoint whether it is Phoenix (``GET /arize_phoenix_version``), True always, False never.
    phoenix: bool | None = None
    #: ``service.name``; None: ``OTEL_SERVICE_NAME``, else "skillgap".
    service_name: str | None = None
    #: The Phoenix project (resource attribute ``openinference.project.name``); None:
    #: ``PHOENIX_PROJECT_NAME``, else "skillgap".
    project_name: str | None = None
    #: Images in spans are ``data:`` URIs cut to this many characters (small images stay whole).
    image_max_chars: int = Field(default=16_384, ge=0)
    #: Replace every image in spans with a placeholder (nothing of the pixels leaves the process).
    redact_images: bool = False
    #: GenAI client metrics (token usage, operation duration) next to the spans.
    metrics: bool = True
    #: One OTLP request's limit; after a failed export, batches are dropped for ``retry_after_s``.
    #: Generous because a live receiver on a busy machine (Phoenix taking a batch of spans with
    #: images) can need seconds, and a dropped batch loses samples; a refused connection fails at
    #: once, so only a receiver that never answers costs this long.
    export_timeout_s: float = Field(default=10.0, gt=0)
    retry_after_s: float = Field(default=30.0, ge=0)
    #: How long shutdown may wait for queued spans to leave.
    flush_timeout_s: float = Field(default=15.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> TraceConfig:
        if self.exporter == "jsonl" and self.path is None:
            raise ValueError("the jsonl trace exporter needs a path (jsonl:PATH)")
        return self

    @classmethod
    def parse(cls, spec: str | None, **settings: Any) -> TraceConfig:
        """Build a config from a ``--trace`` spec: ``none``, ``console``, ``otlp``,
        ``otlp:URL``, ``phoenix`` (``http://127.0.0.1:6006``), ``phoenix:URL`` or ``jsonl:PATH``;
        ``settings`` fill the other fields."""
        spec = (spec or "none").strip()
        kind, _, rest = spec.partition(":")
        if kind == "none" and not rest:
            return cls(exporter="none", **settings)
        if kind == "console" and not rest:
            return cls(exporter="console", **settings)
        if kind == "otlp":
            return cls(exporter="otlp", endpoint=rest or None, **settings)
        if kind == "phoenix":
            return cls(exporter="otlp", endpoint=rest or "http://127.0.0.1:6006", phoenix=True,
                       **settings)
        if kind == "jsonl" and rest:
            return cls(exporter="jsonl", path=Path(rest).expanduser(), **settings)
        raise ValueError(
            f"unknown trace target {spec!r}; use none, console, otlp, otlp:URL, phoenix, "
            "phoenix:URL or jsonl:PATH"
        )

    def target(self) -> str:
        """Where spans go, in words (for messages)."""
        if self.exporter == "jsonl":
            return f"jsonl:{self.path}"
        if self.exporter == "otlp" and self.phoenix and self.endpoint:
            return f"phoenix:{self.endpoint}"
        if self.exporter == "otlp":
            return f"otlp:{self.endpoint or 'OTEL_EXPORTER_OTLP_* / localhost:4318'}"
        return self.exporter
