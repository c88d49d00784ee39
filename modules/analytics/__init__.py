"""analytics — being built (see its issue)."""
