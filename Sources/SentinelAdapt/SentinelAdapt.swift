// Adaptation pipeline.
