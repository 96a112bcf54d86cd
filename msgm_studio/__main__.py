"""Entry point of the `msgm-studio` command: the studio without arguments, the headless CLI with a command."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        from msgm_studio.app import run_studio

        return run_studio()
    from engine.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
