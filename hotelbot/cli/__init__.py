"""The command-line interface for hotel IT staff."""
