"""OpenTelemetry tracing of runs (exporters: console, OTLP, JSONL).

Empty so far: tracing arrives with its own issue. The folder exists so the layout shows the
architecture and the package list in ``pyproject.toml`` stays stable.
"""
