"""Ray layer: shard actors, the directory, the batching client, hot-SKU isolation."""
