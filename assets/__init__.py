"""Asset definitions, one module per stage, in data-flow order."""

import warnings

from dagster import BetaWarning, PreviewWarning

# Partitioned asset checks (new in 1.13) are how a check result is tied to the day it judged,
# and a content hash as data version is how the UI tells a changed day from a re-run: both are
# deliberate choices, so their preview/beta notices are silenced here, once.
warnings.filterwarnings("ignore", message=".*partitions_def.*", category=PreviewWarning)
warnings.filterwarnings("ignore", message=".*data_version.*", category=BetaWarning)
