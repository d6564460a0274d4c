"""The one exception type for mistakes a user can make (bad files, columns, arguments)."""


class TextclfError(Exception):
    """A problem with the user's input, reported as one clear line without a traceback by the CLI."""
