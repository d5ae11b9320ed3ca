"""Studies: experiment pipelines that compare parts of the system (not needed to play or train)."""
