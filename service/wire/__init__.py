"""Tensors on the wire: JSON, base64 and binary encodings (codec.py), the large byte buffers
bodies and decoded tensors live in (buffers.py), the JSON form of an index (index_form.py)."""
