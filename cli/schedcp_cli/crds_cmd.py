"""`schedcp crds generate|print`: write or show the CRDs generated from the API models."""

from __future__ import annotations

import argparse
from pathlib import Path

from schedcp.api.crds import rendered_crds, write_crds

DEFAULT_DIR = Path("crds")


def _generate(args: argparse.Namespace) -> int:
    for path in write_crds(args.output):
        print(path)
    return 0


def _print(_: argparse.Namespace) -> int:
    print("---\n".join(rendered_crds().values()), end="")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    crds = subparsers.add_parser("crds", help="CustomResourceDefinitions generated from the models")
    actions = crds.add_subparsers(dest="action", required=True)
    generate = actions.add_parser("generate", help="write crds/*.yaml")
    generate.add_argument("-o", "--output", type=Path, default=DEFAULT_DIR)
    generate.set_defaults(func=_generate)
    actions.add_parser("print", help="print every CRD as one YAML stream").set_defaults(func=_print)
