"""Subject search and breach triage on the scan engine.

- `faceaudit subject find`: is this person's face (one or more probe photos) stored anywhere?
  The probe's 128-d descriptor (dlib's ResNet, face_recognition's space) is computed in
  memory (probe.py), handed to the workers over the pool's pipe (spec.FaceSearch), compared
  there with every face found and every stored 128-d dlib vector (compare.py), and the
  distances come back in memory (spec.ItemFaces); search.py turns them into a
  SubjectResult (model.py) for the reporters.
- `faceaudit triage`: how many files, faces, stored templates and distinct people a store
  holds (triage.py), the people estimated by clustering the faces' descriptors in memory
  (clustering.py).

Nothing of a probe or of a scanned face's descriptor is ever written: no cache, report, log
or temporary file. Reports carry distances, confidences and locations only.
"""
