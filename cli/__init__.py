"""The ``labelclean`` command line: thin typer commands over the library."""
