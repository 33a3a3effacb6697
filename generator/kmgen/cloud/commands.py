"""Cloud-mode subcommands of the kmgen CLI (send, explain, tapstream-alias)."""


def register(commands, settings_args):
    """Add the cloud subcommands to the ``kmgen`` argument parser.

    Args:
        commands: the argparse subparsers object of ``kmgen``.
        settings_args: adds --config/--settings/--api-key to a subparser.
    """
