"""Users of the API and their tokens."""
