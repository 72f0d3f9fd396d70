"""The `seawall` command."""

from __future__ import annotations

import click

from seawall import __version__
from seawall.cli.migrate import migrate
from seawall.cli.scanner import scanner
from seawall.cli.serve import serve
from seawall.cli.vulndb import vulndb


@click.group()
@click.version_option(__version__, prog_name="seawall")
def cli() -> None:
    """Seawall: a secure OCI container registry with a Harbor-compatible API."""


cli.add_command(serve)
cli.add_command(migrate)
cli.add_command(vulndb)
cli.add_command(scanner)


def main() -> None:
    cli()
