"""Command-line entry points, one module per command: argparse and a
``run()`` over the library; ``python -m models.pose`` imports only the
command it runs."""
