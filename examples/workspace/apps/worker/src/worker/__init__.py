"""The example workspace's background worker."""
