"""Stored face templates: the embedding classifier (`vectors`), set analysis (`vecsets`),
one reader per file format (`npy`, `hdf5vec`, `jsonvec`, `textvec`, `tables`) and the
pickle analyser (`pickles`), which walks opcodes and never unpickles."""
