"""Errors that carry a message meant for the user: what is wrong and what to do."""


class UserError(Exception):
    """Bad input from the user (a file, an option, a forget set). The message is shown as it is."""
