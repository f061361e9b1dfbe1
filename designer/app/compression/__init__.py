"""Results → Compress: compress the run on the Results page in its own process and compare its variants."""
