"""The example workspace's HTTP service."""
