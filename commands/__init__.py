"""natverk package."""
