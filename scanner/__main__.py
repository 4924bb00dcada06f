"""`python -m scanner` runs the faceaudit command."""

from scanner.launcher import main

if __name__ == "__main__":
    main()
