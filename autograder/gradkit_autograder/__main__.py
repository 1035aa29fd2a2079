"""``python -m gradkit_autograder <command>``: the autograder commands without the kit's CLI."""

import sys

from gradkit_autograder.cli import main

sys.exit(main())
