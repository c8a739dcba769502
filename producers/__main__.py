from producers import early_signals

early_signals.hold()  # before the imports that take a second: a stop while starting is kept, not fatal

import sys  # noqa: E402 - after the signals are held

from producers.main import main  # noqa: E402 - after the signals are held

sys.exit(main())
