"""What syncs do with provider data: the synced tables, upserts, cursors and summaries."""
