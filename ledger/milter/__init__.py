"""The two milters (pymilter) and how to run them."""
