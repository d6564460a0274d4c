"""``python -m textclf``."""

from textclf.cli import main

if __name__ == "__main__":
    main()
