"""``python -m ledger`` runs the ``sender-ledger`` command line."""

import sys

from ledger.cli import main

sys.exit(main())
