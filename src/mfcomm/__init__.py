"""mfcomm."""
