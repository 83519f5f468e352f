"""Range-scan simulation, DEF-Sim style patch data sets (shards + manifest), ABC loading."""
