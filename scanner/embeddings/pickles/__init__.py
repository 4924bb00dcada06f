"""Pickles read as data, never executed: opcodes walked (`scan`), the imports they would
make judged (`imports`), their object graph rebuilt as inert values (`objects`) and searched
for vector sets (`search`)."""
