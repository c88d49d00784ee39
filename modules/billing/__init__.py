"""billing — being built (see its issue)."""
