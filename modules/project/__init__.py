"""project — being built (see its issue)."""
