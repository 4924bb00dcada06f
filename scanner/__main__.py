"""`python -m scanner` runs the faceaudit command."""

from scanner.cli import main

if __name__ == "__main__":
    main()
