"""Reply suggestions: a generative workflow (retrieval, ranking, generation, validation)."""
