"""The `finops` commands: parse the arguments, call ingest/, the queries or the report, print.
Imports models/, ingest/, dashboard.queries and dashboard.report; never Streamlit.
"""


def main(argv: list[str] | None = None) -> int:
    """The `finops` console script (the command tree is imported only when it runs)."""
    from dashboard.cli.finops import main as run

    return run(argv)
