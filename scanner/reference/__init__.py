"""Reference data, a leaf: countries and subdivisions, social platforms, and the
fingerprints of applications that store faces. Tables and lookups only."""
