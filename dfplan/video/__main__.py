import sys

from dfplan.video.cli import main

sys.exit(main())
