"""`schedcp crds generate|print`: write or show the CRDs generated from the API models.

`generate` also refreshes the Helm chart's generated copies (its `crds/` and the built-in
SchedulerTemplates), so the chart can never ship CRDs other than the root `crds/`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from schedcp.api.crds import rendered_crds, write_crds
from schedcp_cli.chart_files import write_chart_files

DEFAULT_DIR = Path("crds")
DEFAULT_CHART = Path("charts") / "schedcp"


def _generate(args: argparse.Namespace) -> int:
    for path in write_crds(args.output):
        print(path)
    if args.chart is not None:
        for path in write_chart_files(args.chart):
            print(path)
    return 0


def _print(_: argparse.Namespace) -> int:
    print("---\n".join(rendered_crds().values()), end="")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    crds = subparsers.add_parser("crds", help="CustomResourceDefinitions generated from the models")
    actions = crds.add_subparsers(dest="action", required=True)
    generate = actions.add_parser("generate", help="write crds/*.yaml and the chart's generated files")
    generate.add_argument("-o", "--output", type=Path, default=DEFAULT_DIR)
    generate.add_argument("--chart", type=Path, default=DEFAULT_CHART,
                          help="the Helm chart whose crds/ and files/schedulertemplates/ to refresh")
    generate.add_argument("--no-chart", dest="chart", action="store_const", const=None,
                          help="write only the CRDs")
    generate.set_defaults(func=_generate)
    actions.add_parser("print", help="print every CRD as one YAML stream").set_defaults(func=_print)
