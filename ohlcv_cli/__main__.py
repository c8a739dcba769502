import sys

from ohlcv_cli.main import main

sys.exit(main())
