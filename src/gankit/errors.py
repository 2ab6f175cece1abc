"""The one exception type gankit raises for problems a person can fix."""

from __future__ import annotations


class GankitError(Exception):
    """A problem with the user's input, data, config or files.

    The message is one line that names the problem and the fix; the CLI prints it without a
    traceback and exits with code 2.
    """

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} — {fix}" if fix else problem)


def did_you_mean(name: str, choices: list[str]) -> str:
    """'did you mean X?' hint for an unknown name, or the list of choices."""
    import difflib

    close = difflib.get_close_matches(name, choices, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"{hint}choose one of: {', '.join(sorted(choices))}"
