"""The one exception type of the library.

Messages speak of the library's own terms: argument names in backticks (`rate`), config
keys (`fixed.lr`) and file names. The command layer words a backticked argument name as
the command's option of that name, where it has one.
"""


class PernodeError(Exception):
    """Bad input or an unusable file: the message says what is wrong and how to fix it."""
