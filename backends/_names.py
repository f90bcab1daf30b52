"""How a model is named to people: in span names, report titles and plot labels."""

from __future__ import annotations

from pathlib import Path

#: Folder names that say nothing alone: a model in ``.../tiny/model`` is named ``tiny/model``.
_GENERIC_FOLDERS = frozenset({"model", "models", "weights", "checkpoint", "final", "best", "latest",
                              "snapshot", "hf", "merged"})


def model_name(model_id: str) -> str:
    """How a model is named in span names, report titles and plot labels: a hub id as is, a local
    folder by its last part (with its parent where the last part says nothing alone).

    Example:
        >>> model_name("/root/.cache/models/tiny-llava"), model_name("Qwen/Qwen2.5-VL-3B-Instruct")
        ('tiny-llava', 'Qwen/Qwen2.5-VL-3B-Instruct')
        >>> model_name("/site-packages/skillgap/tiny/model")
        'tiny/model'
    """
    path = Path(model_id.removeprefix("file://")).expanduser()
    if not (model_id.startswith(("/", "./", "../", "~", "file://")) or (
            model_id.count("/") != 1 and path.is_dir())):
        return model_id
    name = path.name or model_id
    if name.lower() in _GENERIC_FOLDERS or name.startswith("checkpoint-"):
        return f"{path.parent.name}/{name}"  # "tiny/model" says more than "model"
    return name


__all__ = ["model_name"]
