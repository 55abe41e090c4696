"""Where recordings come from and exports go: folders, S3 prefixes, manifests; object keys
made into safe relative paths. Shared by the scheduler and the workers."""
