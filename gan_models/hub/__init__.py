"""The Hub side: where each tab's weights come from (weights_source.py), publishing a model (publish.py),
the Space manifest and deploy (space.py), converting earlier folders (convert.py)."""
