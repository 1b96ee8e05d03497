"""The ``workbench`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _list_environments(_: argparse.Namespace) -> int:
    from environments import ENVIRONMENTS

    width = max(len(info.id) for info in ENVIRONMENTS)
    for info in ENVIRONMENTS:
        print(f"{info.id:<{width}}  {info.description}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from workbench.app import serve

    serve(host=args.host, port=args.port, show=args.show)
    return 0


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be an integer, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be in 0..65535, got {port}")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="RL Workbench: train, watch and analyse reinforcement learning agents.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    envs = commands.add_parser("envs", help="list the registered environments, one per line")
    envs.set_defaults(handler=_list_environments)

    serve = commands.add_parser("serve", help="serve the dashboard in a browser")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=5006, help="port to bind (default: 5006)")
    serve.add_argument("--show", action="store_true", help="open a browser tab")
    serve.set_defaults(handler=_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
