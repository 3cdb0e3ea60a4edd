"""The execution verifier: whether a scheduler, ours or an LLM's, may go near a node."""
