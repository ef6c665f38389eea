"""The `promptevolve` command line: thin Typer command groups over the library."""
