import sys

from tfmodels.cli import main

sys.exit(main())
