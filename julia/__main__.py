import sys

from julia.cli import main

sys.exit(main())
