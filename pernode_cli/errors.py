"""The one exception type the CLI turns into a red one-line message and exit code 2."""


class PernodeError(Exception):
    """Bad input or an unusable file: the message says what is wrong and how to fix it."""
