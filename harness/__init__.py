"""mailhops: a test harness for mail forwarding chains."""
