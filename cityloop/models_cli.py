"""``cityloop models list`` and ``cityloop models pull NAME``: detector and CLIP weights."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from cityloop.settings import Settings

MODELS_DIR_ENV = "CITYLOOP_MODELS_DIR"


def models_dir() -> Path:
    """Where the weights live: ``$CITYLOOP_MODELS_DIR`` or ``~/.cache/cityloop/models``."""
    from perception.weights import DEFAULT_MODELS_DIR

    return Path(os.environ.get(MODELS_DIR_ENV) or DEFAULT_MODELS_DIR).expanduser()


def cmd_list(args: argparse.Namespace, _: Settings) -> int:
    from perception.weights import REGISTRY, missing_files

    root = Path(args.dir).expanduser() if args.dir else models_dir()
    print(f"models directory: {root}")
    width = max(len(name) for name in REGISTRY)
    for name, entry in REGISTRY.items():
        missing = missing_files(name, root)
        state = (
            "present"
            if not missing
            else f"missing {missing[0]}" + (f" (+{len(missing) - 1} more)" if len(missing) > 1 else "")
        )
        print(f"  {name:<{width}}  {entry.backend:<16} {state}")
    return 0


def cmd_pull(args: argparse.Namespace, _: Settings) -> int:
    from perception.weights import PullFailed, pull

    root = Path(args.dir).expanduser() if args.dir else models_dir()
    try:
        files = pull(args.name, root)
    except (PullFailed, ValueError) as exc:
        print(f"cityloop models pull: {exc}", file=sys.stderr)
        return 1
    print(f"{args.name}: {len(files)} files in {root / args.name}")
    return 0


def add_parsers(sub: Any) -> None:
    """Register ``models list`` and ``models pull`` on the top-level subparsers."""
    models = sub.add_parser("models", help="detector and CLIP weights (list, pull)")
    actions = models.add_subparsers(dest="models_command", required=True)
    listing = actions.add_parser("list", help="each known model and whether its files are present")
    listing.add_argument(
        "--dir", help=f"models directory (default ${MODELS_DIR_ENV} or ~/.cache/cityloop/models)"
    )
    listing.set_defaults(handler=cmd_list)
    fetch = actions.add_parser("pull", help="download a model's files from the Hugging Face hub")
    fetch.add_argument("name", help="a name from `cityloop models list`")
    fetch.add_argument(
        "--dir", help=f"models directory (default ${MODELS_DIR_ENV} or ~/.cache/cityloop/models)"
    )
    fetch.set_defaults(handler=cmd_pull)
