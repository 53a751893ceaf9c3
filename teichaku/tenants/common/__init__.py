"""Small domain helpers shared by tenant-local modules."""
