"""``python -m supportlab.cli``: the same as the ``supportlab`` command."""

from supportlab.cli import main

main()
