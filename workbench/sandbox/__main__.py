"""``python -m workbench.sandbox``: run the sandbox XNAT (a stand-in, not for real data)."""

from .server import main

raise SystemExit(main())
