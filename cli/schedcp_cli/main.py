"""The `schedcp` command: one entry point whose subcommands live in their own modules."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Each module exposes register(subparsers); the parser it adds sets `func`.
COMMAND_MODULES = (
    "schedcp_cli.crds_cmd",
    "schedcp_cli.dev_cmd",
    "schedcp_cli.demo",
    "schedcp_cli.verify_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="schedcp", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
