"""`python -m app ...` runs the followup command."""

from app.cli import main

main()
