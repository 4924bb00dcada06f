"""Faces in pixels and metadata: decoding within bounds (`imaging`), relative geometry
(`geometry`), XMP face regions and person tags (`xmp`), and the model loaders (`yunet`,
`dlib_faces`)."""
