"""Entry point of the `msgm-studio` command: the studio without arguments or with a file to open, the headless
CLI with a command."""

from __future__ import annotations

import sys
from pathlib import Path

# Files the studio opens when given as the only argument: `msgm-studio model.safetensors`.
STUDIO_SUFFIXES = (".safetensors", ".msgmproj")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    opens_file = len(argv) == 1 and Path(argv[0]).suffix.lower() in STUDIO_SUFFIXES
    if not argv or opens_file:
        from msgm_studio.app import run_studio

        if opens_file and not Path(argv[0]).is_file():
            print(f"msgm-studio: error: {argv[0]} not found; give the path of a checkpoint or project file",
                  file=sys.stderr)
            return 2
        return run_studio(path=Path(argv[0]) if opens_file else None)
    from engine.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
