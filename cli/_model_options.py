"""Options of the transformers backend shared by ``skillgap eval`` and ``skillgap check-model``."""

from __future__ import annotations

import argparse
from typing import Any


def add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("transformers backend (GPU placement and image sizes)")
    group.add_argument("--dtype", default=None, choices=["auto", "bf16", "fp16", "fp32"],
                       help="weight dtype (default auto: bf16 on CUDA, fp32 on CPU)")
    group.add_argument("--device-map", default=None, metavar="MAP",
                       help="'auto' spreads a model larger than one GPU over every GPU")
    group.add_argument("--attn-implementation", default=None,
                       choices=["eager", "sdpa", "flash_attention_2"],
                       help="attention kernel (flash_attention_2 needs the flash-attn package)")
    group.add_argument("--min-pixels", type=int, default=None, metavar="N",
                       help="smallest image area after resizing (Qwen2.5-VL/Qwen3-VL only)")
    group.add_argument("--max-pixels", type=int, default=None, metavar="N",
                       help="largest image area after resizing (Qwen2.5-VL/Qwen3-VL only)")
    group.add_argument("--allow-download", action="store_true",
                       help="let transformers fetch a hub model that is not in the local cache "
                            "(default: use the cache only, and fail at once when it is missing)")


def model_options(args: argparse.Namespace) -> dict[str, Any]:
    """The transformers backend's keyword arguments for the options given on the command line."""
    names = {"dtype": "dtype", "device_map": "device_map",
             "attn_implementation": "attn_implementation", "min_pixels": "min_pixels",
             "max_pixels": "max_pixels"}
    options = {key: getattr(args, attr) for attr, key in names.items()
               if getattr(args, attr, None) is not None}
    if getattr(args, "allow_download", False):
        options["local_files_only"] = False
    return options
