"""`python -m axilla.preprocess`: the `preprocess` rule's command (see `cli.main`)."""

from .cli import main

if __name__ == "__main__":
    main()
