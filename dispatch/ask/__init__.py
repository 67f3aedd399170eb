"""Ask the city: questions in plain words run as filters over the tickets a user may see,
semantic search and "show similar" over the incidents' embeddings (pgvector or numpy)."""
