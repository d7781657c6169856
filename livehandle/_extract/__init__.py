"""Turn extractors: structured values drawn from the conversation at turn boundaries.

The layer sits above tools (an LLM extractor derives its schema with the tools' schema generator)
and below configuration (``LiveConfig(extractors=...)`` holds them); the runtime runs them in the
turn pipeline.
"""
