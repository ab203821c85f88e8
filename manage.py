#!/usr/bin/env python
"""Django's command-line utility for Podium."""

import os
import sys
from pathlib import Path


def main():
    # platform/ is a source root, not a package (it would shadow the stdlib module).
    sys.path.insert(0, str(Path(__file__).resolve().parent / "platform"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "podium.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
