"""notification — being built (see its issue)."""
