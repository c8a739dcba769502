"""`make bench`: runs each component's benchmark (kept beside the component) and reports ratios against
baselines measured in the same run. Targets are reported, never asserted: timings are not tests."""
