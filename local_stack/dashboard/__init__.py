"""The local dashboard: QuickSight's stand-in over the local lake (docs/dashboards.md)."""
