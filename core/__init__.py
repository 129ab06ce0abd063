"""What every layer needs and that needs nothing of ours."""
