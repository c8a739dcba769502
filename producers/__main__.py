import sys

from producers.main import main

sys.exit(main())
