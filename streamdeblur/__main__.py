import sys

from streamdeblur.cli import main

sys.exit(main())
