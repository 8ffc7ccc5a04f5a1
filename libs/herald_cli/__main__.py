import sys

from herald_cli.main import main

sys.exit(main())
