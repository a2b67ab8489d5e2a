"""The library's errors: ``PernodeError`` and the two kinds of it that end a started run.

Messages speak of the library's own terms: argument names in backticks (`rate`), config
keys (`fixed.lr`) and file names. The command layer words a backticked argument name as
the command's option of that name, where it has one.
"""


class PernodeError(Exception):
    """Bad input or an unusable file: the message says what is wrong and how to fix it."""

    exit_code = 2  # bad input: nothing was started


class RunFailed(PernodeError):
    """A run that started could not go on (the log's disk is full, say); its log is intact."""

    exit_code = 1


class Interrupted(PernodeError):
    """Ctrl-C or SIGTERM: the message says what is saved and how to resume."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code
