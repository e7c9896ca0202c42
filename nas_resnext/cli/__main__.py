import sys

from nas_resnext.cli import main

sys.exit(main())
