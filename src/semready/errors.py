"""User-facing errors.

Every problem a user can cause (a missing file, a bad config value, a wrong shape, ...) is raised as a
:class:`SemreadyError` whose message is one line naming the problem and the fix. The CLI prints that line
and exits with code 2; only ``--debug`` shows a traceback.
"""


class SemreadyError(Exception):
    """A problem with the user's input: the message names the problem and how to fix it."""
